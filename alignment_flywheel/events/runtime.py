"""Events of the runtime path: a proposal, its verdict, the human review of escalations, and the
session context a proposal is judged in (the user's request, the outputs of the tools run)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import StringConstraints

from alignment_flywheel.events.common import (
    NAMESPACE,
    Count,
    Decision,
    Event,
    Evidence,
    Fraction,
    Identity,
    JsonObjectText,
    Long,
    Proposal,
    ReleaseStage,
    Sha256Hex,
    Timestamp,
)

MAX_REQUEST_CHARS = 32_768
"""The longest user request a ``SessionStarted`` carries, in characters."""
MAX_OUTPUT_CHARS = 32_768
"""The longest tool output a ``ToolResultObserved`` carries, in characters (producers truncate)."""


class ReviewOutcome(StrEnum):
    """A reviewer's answer."""

    APPROVE = "APPROVE"
    DENY = "DENY"


class ProposalSubmitted(Event):
    """An agent proposed a tool call; nothing has been decided yet."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ProposalSubmitted"

    proposal: Proposal


class VerdictIssued(Event):
    """The enforcement layer decided on a proposal. Shadow verdicts are recorded, not enforced."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.VerdictIssued"

    decision_id: uuid.UUID
    proposal_id: uuid.UUID
    proposer_id: Identity
    session_id: str
    tool: Identity
    decision: Decision
    enforced: bool
    stage: ReleaseStage
    oracle_version: Long
    oracle_digest: Sha256Hex
    policy_version: str
    tier: str
    safety_score: Fraction
    uncertainty: Fraction
    reasons: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    amendment: JsonObjectText | None = None
    error: str | None = None
    latency_us: Count


class ReviewRequested(Event):
    """A proposal was escalated to a human reviewer."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ReviewRequested"

    review_id: uuid.UUID
    proposal_id: uuid.UUID
    decision_id: uuid.UUID
    reason: str
    deadline: Timestamp | None = None


class ReviewDecided(Event):
    """A review was answered, by a human or automatically (e.g. a deny on timeout)."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ReviewDecided"

    review_id: uuid.UUID
    proposal_id: uuid.UUID
    outcome: ReviewOutcome
    reviewer: Identity
    reason: str
    automatic: bool = False


class SessionStarted(Event):
    """A user's request started (or restarted) an agent session. Keyed by the session id."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.SessionStarted"

    session_id: str
    proposer_id: Identity
    request: Annotated[str, StringConstraints(max_length=MAX_REQUEST_CHARS)]


class ToolResultObserved(Event):
    """The agent ran a tool and saw its output (at most :data:`MAX_OUTPUT_CHARS`, ``truncated``
    when it was longer). Keyed by the session id."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.ToolResultObserved"

    session_id: str
    proposer_id: Identity
    proposal_id: uuid.UUID | None = None
    tool: Identity
    output: Annotated[str, StringConstraints(max_length=MAX_OUTPUT_CHARS)]
    truncated: bool = False
