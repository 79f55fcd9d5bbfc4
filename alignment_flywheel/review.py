"""Human review of escalated proposals: what is pending, and the reviewer's answer.

Rules:

* The reviews topic is the state. A review is *pending* when its ``ReviewRequested`` has no
  ``ReviewDecided`` with the same ``review_id``. The state is read fresh on every call, from the
  beginning of every partition up to the high watermark seen at the start, by a consumer that is
  assigned partitions directly and never commits (no consumer group state is left behind).
* Tool and proposer are not in ``ReviewRequested``; they are joined from the verdicts topic
  (``VerdictIssued`` with the same decision id), reading each verdicts partition only from the
  offset of the oldest pending request's time minus :data:`JOIN_MARGIN`, so the join stays cheap on
  a long topic. A verdict that is not found leaves tool and proposer empty.
* ``decide`` (``decide_many`` for several reviews, checked against one read of the state, all or
  nothing) publishes ``ReviewDecided`` (APPROVE or DENY, reviewer, a non-empty reason) keyed by
  the proposal id, like the request, so both land on one partition in order. An unknown review id,
  a review already decided, or an empty reason raise :class:`InvalidInputError` naming the problem.
* Expiry is state: a pending review whose ``deadline`` has passed is *expired*
  (:meth:`PendingReview.expired`). The agent that escalated stopped waiting at the deadline (and,
  failing closed, treated the call as denied), so a late answer would record a decision nobody
  acted on: ``decide`` refuses it with :class:`ReviewExpiredError`, naming the deadline. Expired
  reviews stay in :meth:`ReviewDesk.pending` (marked), so the queue shows what timed out.
  The decision carries the request's trace id and ``correlation_id`` (a verification review's is
  its finding id: that is how the verification worker finds the finding a person has judged).
  Two reviewers deciding the same review at the same instant can both publish; readers take the
  first ``ReviewDecided`` of a review id as the answer.
* Records on the reviews topic that do not decode are passed over with a warning (the gate's
  dead-letter policy covers producers; this is a read-only view).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import (
    Event,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.roles import topic_for

log = logging.getLogger(__name__)


class ReviewExpiredError(InvalidInputError):
    """The review's deadline has passed: the escalating agent no longer waits for an answer."""

    exit_code = 5
    """The CLI's exit code for it (docs/operations.md)."""


REVIEWS_TOPIC = topic_for("ReviewRequested")
VERDICTS_TOPIC = topic_for("VerdictIssued")
JOIN_MARGIN = timedelta(minutes=5)
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PendingReview:
    """An escalation waiting for a human, with what the verdict says about the call."""

    request: ReviewRequested
    tool: str | None = None
    proposer: str | None = None

    @property
    def review_id(self) -> uuid.UUID:
        return self.request.review_id

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - self.request.envelope.occurred_at

    def expired(self, now: datetime | None = None) -> bool:
        """True when the request's deadline has passed (never, without a deadline)."""
        return is_expired(self.request, now)


def is_expired(request: ReviewRequested, now: datetime | None = None) -> bool:
    """True when ``request`` has a deadline and it is at or before ``now``."""
    deadline = request.deadline
    return deadline is not None and deadline <= (now or datetime.now(UTC))


def expired_message(request: ReviewRequested) -> str:
    """The one-line refusal of a late answer to ``request``."""
    deadline = request.deadline
    when = "?" if deadline is None else deadline.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"review {request.review_id} expired at {when}: the agent stopped waiting and the call "
        "was denied; nothing was recorded"
    )


@dataclass(frozen=True)
class ReviewState:
    """Every request and decision on the reviews topic, in topic order per partition."""

    requests: Mapping[uuid.UUID, ReviewRequested]
    decisions: Mapping[uuid.UUID, ReviewDecided]

    def pending(self) -> list[ReviewRequested]:
        waiting = [r for rid, r in self.requests.items() if rid not in self.decisions]
        return sorted(waiting, key=lambda r: r.envelope.occurred_at)


def fold_reviews(events: Iterator[Event] | list[Event]) -> ReviewState:
    """The review state from events in topic order: the first decision of a review counts."""
    requests: dict[uuid.UUID, ReviewRequested] = {}
    decisions: dict[uuid.UUID, ReviewDecided] = {}
    for event in events:
        if isinstance(event, ReviewRequested):
            requests.setdefault(event.review_id, event)
        elif isinstance(event, ReviewDecided):
            decisions.setdefault(event.review_id, event)
    return ReviewState(requests=requests, decisions=decisions)


class ReviewDesk:
    """Reads the review state and publishes decisions, for the CLI or another front end."""

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec | None = None,
        *,
        reviews_topic: str = REVIEWS_TOPIC,
        verdicts_topic: str = VERDICTS_TOPIC,
    ) -> None:
        self._settings = settings
        self._codec = codec or EventCodec.from_settings(settings)
        self.reviews_topic = reviews_topic
        self.verdicts_topic = verdicts_topic

    def state(self) -> ReviewState:
        return fold_reviews(self._read(self.reviews_topic, since=None))

    def pending(self) -> list[PendingReview]:
        """Pending reviews, oldest first, joined with their verdicts."""
        waiting = self.state().pending()
        if not waiting:
            return []
        since = waiting[0].envelope.occurred_at - JOIN_MARGIN
        wanted = {r.decision_id for r in waiting}
        verdicts: dict[uuid.UUID, VerdictIssued] = {}
        for event in self._read(self.verdicts_topic, since=since):
            if isinstance(event, VerdictIssued) and event.decision_id in wanted:
                verdicts.setdefault(event.decision_id, event)
        return [_joined(r, verdicts.get(r.decision_id)) for r in waiting]

    def decide(
        self, review_id: uuid.UUID, outcome: ReviewOutcome, *, reviewer: str, reason: str
    ) -> ReviewDecided:
        """Publish the answer to a pending review; raises InvalidInputError if it is not pending."""
        (decided,) = self.decide_many([review_id], outcome, reviewer=reviewer, reason=reason)
        return decided

    def decide_many(
        self,
        review_ids: Sequence[uuid.UUID],
        outcome: ReviewOutcome,
        *,
        reviewer: str,
        reason: str,
    ) -> list[ReviewDecided]:
        """One answer for several pending reviews, checked against one read of the state; if any
        is not pending, InvalidInputError names it and nothing is published."""
        if not reason.strip():
            raise InvalidInputError("a review decision needs a reason (--reason)")
        state = self.state()
        decided = [
            self._decision(state, review_id, outcome, reviewer, reason.strip())
            for review_id in dict.fromkeys(review_ids)
        ]
        with EventProducer(self._settings, self._codec) as producer:
            for event in decided:
                producer.send(self.reviews_topic, event)
        return decided

    def _decision(
        self,
        state: ReviewState,
        review_id: uuid.UUID,
        outcome: ReviewOutcome,
        reviewer: str,
        reason: str,
    ) -> ReviewDecided:
        request = state.requests.get(review_id)
        if request is None:
            raise InvalidInputError(f"no review {review_id} on {self.reviews_topic}")
        earlier = state.decisions.get(review_id)
        if earlier is not None:
            raise InvalidInputError(
                f"review {review_id} was already decided: {earlier.outcome.value} by "
                f"{earlier.reviewer} at {earlier.envelope.occurred_at.isoformat()}"
            )
        if is_expired(request):
            raise ReviewExpiredError(expired_message(request))
        return ReviewDecided(
            envelope=new_envelope(
                self._settings.identity,
                str(request.proposal_id),
                trace_id=request.envelope.trace_id,
                correlation_id=request.envelope.correlation_id,
            ),
            review_id=review_id,
            proposal_id=request.proposal_id,
            outcome=outcome,
            reviewer=reviewer,
            reason=reason,
        )

    def _read(self, topic: str, *, since: datetime | None) -> Iterator[Event]:
        return read_topic(self._settings, self._codec, topic, since=since)


def _joined(request: ReviewRequested, verdict: VerdictIssued | None) -> PendingReview:
    if verdict is None:
        return PendingReview(request=request)
    return PendingReview(request=request, tool=verdict.tool, proposer=verdict.proposer_id)
