"""The pure parts of the gate: ids, the decided-by header, revise depth, the events it emits.

Two ways to build the verdict of one proposal, with the same content:

* :func:`gate_output` builds the ``VerdictIssued`` model (validated by pydantic); used where a
  model is wanted (tests, tools).
* :func:`verdict_record` builds the plain dict that the codec's ``encode_record`` writes, equal to
  ``verdict_event(...).model_dump(mode="python")``: the gate's hot path encodes it directly and
  skips building and dumping a model per proposal (the Avro encoder still checks every field's
  type). The unit tests compare the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.events import (
    Decision,
    Proposal,
    ProposalSubmitted,
    ReviewRequested,
    VerdictIssued,
    new_envelope,
)

DECIDED_BY_HEADER = "flywheel-decided-by"
DECISION_NAMESPACE = uuid.UUID("5b0c7a52-3f0e-4c55-9a55-6f1d7e0b9a01")
REVIEW_NAMESPACE = uuid.UUID("0d6a3c1e-8a4b-4f7e-b1b7-2c4e9d8f5a02")
SHADOW_NAMESPACE = uuid.UUID("7e2b9c41-0a6d-4f3e-8c15-d94a2b6e0f03")
NO_DIGEST = "0" * 64


class Decider(Protocol):
    """What the gate needs from the enforcer."""

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict: ...


def decision_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The one decision id of a proposal, whoever decides it and however often."""
    return uuid.uuid5(DECISION_NAMESPACE, str(proposal_id))


def shadow_decision_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The decision id of the shadow verdict recorded beside a proposal's enforced verdict."""
    return uuid.uuid5(SHADOW_NAMESPACE, str(proposal_id))


def review_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The one review id of an escalated proposal."""
    return uuid.uuid5(REVIEW_NAMESPACE, str(proposal_id))


def decided_elsewhere(headers: Any) -> str | None:
    """The value of the ``flywheel-decided-by`` header, or None when the gate must decide."""
    if not headers:
        return None
    items: Any = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == DECIDED_BY_HEADER:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def child_depth(parent_depth: int | None, has_parent: bool) -> int:
    """Revise depth of a proposal: 0 without a parent, else the parent's depth + 1."""
    if not has_parent:
        return 0
    return (parent_depth or 0) + 1


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


def envelope_record(producer: str, key: str, trace_id: str) -> dict[str, Any]:
    """A fresh envelope as a plain dict, like ``new_envelope(...).model_dump()``."""
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC),
        "producer": producer,
        "trace_id": trace_id,
        "correlation_id": None,
        "key": key,
    }


def verdict_record(
    verdict: Verdict, proposal: Proposal, *, envelope: dict[str, Any]
) -> dict[str, Any]:
    """The ``VerdictIssued`` record of the gate's decision, as the codec's plain dict."""
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
        "envelope": envelope,
        "decision_id": (
            decision_id_for(proposal.proposal_id)
            if verdict.enforced
            else shadow_decision_id_for(proposal.proposal_id)
        ),
        "proposal_id": proposal.proposal_id,
        "proposer_id": proposal.proposer_id,
        "session_id": proposal.session_id,
        "tool": proposal.tool,
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
        "latency_us": verdict.latency_us,
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
    proposal_id: uuid.UUID = record["proposal_id"]
    reasons: tuple[str, ...] = record["reasons"]
    return ReviewRequested(
        envelope=new_envelope(producer, str(proposal_id), trace_id=envelope["trace_id"]),
        review_id=review_id_for(proposal_id),
        proposal_id=proposal_id,
        decision_id=record["decision_id"],
        reason="; ".join(reasons) or "escalated by the risk policy",
        deadline=envelope["occurred_at"] + timedelta(seconds=review_timeout_s),
    )
