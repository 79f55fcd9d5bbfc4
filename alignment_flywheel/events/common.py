"""Building blocks shared by every event: the envelope, the proposal and the value types.

Rules that every model in this package follows, and that ``tests/unit/test_events_contract.py``
enforces against the Avro contract in ``schemas/``:

* A model mirrors one Avro record: same field names, same types, same defaults.
  Avro ``string`` is ``str``, ``long``/``int`` are ``int`` (range-checked), ``double`` is ``float``,
  ``boolean`` is ``bool``, ``bytes`` is ``bytes``, a ``uuid`` string is :class:`uuid.UUID`, a
  ``timestamp-micros`` long is a timezone-aware :class:`~datetime.datetime`, an enum is a
  :class:`~enum.StrEnum` whose members are the Avro symbols, an array is a tuple, a map is a dict,
  and ``["null", T]`` is ``T | None`` defaulting to ``None``.
* Models are frozen and refuse unknown fields; an event is a fact and never changes.
* Constraints Avro cannot express (ranges, hex digests, JSON text) are checked here, so a decoded
  event is always valid.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import rfc8785
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

NAMESPACE = "alignment_flywheel"

Long = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An Avro ``long``: a signed 64-bit integer."""
Int = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
"""An Avro ``int``: a signed 32-bit integer."""
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
"""A non-negative Avro ``long``: a count, a size, an offset, a version or a duration."""
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""An Avro ``double`` from 0.0 to 1.0."""
Timestamp = AwareDatetime
"""An Avro ``timestamp-micros``: a timezone-aware datetime, microsecond precision."""
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lowercase hex digits."""
Identity = Annotated[str, StringConstraints(min_length=1)]
"""A non-empty name of a person, process or key."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _load_json(text: str) -> Any:
    try:
        return _STRICT_JSON.decode(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON text: {exc}") from None


def _json_object(text: str) -> str:
    if not isinstance(_load_json(text), dict):
        raise ValueError("must be the JSON text of one object")
    return text


def _canonical_json_array(text: str) -> str:
    value = _load_json(text)
    if not isinstance(value, list):
        raise ValueError("must be the JSON text of one array")
    if rfc8785.dumps(value).decode() != text:
        raise ValueError("must be canonical JSON (RFC 8785)")
    return text


JsonObjectText = Annotated[str, AfterValidator(_json_object)]
"""UTF-8 JSON text of one object, e.g. tool arguments."""
CanonicalJsonArrayText = Annotated[str, AfterValidator(_canonical_json_array)]
"""Canonical JSON (RFC 8785) text of one array, e.g. patch operations."""


class Record(BaseModel):
    """An Avro record: frozen, closed to unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    avro_name: ClassVar[str]
    """The Avro full name of the record this model mirrors."""


# --- enums ---------------------------------------------------------------------------------------


class Origin(StrEnum):
    """Who is behind a proposal."""

    UNKNOWN = "UNKNOWN"
    HUMAN = "HUMAN"
    AUTOMATED = "AUTOMATED"


class BlastRadius(StrEnum):
    """How much damage the proposed action could do, as the proposer estimates it."""

    UNKNOWN = "UNKNOWN"
    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class EvidenceKind(StrEnum):
    """What produced a piece of evidence."""

    RULE_MATCH = "RULE_MATCH"
    RULE_ERROR = "RULE_ERROR"
    ORACLE_ERROR = "ORACLE_ERROR"
    CLASSIFIER = "CLASSIFIER"
    NOTE = "NOTE"


class Decision(StrEnum):
    """The verdict on a proposal."""

    ALLOW = "ALLOW"
    REVISE = "REVISE"
    BLOCK = "BLOCK"
    ESCALATE = "ESCALATE"


class ReleaseStage(StrEnum):
    """Rollout stage of an oracle version."""

    STABLE = "STABLE"
    CANARY = "CANARY"
    SHADOW = "SHADOW"


class Severity(StrEnum):
    """How serious a harm is."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


# --- shared records ------------------------------------------------------------------------------


class Envelope(Record):
    """Common header of every event: who produced it, when, and under which Kafka key."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.Envelope"

    event_id: uuid.UUID
    occurred_at: Timestamp
    producer: Identity
    trace_id: Identity
    correlation_id: str | None = None
    key: Identity


class RiskContext(Record):
    """What the proposer declares about the risk of a proposal."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.RiskContext"

    origin: Origin = Origin.UNKNOWN
    proposer_confidence: Fraction
    blast_radius: BlastRadius = BlastRadius.UNKNOWN
    environment: str


class Proposal(Record):
    """A tool call an agent wants to make, before any verdict."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.Proposal"

    proposal_id: uuid.UUID
    proposer_id: Identity
    session_id: str
    tool: Identity
    arguments: JsonObjectText
    reasoning: str | None = None
    parent_proposal_id: uuid.UUID | None = None
    risk: RiskContext

    def arguments_object(self) -> dict[str, Any]:
        """The arguments, parsed."""
        value: dict[str, Any] = json.loads(self.arguments)
        return value


class Evidence(Record):
    """One fact that supports a verdict."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.Evidence"

    kind: EvidenceKind
    rule_id: str | None = None
    norm_refs: tuple[str, ...] = ()
    message: str


class Event(Record):
    """Base of every event. ``envelope`` is always the first field."""

    envelope: Envelope

    @classmethod
    def event_type(cls) -> str:
        """The short name of the event, e.g. ``"ProposalSubmitted"``."""
        return cls.avro_name.rpartition(".")[2]


def new_envelope(
    producer: str,
    key: str,
    *,
    trace_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """A fresh envelope: random event id, current UTC time, a new trace id unless one is given."""
    return Envelope(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        producer=producer,
        trace_id=trace_id if trace_id is not None else uuid.uuid4().hex,
        correlation_id=correlation_id,
        key=key,
    )
