"""Findings, verifications and verdicts for the triage and drift tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from alignment_flywheel.events import (
    Decision,
    FindingRaised,
    FindingSource,
    Proposal,
    ReleaseStage,
    Severity,
    VerdictIssued,
    VerificationOutcome,
    VerificationRecorded,
    new_envelope,
)
from tests.support.oracles import proposal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def finding(tool: str, arguments: dict[str, Any], **risk: Any) -> FindingRaised:
    found = proposal(tool, arguments, **risk)
    finding_id = uuid.uuid4()
    return FindingRaised(
        envelope=new_envelope("test", str(finding_id)),
        finding_id=finding_id,
        source=FindingSource.INCIDENT,
        proposal=found,
        oracle_version=1,
        oracle_decision=Decision.ALLOW,
        description="test",
    )


def verification(
    of: FindingRaised,
    *,
    outcome: VerificationOutcome = VerificationOutcome.VIOLATION,
    severity: Severity = Severity.HIGH,
    at: datetime = T0,
) -> VerificationRecorded:
    envelope = new_envelope("test", str(of.finding_id)).model_copy(update={"occurred_at": at})
    return VerificationRecorded(
        envelope=envelope,
        verification_id=uuid.uuid4(),
        finding_id=of.finding_id,
        outcome=outcome,
        norms_version="norms-1",
        norm_ids=("N-1",),
        severity=severity,
        rationale="test",
    )


def verdict(
    of: Proposal, decision: Decision = Decision.ALLOW, *, score: float = 0.9, version: int = 1
) -> VerdictIssued:
    return VerdictIssued(
        envelope=new_envelope("test", str(of.proposal_id)),
        decision_id=uuid.uuid4(),
        proposal_id=of.proposal_id,
        proposer_id=of.proposer_id,
        session_id=of.session_id,
        tool=of.tool,
        decision=decision,
        enforced=True,
        stage=ReleaseStage.STABLE,
        oracle_version=version,
        oracle_digest="0" * 64,
        policy_version="p-1",
        tier="standard",
        safety_score=score,
        uncertainty=0.1,
        latency_us=1,
    )
