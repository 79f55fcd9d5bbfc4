"""The verification processor: findings in, norms verdicts out (``governance.verification``).

Two agents in one app:

* **findings**: for each ``FindingRaised``, one ``VerificationRecorded`` to the verifications
  topic (keyed by the finding id) and, when the norms are inconclusive, a ``ReviewRequested`` to
  the reviews topic. A record that does not decode (oversized ones included), or is not a
  finding, is dead-lettered.
* **reviews**: a ``ReviewDecided`` that answers a verification review becomes that finding's
  ``VerificationRecorded`` (:func:`~alignment_flywheel.governance.verification.review_verification`,
  with this worker's norms version), published like the first. A record that does not decode, or
  is an event the reviews topic does not carry, is dead-lettered; every other event on the
  reviews topic (requests, answers to the gate's reviews, automatic decisions) is passed over.

Any other failure stops the worker. Every output is confirmed by the broker before the next record
is read, and all ids (event ids too) follow from the finding id or the review id, so a restart
re-emits the same events and loses none: a record is acknowledged, and its offset committed, only
after its outputs or its dead letter are confirmed (:func:`~.streams.handled`). The processor
keeps no state.

The per-record logic is a pure core (:mod:`~alignment_flywheel.governance.verification_core`,
where its restart rules are tested without a broker); the agents decode, step, and send what the
step emitted, each event to its topic, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import (
    FindingRaised,
    ReviewDecided,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.step import Stepped
from alignment_flywheel.governance.verification_core import VerificationCore, Verified
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    decoded,
    event_topic,
    expected_on,
    handled,
    raw_topic,
    send_confirmed,
)
from alignment_flywheel.roles import group_for, topic_for

DEFAULT_APP_ID = group_for("verify")


@dataclass(frozen=True)
class VerificationTopics:
    findings: str = topic_for("FindingRaised")
    verifications: str = topic_for("VerificationRecorded")
    reviews: str = topic_for("ReviewRequested")
    dead_letters: str = topic_for("DeadLettered")


class NotAFindingError(InvalidInputError):
    """A record on the findings topic that is not a FindingRaised."""


class Verification:
    """The verification app. Build with :func:`build_verification`."""

    def __init__(
        self,
        settings: Settings,
        norms: Norms,
        *,
        app_id: str,
        topics: VerificationTopics,
        **app_overrides: Any,
    ) -> None:
        self.topics = topics
        self.norms = norms
        self.counts: dict[VerificationOutcome, int] = {}
        self._producer = settings.identity
        self._core = VerificationCore(norms, settings.identity)
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id, **app_overrides)
        self._verifications = event_topic(self.app, topics.verifications, self._codec)
        self._reviews = event_topic(self.app, topics.reviews, self._codec)
        self._dead = DeadLetterWriter.on(
            self.app, topics.dead_letters, self._codec, producer=self._producer, group=app_id
        )
        agent(self.app, raw_topic(self.app, topics.findings), name="verification")(self._run)
        agent(self.app, raw_topic(self.app, topics.reviews), name="reviews")(self._on_reviews)

    async def _run(self, stream: Any) -> None:
        async for record in handled(stream):
            message = record.message
            if message.value is None:
                continue
            try:
                finding = self._finding(message.value)
            except InvalidInputError as exc:
                await self._dead.publish(message, exc)
                continue
            await self.handle(finding)

    async def _on_reviews(self, stream: Any) -> None:
        reviews = expected_on(topic_for("ReviewRequested"))
        async for event in decoded(stream, self._codec, self._dead, reviews):
            if isinstance(event, ReviewDecided):
                await self.handle_decision(event)

    def _finding(self, raw: bytes) -> FindingRaised:
        event = self._codec.decode(raw)
        if not isinstance(event, FindingRaised):
            raise NotAFindingError(f"expected a FindingRaised, got {event.event_type()}")
        return event

    async def handle(self, finding: FindingRaised) -> None:
        """Verify one finding and publish its events, each confirmed by the broker."""
        await self._send(self._core({}, finding))

    async def handle_decision(self, decided: ReviewDecided) -> None:
        """Publish the verification a person's review answer gives, if it answers one."""
        await self._send(self._core({}, decided))

    async def _send(self, stepped: Stepped[Verified]) -> None:
        """Send what a step emitted, in order, each to its topic; then count the outcomes."""
        for event in stepped.emitted:
            recorded = isinstance(event, VerificationRecorded)
            await send_confirmed(self._verifications if recorded else self._reviews, event)
        for event in stepped.emitted:
            if isinstance(event, VerificationRecorded):
                self._count(event.outcome)

    def _count(self, outcome: VerificationOutcome) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def build_verification(
    settings: Settings,
    norms: Norms,
    *,
    app_id: str = DEFAULT_APP_ID,
    topics: VerificationTopics | None = None,
    **app_overrides: Any,
) -> Verification:
    """A verification worker's app; ``app_overrides`` go to faust (tests shorten timeouts)."""
    return Verification(
        settings, norms, app_id=app_id, topics=topics or VerificationTopics(), **app_overrides
    )
