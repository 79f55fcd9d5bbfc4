"""Realistic sample events, one builder per event type, for the tests and benchmarks.

Content is a pure function of the index ``i`` (tools, arguments, risk); ids and envelopes are fresh
on every call, so samples never collide with events already on a topic.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from alignment_flywheel.events import (
    BlastRadius,
    ClusterStatus,
    ClusterUpdated,
    DeadLettered,
    Decision,
    DriftDetected,
    Event,
    Evidence,
    EvidenceKind,
    FindingRaised,
    FindingSource,
    IncidentKind,
    IncidentReported,
    LedgerCheckpoint,
    Origin,
    PatchApproved,
    PatchProposed,
    PatchRejected,
    PatchRejectionReason,
    Proposal,
    ProposalSubmitted,
    RegressionEvidence,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    RiskContext,
    SessionStarted,
    Severity,
    ToolResultObserved,
    TrustRootPublished,
    VerdictIssued,
    VerificationOutcome,
    VerificationRecorded,
    new_envelope,
)

PRODUCER = "samples"

_CALLS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("coding-agent", "fs.read", {"path": "src/app/settings.py"}),
    (
        "coding-agent",
        "shell.exec",
        {"cmd": "pytest -q tests/", "cwd": "/workspace", "timeout": 600},
    ),
    ("support-agent", "email.send", {"to": "customer@example.com", "subject": "Your refund"}),
    ("data-agent", "sql.query", {"database": "analytics", "sql": "SELECT count(*) FROM orders"}),
    ("support-agent", "crm.update", {"ticket": 4312, "fields": {"status": "resolved"}}),
)
_BLAST = (BlastRadius.LOW, BlastRadius.MEDIUM, BlastRadius.NONE, BlastRadius.HIGH, BlastRadius.LOW)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample_proposal(i: int = 0) -> Proposal:
    """The i-th sample tool call, cycling through a coding, a support and a data agent."""
    proposer, tool, arguments = _CALLS[i % len(_CALLS)]
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id=proposer,
        session_id=f"{proposer}-session-{i // len(_CALLS)}",
        tool=tool,
        arguments=json.dumps(arguments, separators=(",", ":")),
        reasoning=f"step {i}: {tool} is the next action of the plan",
        risk=RiskContext(
            origin=Origin.AUTOMATED,
            proposer_confidence=0.5 + (i % 5) / 10,
            blast_radius=_BLAST[i % len(_BLAST)],
            environment="production" if i % 3 == 0 else "staging",
        ),
    )


def sample_proposal_submitted(i: int = 0) -> ProposalSubmitted:
    proposal = sample_proposal(i)
    return ProposalSubmitted(
        envelope=new_envelope(PRODUCER, str(proposal.proposal_id)), proposal=proposal
    )


def sample_runtime_events(proposal: Proposal) -> list[Event]:
    """A verdict, a review request and a review decision about one proposal."""
    key = str(proposal.proposal_id)
    decision_id, review_id = uuid.uuid4(), uuid.uuid4()
    verdict = VerdictIssued(
        envelope=new_envelope(PRODUCER, key),
        decision_id=decision_id,
        proposal_id=proposal.proposal_id,
        proposer_id=proposal.proposer_id,
        session_id=proposal.session_id,
        tool=proposal.tool,
        decision=Decision.ESCALATE,
        enforced=True,
        stage=ReleaseStage.STABLE,
        oracle_version=7,
        oracle_digest=_digest("oracle-7"),
        policy_version="2026-11-01",
        tier="production-high",
        safety_score=0.62,
        uncertainty=0.41,
        reasons=("uncertainty 0.41 reaches the tier limit 0.40",),
        evidence=(
            Evidence(
                kind=EvidenceKind.RULE_MATCH,
                rule_id="shell-write-outside-workspace",
                norm_refs=("N-12",),
                message="shell command may write outside the workspace",
            ),
        ),
        latency_us=84,
    )
    requested = ReviewRequested(
        envelope=new_envelope(PRODUCER, key),
        review_id=review_id,
        proposal_id=proposal.proposal_id,
        decision_id=decision_id,
        reason="uncertain shell command in production",
        deadline=datetime.now(UTC) + timedelta(minutes=15),
    )
    decided = ReviewDecided(
        envelope=new_envelope(PRODUCER, key),
        review_id=review_id,
        proposal_id=proposal.proposal_id,
        outcome=ReviewOutcome.DENY,
        reviewer="alice@example.com",
        reason="touches files outside the workspace",
    )
    return [verdict, requested, decided]


def sample_session_events(proposal: Proposal) -> list[Event]:
    """The session context of a proposal: the user's request, then a tool output the agent saw."""
    key = proposal.session_id
    started = SessionStarted(
        envelope=new_envelope(PRODUCER, key),
        session_id=key,
        proposer_id=proposal.proposer_id,
        request="Please run the tests of the settings module and tell me what fails.",
    )
    observed = ToolResultObserved(
        envelope=new_envelope(PRODUCER, key),
        session_id=key,
        proposer_id=proposal.proposer_id,
        proposal_id=uuid.uuid4(),
        tool="fs.read",
        output="# settings\nDATABASE_URL = 'postgres://db.internal/app'\n",
    )
    return [started, observed]


def sample_governance_events(proposal: Proposal) -> list[Event]:
    """One event of each governance kind, following one failure from incident to finding."""
    finding_id, cluster_id = uuid.uuid4(), uuid.uuid4()
    incident = IncidentReported(
        envelope=new_envelope(PRODUCER, str(proposal.proposal_id)),
        incident_id=uuid.uuid4(),
        proposal_id=proposal.proposal_id,
        kind=IncidentKind.HARM,
        severity=Severity.HIGH,
        description="the allowed command deleted a shared cache",
        reporter="oncall@example.com",
    )
    finding = FindingRaised(
        envelope=new_envelope(PRODUCER, str(finding_id)),
        finding_id=finding_id,
        source=FindingSource.RED_TEAM,
        proposal=proposal,
        oracle_version=7,
        oracle_decision=Decision.ALLOW,
        description="path traversal variant of a blocked shell command",
        seed=42,
    )
    verification = VerificationRecorded(
        envelope=new_envelope(PRODUCER, str(finding_id)),
        verification_id=uuid.uuid4(),
        finding_id=finding_id,
        outcome=VerificationOutcome.VIOLATION,
        norms_version="norms-3",
        norm_ids=("N-12",),
        severity=Severity.HIGH,
        rationale="N-12 forbids writes outside the workspace",
    )
    drift = DriftDetected(
        envelope=new_envelope(PRODUCER, proposal.tool),
        drift_id=uuid.uuid4(),
        detector="adwin",
        dimension="tool",
        subject=proposal.tool,
        metric="block_rate",
        value=0.18,
        baseline=0.04,
        evidence={"window": "2000", "delta": "0.002"},
    )
    cluster = ClusterUpdated(
        envelope=new_envelope(PRODUCER, str(cluster_id)),
        cluster_id=cluster_id,
        signature="tool=shell.exec;arg:cmd~rm;path:outside-workspace",
        features=("tool=shell.exec", "arg:cmd~rm", "path:outside-workspace"),
        size=14,
        sample_finding_ids=(finding_id,),
        tools=("shell.exec",),
        severity=Severity.HIGH,
        rank_score=8.4,
        first_seen=datetime.now(UTC) - timedelta(hours=2),
        last_seen=datetime.now(UTC),
        status=ClusterStatus.OPEN,
    )
    return [incident, finding, verification, drift, cluster]


def sample_release_events() -> list[Event]:
    """A patch proposed, approved and rejected, a release staged, promoted and rolled back, and a
    trust root published."""
    patch_id, release_id = uuid.uuid4(), uuid.uuid4()
    key = str(patch_id)
    operations = '[{"op":"add_rule","rule":{"id":"shell-rm-outside-workspace"}}]'
    proposed = PatchProposed(
        envelope=new_envelope(PRODUCER, key),
        patch_id=patch_id,
        author="refinement",
        base_version=7,
        base_digest=_digest("oracle-7"),
        target_version=8,
        target_digest=_digest("oracle-8"),
        operations=operations,
        rationale="block recursive deletes outside the workspace",
        cluster_ids=(uuid.uuid4(),),
        regression=RegressionEvidence(
            cases=1200,
            expected_blocked=40,
            blocked=40,
            benign=1150,
            false_positives=2,
            false_positive_rate=2 / 1150,
            labelled=10,
            labels_kept=10,
            passed=True,
            report="all cluster members and variants blocked",
        ),
    )
    approved = PatchApproved(
        envelope=new_envelope(PRODUCER, key),
        patch_id=patch_id,
        key_id="alice-2026",
        role="approver",
        signature=bytes(64),
    )
    rejected = PatchRejected(
        envelope=new_envelope(PRODUCER, key),
        patch_id=patch_id,
        reason=PatchRejectionReason.THRESHOLD_NOT_MET,
        security=True,
        detail="1 of 2 approver signatures",
        rejected_by="release-controller",
    )
    staged = ReleaseStaged(
        envelope=new_envelope(PRODUCER, "oracle"),
        release_id=release_id,
        patch_id=patch_id,
        version=8,
        digest=_digest("oracle-8"),
        stage=ReleaseStage.CANARY,
        canary_fraction=0.1,
        rollout_policy="default",
    )
    promoted = ReleasePromoted(
        envelope=new_envelope(PRODUCER, "oracle"),
        release_id=release_id,
        version=8,
        digest=_digest("oracle-8"),
        from_stage=ReleaseStage.CANARY,
        to_stage=ReleaseStage.STABLE,
        metrics={"disagreement_rate": 0.01, "samples": 5000.0},
        automatic=True,
        actor="release-controller",
    )
    rolled_back = ReleaseRolledBack(
        envelope=new_envelope(PRODUCER, "oracle"),
        release_id=release_id,
        version=8,
        digest=_digest("oracle-8"),
        from_stage=ReleaseStage.CANARY,
        restored_version=7,
        restored_digest=_digest("oracle-7"),
        reason="block rate delta 0.09 over the 0.05 gate",
        metrics={"block_rate_delta": 0.09},
        automatic=True,
    )
    root = TrustRootPublished(
        envelope=new_envelope(PRODUCER, "root"),
        version=1,
        expires=datetime(2027, 1, 1, tzinfo=UTC),
        signed_root='{"payload":"","payloadType":"application/vnd.flywheel.root+json","signatures":[]}',
    )
    return [proposed, approved, rejected, staged, promoted, rolled_back, root]


def sample_audit_events() -> list[Event]:
    checkpoint = LedgerCheckpoint(
        envelope=new_envelope(PRODUCER, "ledger"),
        log_id="flywheel-ledger",
        tree_size=1024,
        root_hash=_digest("root-1024"),
        first_offset=0,
        last_offset=1023,
        key_id="ledger-2026",
        signature=bytes(64),
    )
    dead = DeadLettered(
        envelope=new_envelope(PRODUCER, "flywheel.proposals/0/17"),
        source_topic="flywheel.proposals",
        partition=0,
        offset=17,
        original_key=b"k",
        original_value=b"\x00garbage",
        reason="no single-object marker",
        error_type="MalformedEventError",
        consumer_group="gate",
    )
    return [checkpoint, dead]


def sample_events() -> list[Event]:
    """One realistic event of every type, ProposalSubmitted first."""
    submitted = sample_proposal_submitted(1)
    proposal = submitted.proposal
    return [
        submitted,
        *sample_runtime_events(proposal),
        *sample_session_events(proposal),
        *sample_governance_events(proposal),
        *sample_release_events(),
        *sample_audit_events(),
    ]


def review_request(deadline: datetime | None, reason: str = "escalated") -> ReviewRequested:
    """A gate's review request for a fresh proposal, due at ``deadline``."""
    proposal = uuid.uuid4()
    return ReviewRequested(
        envelope=new_envelope("gate", str(proposal)),
        review_id=uuid.uuid4(),
        proposal_id=proposal,
        decision_id=uuid.uuid4(),
        reason=reason,
        deadline=deadline,
    )
