"""What the gate does with each record of a batch, without a broker: decode and route.

Per record of the proposals topic (raw bytes), :func:`classify` says what it is:

1. :class:`Skip`: a tombstone, or a record with the header ``flywheel-decided-by`` (``sdk``,
   ``http``), already decided in process by its producer: passed over (no decision, no verdict).
2. :class:`Fold`: a session event (``SessionStarted``, ``ToolResultObserved``), folded into its
   session's context (:mod:`~alignment_flywheel.oracle.session_book`).
3. :class:`Propose`: a ``ProposalSubmitted``, to be decided.
4. :class:`Reject`: anything else (garbage, unknown fingerprint, schema or model violation,
   oversized, another event type, nesting too deep to decode): dead-lettered.

:func:`dead_letter_value` builds the dead letter of a rejected record, fitted to the producer's
request limit (its original bytes, or an excerpt with their length and SHA-256), with an envelope
derived from the record's position and time: a letter written again after a crash is the same
event. :func:`decider_call` adapts an enforcer (``decide`` or ``decide_staged``, with or without
``session=``) to the core's :data:`~alignment_flywheel.processors.gate_core.Decide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.sdk.sessions import takes_keyword
from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Envelope, Proposal
from alignment_flywheel.events.ids import emitted_event_id
from alignment_flywheel.kafka.deadletter import dead_letter_for, fit_dead_letter
from alignment_flywheel.kafka.headers import decided_elsewhere
from alignment_flywheel.oracle.provenance import SessionContext, SessionEvent
from alignment_flywheel.processors.gate_core import Decide
from alignment_flywheel.processors.gate_events import decode_proposals_record

DEAD_LETTER_KIND = "dead-letter"


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, as the gate needs it (from a confluent-kafka message)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] | None
    timestamp_ms: int

    @classmethod
    def of(cls, msg: Any) -> Record:
        _kind, stamp = msg.timestamp()
        return cls(
            str(msg.topic()),
            int(msg.partition()),
            int(msg.offset()),
            msg.key(),
            msg.value(),
            msg.headers(),
            int(stamp),
        )

    @property
    def occurred_at(self) -> datetime:
        """The record's timestamp as a UTC datetime (the time of what is emitted for it)."""
        return datetime.fromtimestamp(max(self.timestamp_ms, 0) / 1000, UTC)

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True, slots=True)
class Skip:
    """Passed over: a tombstone or a record decided in process (``decided_by``)."""

    decided_by: str | None


@dataclass(frozen=True, slots=True)
class Fold:
    """A session event to fold."""

    event: SessionEvent


@dataclass(frozen=True, slots=True)
class Propose:
    """A proposal to decide: its envelope (the codec's dict) and model."""

    envelope: dict[str, Any]
    proposal: Proposal


@dataclass(frozen=True, slots=True)
class Reject:
    """Bad input, to dead-letter with ``error`` as the reason."""

    error: InvalidInputError


Routed = Skip | Fold | Propose | Reject


def classify(codec: EventCodec, record: Record) -> Routed:
    """What the gate does with ``record`` (see the module rules)."""
    decided_by = decided_elsewhere(record.headers)
    if decided_by is not None or record.value is None:
        return Skip(decided_by)
    try:
        decoded = decode_proposals_record(codec, record.value)
    except InvalidInputError as exc:
        return Reject(exc)
    if isinstance(decoded, tuple):
        return Propose(*decoded)
    return Fold(decoded)


def dead_letter_value(
    codec: EventCodec,
    record: Record,
    error: BaseException,
    *,
    producer: str,
    group: str,
    max_bytes: int,
) -> bytes:
    """The encoded ``DeadLettered`` of ``record``, its envelope derived from the record."""
    letter = dead_letter_for(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        error=error,
        producer=producer,
        consumer_group=group,
    )
    event_id = emitted_event_id(record.position, DEAD_LETTER_KIND)
    envelope = Envelope(
        event_id=event_id,
        occurred_at=record.occurred_at,
        producer=producer,
        trace_id=event_id.hex,
        key=letter.envelope.key,
    )
    return fit_dead_letter(codec, letter.model_copy(update={"envelope": envelope}), max_bytes)


def decider_call(decider: Decider) -> Decide:
    """The core's decide function over ``decider``: the enforced verdict and, during a rollout
    (a decider with ``decide_staged``), the shadow verdict."""
    staged = getattr(decider, "decide_staged", None)
    takes_session = takes_keyword(staged or decider.decide, "session")

    def decide(
        proposal: Proposal, depth: int, session: SessionContext | None
    ) -> tuple[Verdict, Verdict | None]:
        options: dict[str, Any] = {"revision_depth": depth}
        if takes_session and session is not None:
            options["session"] = session
        if staged is None:
            return decider.decide(proposal, **options), None
        both = staged(proposal, **options)
        return both.enforced, both.shadow

    return decide


def takes_session(decider: Decider) -> bool:
    """Whether ``decider`` decides in a session context (``session=``)."""
    return takes_keyword(getattr(decider, "decide_staged", decider.decide), "session")
