"""Events of the governance pipeline: findings, verification, triage, patches and releases."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from alignment_flywheel.events.common import (
    NAMESPACE,
    CanonicalJsonArrayText,
    Count,
    Decision,
    Event,
    Fraction,
    Identity,
    Long,
    Proposal,
    Record,
    ReleaseStage,
    Severity,
    Sha256Hex,
    Timestamp,
)


class IncidentKind(StrEnum):
    """What kind of mistake an incident reports."""

    HARM = "HARM"
    FALSE_POSITIVE = "FALSE_POSITIVE"


class FindingSource(StrEnum):
    """Which part of the pipeline raised a finding. UNKNOWN: a source added later."""

    UNKNOWN = "UNKNOWN"
    INCIDENT = "INCIDENT"
    DRIFT = "DRIFT"
    RED_TEAM = "RED_TEAM"
    REVIEW = "REVIEW"


class VerificationOutcome(StrEnum):
    """Whether a finding violates the human norms."""

    VIOLATION = "VIOLATION"
    NO_VIOLATION = "NO_VIOLATION"
    INCONCLUSIVE = "INCONCLUSIVE"


class ClusterStatus(StrEnum):
    """Life cycle of a finding cluster."""

    OPEN = "OPEN"
    PATCHED = "PATCHED"
    SUPPRESSED = "SUPPRESSED"


class PatchRejectionReason(StrEnum):
    """Why a patch was rejected."""

    UNKNOWN = "UNKNOWN"
    BASE_MISMATCH = "BASE_MISMATCH"
    VERSION_NOT_INCREASING = "VERSION_NOT_INCREASING"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    WRONG_ROLE = "WRONG_ROLE"
    THRESHOLD_NOT_MET = "THRESHOLD_NOT_MET"
    EXPIRED = "EXPIRED"
    MALFORMED = "MALFORMED"
    HUMAN_REJECTED = "HUMAN_REJECTED"
    REGRESSION_FAILED = "REGRESSION_FAILED"


class RegressionEvidence(Record):
    """Result of replaying the regression suite against a patched oracle."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.RegressionEvidence"

    cases: Count
    expected_blocked: Count
    blocked: Count
    benign: Count
    false_positives: Count
    false_positive_rate: Fraction
    labelled: Count
    labels_kept: Count
    passed: bool
    report: str


class IncidentReported(Event):
    """Someone reported that a verdict was wrong."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.IncidentReported"

    incident_id: uuid.UUID
    proposal_id: uuid.UUID
    kind: IncidentKind
    severity: Severity
    description: str
    reporter: Identity
    proposal: Proposal | None = None


class FindingRaised(Event):
    """The pipeline found a proposal the oracle may judge wrongly."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.FindingRaised"

    finding_id: uuid.UUID
    source: FindingSource
    proposal: Proposal
    oracle_version: Long
    oracle_decision: Decision
    description: str
    seed: Long | None = None
    parent_finding_id: uuid.UUID | None = None


class VerificationRecorded(Event):
    """A finding was checked against the human norms."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.VerificationRecorded"

    verification_id: uuid.UUID
    finding_id: uuid.UUID
    outcome: VerificationOutcome
    norms_version: str
    norm_ids: tuple[str, ...] = ()
    severity: Severity
    rationale: str


class DriftDetected(Event):
    """Behaviour moved away from its baseline."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.DriftDetected"

    drift_id: uuid.UUID
    detector: Identity
    dimension: str
    subject: str
    metric: str
    value: float
    baseline: float
    evidence: dict[str, str] = Field(default_factory=dict)


class ClusterUpdated(Event):
    """A cluster of similar verified findings was created or changed."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ClusterUpdated"

    cluster_id: uuid.UUID
    signature: str
    features: tuple[str, ...] = ()
    size: Count
    sample_finding_ids: tuple[uuid.UUID, ...] = ()
    tools: tuple[str, ...] = ()
    severity: Severity
    rank_score: float
    first_seen: Timestamp
    last_seen: Timestamp
    status: ClusterStatus


class PatchProposed(Event):
    """A change to the oracle was proposed, with its regression evidence."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.PatchProposed"

    patch_id: uuid.UUID
    author: Identity
    base_version: Long
    base_digest: Sha256Hex
    target_version: Long
    target_digest: Sha256Hex
    operations: CanonicalJsonArrayText
    rationale: str
    cluster_ids: tuple[uuid.UUID, ...] = ()
    finding_ids: tuple[uuid.UUID, ...] = ()
    incident_ids: tuple[uuid.UUID, ...] = ()
    regression: RegressionEvidence | None = None
    expires: Timestamp | None = None


class KeySignature(Record):
    """One key's signature over the signed body of the record that carries it."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.KeySignature"

    key_id: Identity
    signature: bytes


class PatchApproved(Event):
    """A key holder signed a patch."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.PatchApproved"

    patch_id: uuid.UUID
    key_id: Identity
    role: Identity
    signature: bytes
    automatic: bool = False
    operator: str | None = None


class PatchRejected(Event):
    """A patch was refused; ``security`` tells a security failure from any other."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.PatchRejected"

    patch_id: uuid.UUID
    reason: PatchRejectionReason
    security: bool
    detail: str
    rejected_by: Identity
    signatures: tuple[KeySignature, ...] = ()


class ReleaseStaged(Event):
    """A patched oracle version entered the rollout."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ReleaseStaged"

    release_id: uuid.UUID
    patch_id: uuid.UUID
    version: Long
    digest: Sha256Hex
    stage: ReleaseStage
    canary_fraction: Fraction
    rollout_policy: str


class ReleasePromoted(Event):
    """A release moved to a later stage."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ReleasePromoted"

    release_id: uuid.UUID
    version: Long
    digest: Sha256Hex
    from_stage: ReleaseStage
    to_stage: ReleaseStage
    metrics: dict[str, float] = Field(default_factory=dict)
    automatic: bool = False
    actor: Identity


class ReleaseRolledBack(Event):
    """A release was withdrawn and an earlier version restored."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ReleaseRolledBack"

    release_id: uuid.UUID
    version: Long
    digest: Sha256Hex
    from_stage: ReleaseStage
    restored_version: Long
    restored_digest: Sha256Hex
    reason: str
    metrics: dict[str, float] = Field(default_factory=dict)
    automatic: bool = False
    signatures: tuple[KeySignature, ...] = ()
    operator: str | None = None


class TrustRootPublished(Event):
    """A version of the trust root (keys, roles, thresholds, expiry) was published, signed."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.TrustRootPublished"

    version: Count
    expires: Timestamp
    signed_root: str
