"""The Kafka records one in-process decision produces.

Every decision gives a ``ProposalSubmitted`` (to the proposals topic) and a ``VerdictIssued`` (to
the verdicts topic); an ESCALATE also gives a ``ReviewRequested`` (to the reviews topic). All are
keyed by the proposal id, share one trace id, and carry the header :data:`DECIDED_BY_HEADER`
naming where it was decided (``sdk`` by default, ``http`` for the HTTP endpoint): the gate must not
decide such a proposal again. A builder made with ``headers=()`` writes records without it (a
fire-and-forget proposal left to the gate). Session events (:mod:`.sessions`) go to the proposals
topic keyed by the session id, without the header: they are not decisions.

Placement: every one of these records (proposal, verdict, shadow verdict, review request, session
event) carries the session key (:func:`~alignment_flywheel.kafka.placement.session_key` of
its proposer and session) as ``partition_key``; the publisher puts it on the partition that key
hashes to, so a session's records share one partition number on every topic with as many
partitions. Other records (incidents, automatic review decisions) are left to the key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.sdk.journal import JournalRecord
from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.events import (
    Decision,
    Event,
    Proposal,
    ProposalSubmitted,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    new_envelope,
)
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.headers import DECIDED_BY_HEADER
from alignment_flywheel.kafka.placement import session_key, session_key_of

DECIDED_BY_SDK = b"sdk"
DECIDED_BY_HTTP = b"http"
Headers = tuple[tuple[str, bytes], ...]
HEADERS: Headers = ((DECIDED_BY_HEADER, DECIDED_BY_SDK),)


def decided_by(where: bytes) -> Headers:
    """The headers of records decided ``where`` (``sdk``, ``http``)."""
    return ((DECIDED_BY_HEADER, where),)


@dataclass(frozen=True, slots=True)
class SdkTopics:
    """Where the SDK publishes; by default the catalog's topics for each event type."""

    proposals: str
    verdicts: str
    reviews: str

    @classmethod
    def from_catalog(cls) -> SdkTopics:
        catalog = load_catalog()
        return cls(
            proposals=catalog.topic_for("ProposalSubmitted"),
            verdicts=catalog.topic_for("VerdictIssued"),
            reviews=catalog.topic_for("ReviewRequested"),
        )


class RecordBuilder:
    """Encodes the events of a decision into journal records."""

    def __init__(
        self, codec: EventCodec, topics: SdkTopics, producer: str, headers: Headers = HEADERS
    ) -> None:
        self._codec = codec
        self.topics = topics
        self._producer = producer
        self.headers = headers

    def record(
        self,
        topic: str,
        event: Event,
        headers: Headers | None = None,
        placed_by: bytes | None = None,
    ) -> JournalRecord:
        """One encoded record with the builder's headers (or ``headers``), placed by
        ``placed_by`` or else the event's own session key; raises CodecError (e.g.
        OversizedEventError)."""
        key = event.envelope.key.encode()
        chosen = self.headers if headers is None else headers
        placement = placed_by if placed_by is not None else session_key_of(event)
        return JournalRecord(topic, key, self._codec.encode(event), chosen, placement)

    def proposal(self, proposal: Proposal, trace_id: str) -> JournalRecord:
        envelope = new_envelope(self._producer, str(proposal.proposal_id), trace_id=trace_id)
        event = ProposalSubmitted(envelope=envelope, proposal=proposal)
        return self.record(self.topics.proposals, event)

    def verdict(
        self,
        verdict: Verdict,
        proposal: Proposal,
        trace_id: str,
        *,
        review_id: uuid.UUID,
        review_timeout_s: float,
        decision_id: uuid.UUID | None = None,
    ) -> list[JournalRecord]:
        """The VerdictIssued record and, for an ESCALATE, the ReviewRequested record."""
        decision_id = decision_id or uuid.uuid4()
        issued = verdict_event(
            verdict, proposal, producer=self._producer, decision_id=decision_id, trace_id=trace_id
        )
        records = [self.record(self.topics.verdicts, issued)]
        if verdict.decision is Decision.ESCALATE:
            requested = ReviewRequested(
                envelope=new_envelope(self._producer, str(proposal.proposal_id), trace_id=trace_id),
                review_id=review_id,
                proposal_id=proposal.proposal_id,
                decision_id=decision_id,
                reason="; ".join(verdict.reasons) or "escalated by the risk policy",
                deadline=datetime.now(UTC) + timedelta(seconds=review_timeout_s),
            )
            placed_by = session_key(proposal.proposer_id, proposal.session_id)
            records.append(self.record(self.topics.reviews, requested, placed_by=placed_by))
        return records

    def shadow(self, verdict: Verdict, proposal: Proposal, trace_id: str) -> JournalRecord:
        """A shadow verdict (recorded for the rollout's metrics, never acted on)."""
        issued = verdict_event(verdict, proposal, producer=self._producer, trace_id=trace_id)
        return self.record(self.topics.verdicts, issued)

    def automatic_review(
        self, proposal: Proposal, review_id: uuid.UUID, outcome: ReviewOutcome, reason: str
    ) -> JournalRecord:
        """A ReviewDecided the SDK records itself (a review that timed out)."""
        event = ReviewDecided(
            envelope=new_envelope(self._producer, str(proposal.proposal_id)),
            review_id=review_id,
            proposal_id=proposal.proposal_id,
            outcome=outcome,
            reviewer=self._producer,
            reason=reason,
            automatic=True,
        )
        return self.record(self.topics.reviews, event)
