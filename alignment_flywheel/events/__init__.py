"""The events of the platform as frozen pydantic models, one class per Avro event record.

The Avro schemas in ``schemas/`` are the contract; these models mirror them field for field (a
test walks both and fails on any difference). Every event starts with an :class:`Envelope`; build
one with :func:`new_envelope`. :data:`EVENT_TYPES` maps each event's short name
(``"ProposalSubmitted"``) to its class.
"""

from __future__ import annotations

from alignment_flywheel.events.audit import DeadLettered, LedgerCheckpoint
from alignment_flywheel.events.common import (
    NAMESPACE,
    BlastRadius,
    Decision,
    Envelope,
    Event,
    Evidence,
    EvidenceKind,
    Origin,
    Proposal,
    Record,
    ReleaseStage,
    RiskContext,
    Severity,
    new_envelope,
)
from alignment_flywheel.events.governance import (
    ClusterStatus,
    ClusterUpdated,
    DriftDetected,
    FindingRaised,
    FindingSource,
    IncidentKind,
    IncidentReported,
    PatchApproved,
    PatchProposed,
    PatchRejected,
    PatchRejectionReason,
    RegressionEvidence,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStaged,
    TrustRootPublished,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.events.runtime import (
    MAX_OUTPUT_CHARS,
    MAX_REQUEST_CHARS,
    ProposalSubmitted,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    SessionStarted,
    ToolResultObserved,
    VerdictIssued,
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type(): cls
    for cls in (
        ProposalSubmitted,
        VerdictIssued,
        ReviewRequested,
        ReviewDecided,
        IncidentReported,
        FindingRaised,
        VerificationRecorded,
        DriftDetected,
        ClusterUpdated,
        PatchProposed,
        PatchApproved,
        PatchRejected,
        ReleaseStaged,
        ReleasePromoted,
        ReleaseRolledBack,
        TrustRootPublished,
        LedgerCheckpoint,
        DeadLettered,
        SessionStarted,
        ToolResultObserved,
    )
}
"""Every event class, by short name (the Avro record name without namespace)."""

__all__ = [
    "EVENT_TYPES",
    "MAX_OUTPUT_CHARS",
    "MAX_REQUEST_CHARS",
    "NAMESPACE",
    "BlastRadius",
    "ClusterStatus",
    "ClusterUpdated",
    "DeadLettered",
    "Decision",
    "DriftDetected",
    "Envelope",
    "Event",
    "Evidence",
    "EvidenceKind",
    "FindingRaised",
    "FindingSource",
    "IncidentKind",
    "IncidentReported",
    "LedgerCheckpoint",
    "Origin",
    "PatchApproved",
    "PatchProposed",
    "PatchRejected",
    "PatchRejectionReason",
    "Proposal",
    "ProposalSubmitted",
    "Record",
    "RegressionEvidence",
    "ReleasePromoted",
    "ReleaseRolledBack",
    "ReleaseStage",
    "ReleaseStaged",
    "ReviewDecided",
    "ReviewOutcome",
    "ReviewRequested",
    "RiskContext",
    "SessionStarted",
    "Severity",
    "ToolResultObserved",
    "TrustRootPublished",
    "VerdictIssued",
    "VerificationOutcome",
    "VerificationRecorded",
    "new_envelope",
]
