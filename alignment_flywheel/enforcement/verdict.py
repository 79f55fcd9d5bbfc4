"""A verdict: what the enforcement layer decided about one proposal, and why.

A :class:`Verdict` is built by the enforcer and turned into a ``VerdictIssued`` event by
:func:`verdict_event`, modelled on OPA's decision log: decision id, the oracle's version and digest
as the bundle revision, the input's ids, the result, the error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.events import (
    Decision,
    Evidence,
    Proposal,
    ReleaseStage,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.oracle import Amendment, OracleSignal


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on one proposal. ``signal`` is None when the oracle failed (fail-closed)."""

    decision: Decision
    tier: str
    reasons: tuple[str, ...]
    policy_version: str
    latency_us: int
    signal: OracleSignal | None = None
    amendment: Amendment | None = None
    error: str | None = None
    oracle_version: int = 0
    oracle_digest: str = "0" * 64
    stage: ReleaseStage = ReleaseStage.STABLE
    """The release stage of the oracle that decided (see ``enforcement/staged.py``)."""
    enforced: bool = True
    """False for a shadow verdict: recorded for comparison, never acted on."""

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


FAST_FIELDS = (
    "decision",
    "tier",
    "reasons",
    "policy_version",
    "latency_us",
    "signal",
    "amendment",
    "error",
    "oracle_version",
    "oracle_digest",
    "stage",
    "enforced",
)
"""The fields :func:`judged_verdict` sets: every field (a unit test holds them equal)."""
_SETTERS: list[Callable[[Verdict, Any], None]] = [vars(Verdict)[n].__set__ for n in FAST_FIELDS]
(
    _DECISION,
    _TIER,
    _REASONS,
    _POLICY,
    _LATENCY,
    _SIGNAL,
    _AMENDMENT,
    _ERROR,
    _VERSION,
    _DIGEST,
    _STAGE,
    _ENFORCED,
) = _SETTERS


def judged_verdict(
    decision: Decision,
    tier: str,
    reasons: tuple[str, ...],
    *,
    policy_version: str,
    latency_us: int,
    signal: OracleSignal,
    amendment: Amendment | None,
) -> Verdict:
    """``Verdict(...)`` of a judged signal (no error, stable, enforced), built in a third of the
    time the frozen dataclass's ``__init__`` takes (it runs once per decision): the same object,
    its slots set directly."""
    verdict: Verdict = object.__new__(Verdict)
    _DECISION(verdict, decision)
    _TIER(verdict, tier)
    _REASONS(verdict, reasons)
    _POLICY(verdict, policy_version)
    _LATENCY(verdict, latency_us)
    _SIGNAL(verdict, signal)
    _AMENDMENT(verdict, amendment)
    _ERROR(verdict, None)
    _VERSION(verdict, signal.version)
    _DIGEST(verdict, signal.digest)
    _STAGE(verdict, ReleaseStage.STABLE)
    _ENFORCED(verdict, True)
    return verdict


def verdict_event(
    verdict: Verdict,
    proposal: Proposal,
    *,
    producer: str,
    decision_id: uuid.UUID | None = None,
    stage: ReleaseStage | None = None,
    enforced: bool | None = None,
    trace_id: str | None = None,
) -> VerdictIssued:
    """The VerdictIssued event for a verdict, keyed by the proposal id."""
    signal = verdict.signal
    evidence = (
        ()
        if signal is None
        else tuple(
            Evidence(kind=s.kind, rule_id=s.rule_id, norm_refs=s.norm_refs, message=s.message)
            for s in signal.evidence
        )
    )
    return VerdictIssued(
        envelope=new_envelope(producer, str(proposal.proposal_id), trace_id=trace_id),
        decision_id=decision_id or uuid.uuid4(),
        proposal_id=proposal.proposal_id,
        proposer_id=proposal.proposer_id,
        session_id=proposal.session_id,
        tool=proposal.tool,
        decision=verdict.decision,
        enforced=verdict.enforced if enforced is None else enforced,
        stage=verdict.stage if stage is None else stage,
        oracle_version=verdict.oracle_version,
        oracle_digest=verdict.oracle_digest,
        policy_version=verdict.policy_version,
        tier=verdict.tier,
        safety_score=0.0 if signal is None else signal.safety_score,
        uncertainty=1.0 if signal is None else signal.uncertainty,
        reasons=verdict.reasons,
        evidence=evidence,
        amendment=None if verdict.amendment is None else verdict.amendment.to_json(),
        error=verdict.error,
        latency_us=verdict.latency_us,
    )
