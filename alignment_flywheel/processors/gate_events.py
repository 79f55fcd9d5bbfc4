"""The pure parts of the gate: ids, the decided-by header, the events it emits,
where it sends them.

Two ways to build the verdict of one proposal, with the same content:

* :func:`gate_output` builds the ``VerdictIssued`` model (validated by pydantic); used where a
  model is wanted (tests, tools).
* :func:`verdict_record` builds the plain dict that the codec's ``encode_record`` writes, equal to
  ``verdict_event(...).model_dump(mode="python")``: the gate's hot path encodes it directly and
  skips building and dumping a model per proposal (the Avro encoder still checks every field's
  type). The unit tests compare the two. Given the proposal id as text (``key``), it writes the
  ids as canonical text (:func:`uuid5_text`, the same bytes once encoded), as the hot path does.

Every record the gate emits has an envelope derived from its input (:func:`envelope_record`):
the event id is ``uuid5`` of the proposal id and the kind of record
(:func:`~alignment_flywheel.events.ids.emitted_event_id`) and the time is the input record's, so a
record decided again after a crash carries the same event id and timestamps. :func:`uuid5_text`
derives such an id as text, equal to ``str(uuid.uuid5(namespace, name))`` (the namespace's SHA-1
state is computed once; ``uuid.UUID`` is never built): about a third of the time.

Where a verdict (and review request) goes (:class:`Placement`): to the partition with the number
of its proposal's partition when its topic has as many partitions as the proposals topic (so a
proposal and its verdict share a partition number, as the red-team worker's join needs), else to
the partition its session key hashes to (:mod:`alignment_flywheel.kafka.placement`), as the
SDK places it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.errors import CodecError
from alignment_flywheel.events import (
    Decision,
    Envelope,
    Proposal,
    ProposalSubmitted,
    ReviewRequested,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.events.ids import (
    DECISION_NAMESPACE,
    EMITTED_NAMESPACE,
    SHADOW_NAMESPACE,
    decision_id_for,
    emitted_event_id,
    review_id_for,
    shadow_decision_id_for,
)
from alignment_flywheel.kafka.placement import partition_for, session_key
from alignment_flywheel.oracle.provenance import SessionEvent
from alignment_flywheel.oracle.session_book import SESSION_EVENTS, session_model

NO_DIGEST = "0" * 64


@dataclass(frozen=True, slots=True)
class Placement:
    """The partition counts of the gate's topics, read once from the cluster's metadata."""

    proposals: int
    verdicts: int
    reviews: int

    def place(self, count: int, source: int, proposer_id: str, session_id: str) -> int:
        """The partition, among ``count``, of a record decided for a proposal read from
        partition ``source`` (see the module rules)."""
        if count == self.proposals:
            return source
        return partition_for(session_key(proposer_id, session_id), count)


@dataclass(frozen=True, slots=True)
class Route:
    """Where the records decided for one proposal go; each partition computed when asked."""

    placement: Placement
    source: int
    proposal: Proposal

    @property
    def verdicts(self) -> int:
        return self._place(self.placement.verdicts)

    @property
    def reviews(self) -> int:
        return self._place(self.placement.reviews)

    def _place(self, count: int) -> int:
        proposal = self.proposal
        return self.placement.place(count, self.source, proposal.proposer_id, proposal.session_id)


def decode_proposals_record(
    codec: EventCodec, raw: bytes
) -> tuple[dict[str, Any], Proposal] | SessionEvent:
    """The envelope (a dict) and the proposal (a model) of a ``ProposalSubmitted``, or the
    session event; CodecError for anything else the proposals topic must not carry."""
    try:
        event, record = codec.decode_record(raw)
        if event in SESSION_EVENTS:
            return session_model(codec.validate(event, record))
        if event != "ProposalSubmitted":
            raise CodecError(f"expected a ProposalSubmitted on the proposals topic, got {event}")
        submitted = codec.validate(event, record)
    except RecursionError:
        raise CodecError("the record is nested too deeply to decode") from None
    if not isinstance(submitted, ProposalSubmitted):
        raise CodecError(f"{event} did not validate as a ProposalSubmitted")
    return record["envelope"], submitted.proposal


@dataclass(frozen=True)
class GateOutput:
    """What the gate emits for one decided proposal."""

    verdict: VerdictIssued
    review: ReviewRequested | None


def gate_output(
    decider: Decider,
    submitted: ProposalSubmitted,
    *,
    depth: int,
    review_timeout_s: float,
    producer: str,
) -> GateOutput:
    """Decide one proposal and build its events as models (pure apart from decider and clock)."""
    proposal = submitted.proposal
    verdict = decider.decide(proposal, revision_depth=depth)
    event = verdict_event(
        verdict,
        proposal,
        producer=producer,
        decision_id=decision_id_for(proposal.proposal_id),
        trace_id=submitted.envelope.trace_id,
    )
    review = None
    if verdict.decision is Decision.ESCALATE:
        review = review_request(event, review_timeout_s=review_timeout_s, producer=producer)
    return GateOutput(verdict=event, review=review)


VERDICT_KIND, SHADOW_KIND, REVIEW_KIND = "verdict", "shadow-verdict", "review"


@lru_cache(maxsize=16)
def _sha1_of(namespace: uuid.UUID) -> Any:
    return hashlib.sha1(namespace.bytes, usedforsecurity=False)


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, computed without building a ``uuid.UUID``."""
    digest = _sha1_of(namespace).copy()
    digest.update(name.encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def envelope_record(
    producer: str,
    key: str,
    trace_id: str,
    *,
    kind: str = VERDICT_KIND,
    occurred_at: datetime | None = None,
    text_id: bool = False,
) -> dict[str, Any]:
    """The envelope of the record of ``kind`` emitted for the proposal ``key`` read at
    ``occurred_at`` (now when not given), as a plain dict like ``Envelope.model_dump()`` (with
    ``text_id``, its event id as text)."""
    return {
        "event_id": (
            uuid5_text(EMITTED_NAMESPACE, f"{kind}/{key}")
            if text_id
            else emitted_event_id(key, kind)
        ),
        "occurred_at": occurred_at or datetime.now(UTC),
        "producer": producer,
        "trace_id": trace_id,
        "correlation_id": None,
        "key": key,
    }


def verdict_record(
    verdict: Verdict, proposal: Proposal, *, envelope: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    """The ``VerdictIssued`` record of the gate's decision, as the codec's plain dict (with
    ``key``, the proposal id as text, its ids as text)."""
    return {
        **verdict_front(verdict, proposal, envelope=envelope, key=key),
        **verdict_judged(verdict),
        "latency_us": verdict.latency_us,
    }


def verdict_front(
    verdict: Verdict, proposal: Proposal, *, envelope: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    """The fields of a ``VerdictIssued`` record that name the proposal: from ``envelope`` to
    ``tool`` (see :func:`verdict_record`)."""
    if key is None:
        ids: tuple[Any, Any] = (
            decision_id_for(proposal.proposal_id)
            if verdict.enforced
            else shadow_decision_id_for(proposal.proposal_id),
            proposal.proposal_id,
        )
    else:
        ids = (uuid5_text(DECISION_NAMESPACE if verdict.enforced else SHADOW_NAMESPACE, key), key)
    return {
        "envelope": envelope,
        "decision_id": ids[0],
        "proposal_id": ids[1],
        "proposer_id": proposal.proposer_id,
        "session_id": proposal.session_id,
        "tool": proposal.tool,
    }


def verdict_judged(verdict: Verdict) -> dict[str, Any]:
    """The fields of a ``VerdictIssued`` record that the judgement gives, the same for every
    proposal judged alike: from ``decision`` to ``error``."""
    signal = verdict.signal
    evidence = (
        ()
        if signal is None
        else tuple(
            {"kind": s.kind, "rule_id": s.rule_id, "norm_refs": s.norm_refs, "message": s.message}
            for s in signal.evidence
        )
    )
    return {
        "decision": verdict.decision,
        "enforced": verdict.enforced,
        "stage": verdict.stage,
        "oracle_version": verdict.oracle_version,
        "oracle_digest": verdict.oracle_digest,
        "policy_version": verdict.policy_version,
        "tier": verdict.tier,
        "safety_score": 0.0 if signal is None else signal.safety_score,
        "uncertainty": 1.0 if signal is None else signal.uncertainty,
        "reasons": verdict.reasons,
        "evidence": evidence,
        "amendment": None if verdict.amendment is None else verdict.amendment.to_json(),
        "error": verdict.error,
    }


def review_request(
    verdict: VerdictIssued, *, review_timeout_s: float, producer: str
) -> ReviewRequested:
    """The review request for an escalated verdict; its ids and deadline follow from the verdict."""
    return ReviewRequested(
        envelope=new_envelope(
            producer, str(verdict.proposal_id), trace_id=verdict.envelope.trace_id
        ),
        review_id=review_id_for(verdict.proposal_id),
        proposal_id=verdict.proposal_id,
        decision_id=verdict.decision_id,
        reason="; ".join(verdict.reasons) or "escalated by the risk policy",
        deadline=verdict.envelope.occurred_at + timedelta(seconds=review_timeout_s),
    )


def escalation_review(
    record: dict[str, Any], *, review_timeout_s: float, producer: str
) -> ReviewRequested:
    """The review request for an escalated verdict record (see :func:`review_request`)."""
    envelope = record["envelope"]
    proposal_id = uuid.UUID(str(record["proposal_id"]))
    reasons: tuple[str, ...] = record["reasons"]
    key = str(proposal_id)
    derived = envelope_record(
        producer, key, envelope["trace_id"], kind=REVIEW_KIND, occurred_at=envelope["occurred_at"]
    )
    return ReviewRequested(
        envelope=Envelope.model_validate(derived),
        review_id=review_id_for(proposal_id),
        proposal_id=proposal_id,
        decision_id=uuid.UUID(str(record["decision_id"])),
        reason="; ".join(reasons) or "escalated by the risk policy",
        deadline=envelope["occurred_at"] + timedelta(seconds=review_timeout_s),
    )
