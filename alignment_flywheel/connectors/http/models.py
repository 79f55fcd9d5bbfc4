"""The JSON bodies of the HTTP ingest endpoint: requests, responses and the error body.

Rules:

* A request names only what the caller knows: the proposal id, the envelope and the defaults of the
  risk context are filled in by the endpoint. Unknown fields are refused (``extra="forbid"``), so
  a misspelt field is a 422 naming it instead of being silently dropped.
* The shapes here are checked by FastAPI/pydantic; the deeper checks of a proposal (tool name,
  JSON-only argument values, nesting, size, the risk context's ranges) are the SDK's
  (:mod:`alignment_flywheel.connectors.sdk.validation`), applied to every request, so the SDK and
  the endpoint accept exactly the same proposals.
* Every error answer has the body :class:`ErrorBody`: ``{"error": {"type", "field", "message"}}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alignment_flywheel.events import (
    MAX_OUTPUT_CHARS,
    MAX_REQUEST_CHARS,
    BlastRadius,
    Decision,
    EvidenceKind,
    IncidentKind,
    Origin,
    ReleaseStage,
    Severity,
)


class RiskInput(BaseModel):
    """What the proposer declares about the risk; missing fields take the endpoint's defaults
    (origin AUTOMATED, proposer_confidence 0.5, blast_radius UNKNOWN, environment "default")."""

    model_config = ConfigDict(extra="forbid")

    origin: Origin | None = None
    proposer_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    blast_radius: BlastRadius | None = None
    environment: str | None = None


class ProposalRequest(BaseModel):
    """A tool call an agent wants to make."""

    model_config = ConfigDict(extra="forbid")

    proposer_id: str | None = Field(
        default=None,
        min_length=1,
        description="Stable identity of the proposing agent. With an API token it may be left "
        "out (the token's proposer id is used); given, it must be the token's.",
    )
    session_id: str | None = Field(
        default=None, description="The agent session; a fresh id when omitted."
    )
    tool: str = Field(description="Dotted tool name, e.g. shell.exec.")
    arguments: dict[str, Any] = Field(description="The tool arguments: one JSON object.")
    reasoning: str | None = Field(default=None, description="Why the agent wants the call.")
    parent_proposal_id: uuid.UUID | None = Field(
        default=None, description="The proposal this one revises (a REVISE loop)."
    )
    risk: RiskInput | None = None

    def risk_fields(self) -> dict[str, Any] | None:
        """The risk fields the caller gave, for merging over the defaults."""
        if self.risk is None:
            return None
        return self.risk.model_dump(exclude_none=True)


class SessionRequest(BaseModel):
    """The user's request that starts (or restarts) an agent session (``POST /v1/sessions``)."""

    model_config = ConfigDict(extra="forbid")

    proposer_id: str | None = Field(
        default=None,
        min_length=1,
        description="The proposing agent, as for /v1/decisions (left out: the token's).",
    )
    session_id: str | None = Field(
        default=None,
        description="The session to start; a fresh id when omitted. Decisions of this proposer "
        "with this session id are judged in its context.",
    )
    request: str = Field(
        description="The user's request, as the agent received it; only its first "
        f"{MAX_REQUEST_CHARS} characters are kept."
    )


class SessionResponse(BaseModel):
    """A session started; decisions with its ``session_id`` are judged in its context."""

    session_id: str
    proposer_id: str
    event_id: uuid.UUID = Field(description="The SessionStarted event published.")
    truncated: bool = Field(description="True when only the first part of the request was kept.")


class ToolResultRequest(BaseModel):
    """The output of a tool the agent ran (``POST /v1/sessions/{session_id}/results``)."""

    model_config = ConfigDict(extra="forbid")

    proposer_id: str | None = Field(
        default=None,
        min_length=1,
        description="The proposing agent, as for /v1/decisions (left out: the token's).",
    )
    tool: str = Field(description="The tool that produced the output, e.g. email.read.")
    output: str = Field(
        description=f"The tool's output as text; only its first {MAX_OUTPUT_CHARS} characters "
        "are kept (`truncated` in the answer)."
    )
    proposal_id: uuid.UUID | None = Field(
        default=None, description="The decided proposal of the call that produced it, if known."
    )


class ToolResultResponse(BaseModel):
    """A tool output recorded in the session's context."""

    session_id: str
    event_id: uuid.UUID = Field(description="The ToolResultObserved event published.")
    truncated: bool = Field(description="True when only the first part of the output was kept.")
    outputs: int = Field(description="Tool outputs the session's context now holds.")


class EvidenceOut(BaseModel):
    """One fact behind a verdict."""

    kind: EvidenceKind
    message: str
    rule_id: str | None = None
    norm_refs: list[str] = []


class AmendmentOut(BaseModel):
    """How a REVISE verdict wants the call changed."""

    set_arguments: dict[str, Any]
    remove_arguments: list[str]
    constraints: list[str]


class DecisionResponse(BaseModel):
    """The decision on one proposal (``POST /v1/decisions``)."""

    proposal_id: uuid.UUID
    decision_id: uuid.UUID
    decision: Decision
    tier: str
    reasons: list[str]
    safety_score: float
    uncertainty: float
    oracle_version: int
    oracle_digest: str
    policy_version: str
    amendment: AmendmentOut | None
    revised_arguments: dict[str, Any] | None
    review_id: uuid.UUID | None = Field(description="Set for ESCALATE: the review to wait for.")
    latency_us: int
    evidence: list[EvidenceOut]
    error: str | None = Field(default=None, description="Why the oracle failed, if it did.")


class IncidentRequest(BaseModel):
    """A decision that was wrong: harm done by an allowed action, or a false positive."""

    model_config = ConfigDict(extra="forbid")

    proposal_id: uuid.UUID = Field(description="A proposal decided by this endpoint.")
    kind: IncidentKind
    severity: Severity
    description: str = Field(min_length=1, description="What happened.")


class IncidentResponse(BaseModel):
    """An incident accepted; it is published to the incidents topic in the background."""

    incident_id: uuid.UUID
    proposal_id: uuid.UUID


class AcceptedResponse(BaseModel):
    """A proposal accepted for the gate to decide (``POST /v1/proposals``)."""

    proposal_id: uuid.UUID
    topic: str


class BrokerHealth(BaseModel):
    checked: bool = Field(description="False when the endpoint does not publish (dry run).")
    reachable: bool | None
    bootstrap_servers: str
    error: str | None = None


class PublisherHealth(BaseModel):
    enabled: bool
    backlog: int = Field(description="Decision records in memory, not yet sent to Kafka.")
    journal_bytes: int = Field(description="Bytes of decision records waiting in the journal.")
    published: int
    journaled: int
    ingest_queued: int = Field(
        description="Fire-and-forget proposals (and protocol requests) not yet acknowledged."
    )
    ingest_failed: int = Field(description="Fire-and-forget proposals Kafka refused.")


class HealthResponse(BaseModel):
    """``ok`` when the broker answers and nothing waits in the journal, else ``degraded``.
    Decisions keep working while degraded: their records wait in the journal."""

    status: str
    broker: BrokerHealth
    publisher: PublisherHealth


class CandidateOut(BaseModel):
    """The candidate oracle of a rollout: at SHADOW it only records shadow verdicts; at CANARY it
    decides for the sessions in ``canary_fraction``."""

    oracle_version: int
    oracle_digest: str
    stage: ReleaseStage
    canary_fraction: float


class ReleasesOut(BaseModel):
    """How the endpoint follows oracle releases on Kafka."""

    following: bool = Field(description="True when the endpoint follows the release topic.")
    patches_topic: str
    releases_topic: str
    errors: int = Field(description="Releases the follower refused or could not deploy.")
    degraded: bool | None = Field(
        default=None,
        description="True when what is enforced is not what the release topic says (null: the "
        "follower does not tell).",
    )
    reason: str | None = Field(default=None, description="Why it is degraded.")
    released_version: int | None = Field(
        default=None, description="The stable version the release topic names, if any."
    )


class OracleResponse(BaseModel):
    """The oracle and risk policy the endpoint decides with: the stable oracle (enforced outside
    a canary) and, while following releases, the candidate and the follower's state."""

    oracle_version: int
    oracle_digest: str
    policy_version: str | None
    candidate: CandidateOut | None = Field(
        default=None, description="Present while following releases: the rollout's candidate."
    )
    releases: ReleasesOut | None = Field(
        default=None, description="Present while following releases."
    )


class ErrorDetail(BaseModel):
    type: str = Field(description="malformed_body, invalid_field, payload_too_large, ...")
    field: str | None = Field(description="The culprit, e.g. arguments.rows[2].when, or null.")
    message: str


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorDetail
