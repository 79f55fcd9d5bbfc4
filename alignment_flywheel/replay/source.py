"""Reading history for a replay: proposals in a range of the proposals topic, and their verdicts.

Rules:

* A bound is an offset (an integer, applied to every partition) or a time (ISO 8601; a time
  without a zone is UTC), resolved per partition with ``offsets_for_times``. ``--from`` is
  inclusive, ``--to`` exclusive for a time (records before it) and inclusive for an offset. No
  ``--from``: the start of the log; no ``--to``: its end as of the start of the replay.
* Records are fetched in batches (``consume``) without a consumer group and decoded with the shared
  codec's compiled decoder (the Avro schema checks every field's type). The proposal is validated
  into its model in full the first time its decision input (tool, arguments, risk context) is
  seen; a repeat is a copy of that model with its own ids, proposer, session, reasoning and
  parent, as decoded (validation costs more than the rest of a repeat's replay).
* A record that does not decode, is neither a ``ProposalSubmitted`` nor a session event, or whose
  proposal (event) is invalid is never an error: it is reported as
  :class:`~alignment_flywheel.replay.report.Skipped` (topic, partition, offset, reason) and the
  replay goes on.
* Sessions are rebuilt as the gate keeps them
  (:class:`~alignment_flywheel.oracle.session_book.SessionBook`, the same code over in-memory
  tables, its clock the records' time): the session events read are folded per session and
  partition in topic order, and each proposal is replayed in its session's context on its
  partition at that point. A proposal of a session with no event there is replayed in the empty
  context (provenance ``none``), as the gate, the SDK and the HTTP endpoint decide it. Events before
  the range are not read: a session started before ``--from`` is replayed with the events of the
  range only.
* The baseline is the enforced ``VerdictIssued`` of each proposal on the verdicts topic (shadow
  verdicts are not what was acted on), read from the ``--from`` time (the whole topic for an
  offset bound) to its end. The revise depth of each proposal follows the recorded verdicts of its
  chain by the rule every decider counts with (:mod:`alignment_flywheel.enforcement.revise`).
* A broker that does not answer raises :class:`~alignment_flywheel.errors.KafkaTransportError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

from confluent_kafka import Consumer, Message, TopicPartition
from pydantic import ValidationError

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.revise import ReviseChains
from alignment_flywheel.errors import CodecError, InvalidInputError
from alignment_flywheel.events import Decision, Proposal
from alignment_flywheel.kafka.clients import reader_group
from alignment_flywheel.kafka.consumer import consumer_config, partitions_of, watermarks
from alignment_flywheel.kafka.headers import decided_elsewhere
from alignment_flywheel.kafka.reader import Span, read_spans
from alignment_flywheel.oracle.provenance import EMPTY, SessionContext
from alignment_flywheel.oracle.session_book import SESSION_EVENTS, SessionBook, session_event
from alignment_flywheel.replay.engine import Case
from alignment_flywheel.replay.report import Skipped

TIMEOUT_S = 30.0
MAX_TEMPLATES = 100_000
RISK_FIELDS = ("origin", "blast_radius", "proposer_confidence", "environment")


class Fetched(NamedTuple):
    """A decoded record: where it was, its event's short name and record, its bytes and time, and
    whether its producer decided it (``flywheel-decided-by``). Built from a 4-tuple too."""

    partition: int
    offset: int
    event: str
    record: dict[str, Any]
    value: bytes = b""
    timestamp_ms: int = 0
    decided_elsewhere: bool = False


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a range: an offset on every partition, or a time."""

    offset: int | None = None
    time: datetime | None = None

    def describe(self) -> str:
        return str(self.offset) if self.time is None else self.time.isoformat()


def parse_bound(text: str | None) -> Bound | None:
    """``"1200"`` is an offset, ``"2026-11-23T10:00:00Z"`` a time; InvalidInputError otherwise."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text.isdigit():
        return Bound(offset=int(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{text!r} is neither an offset nor an ISO 8601 time") from None
    return Bound(time=moment if moment.tzinfo else moment.replace(tzinfo=UTC))


class RangeReader:
    """Reads a range of a topic as (partition, offset, decoded record or Skipped)."""

    def __init__(self, settings: Settings, codec: EventCodec) -> None:
        self.settings = settings
        self.codec = codec

    def spans(
        self, consumer: Consumer, topic: str, start: Bound | None, end: Bound | None
    ) -> list[Span]:
        spans = []
        for partition in partitions_of(consumer, topic, TIMEOUT_S):
            tp = TopicPartition(topic, partition)
            low, high = watermarks(consumer, tp, TIMEOUT_S)
            first = _resolve(consumer, tp, start, low, high, inclusive=True)
            last = _resolve(consumer, tp, end, high, high, inclusive=False)
            spans.append(Span(partition, max(first, low), min(last, high)))
        return spans

    def read(
        self, topic: str, start: Bound | None, end: Bound | None
    ) -> Iterator[Fetched | Skipped]:
        group = reader_group("replay")
        consumer = Consumer(consumer_config(self.settings, group, {"enable.auto.commit": False}))
        try:
            for msg in read_spans(consumer, topic, self.spans(consumer, topic, start, end)):
                partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
                yield self._decode(topic, partition, offset, msg)
        finally:
            consumer.close()

    def _decode(self, topic: str, partition: int, offset: int, msg: Message) -> Fetched | Skipped:
        value = msg.value()
        if value is None:
            return Skipped(topic, partition, offset, "empty: a record without a value")
        try:
            event, record = self.codec.decode_record(value)
        except (CodecError, RecursionError) as exc:
            return Skipped(topic, partition, offset, f"undecodable: {exc}")
        decided = decided_elsewhere(msg.headers()) is not None
        return Fetched(partition, offset, event, record, value, msg.timestamp()[1], decided)


@dataclass
class History:
    """The cases of a range, with what was passed over; fill ``verdicts`` before iterating."""

    reader: RangeReader
    proposals_topic: str
    verdicts_topic: str
    start: Bound | None = None
    end: Bound | None = None

    def __post_init__(self) -> None:
        self.skipped: list[Skipped] = []
        self.verdicts: dict[str, Decision] = {}
        self._chains = ReviseChains({})
        self._templates: dict[tuple[Any, ...], Proposal] = {}
        self._now_s = 0.0
        decode = partial(session_event, self.reader.codec)
        self.sessions = SessionBook({}, {}, decode, clock=lambda: self._now_s)

    def load_verdicts(self) -> None:
        """The enforced verdict of every proposal decided since the start of the range."""
        since = None if self.start is None or self.start.time is None else self.start
        for item in self.reader.read(self.verdicts_topic, since, None):
            if isinstance(item, Skipped):
                continue
            record = item.record
            if item.event == "VerdictIssued" and record.get("enforced", True):
                self.verdicts[str(record["proposal_id"])] = Decision(record["decision"])

    def cases(self) -> Iterator[Case]:
        for item in self.reader.read(self.proposals_topic, self.start, self.end):
            case = self.case_of(item)
            if case is not None:
                yield case

    def case_of(self, item: Fetched | tuple[Any, ...] | Skipped) -> Case | None:
        """The case of one fetched record, in topic order; None (and noted) if it is not one."""
        if isinstance(item, Skipped):
            self.skipped.append(item)
            return None
        fetched = Fetched(*item)
        self._now_s = max(self._now_s, fetched.timestamp_ms / 1000)
        self.sessions.sweep(fetched.partition)
        if fetched.event in SESSION_EVENTS:
            self._fold(fetched)
            return None
        if fetched.event != "ProposalSubmitted":
            self._skip(fetched, f"not a proposal: {fetched.event}")
            return None
        try:
            proposal = self._proposal(fetched.record["proposal"])
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            self._skip(fetched, f"invalid proposal: {_detail(exc)}")
            return None
        recorded = self.verdicts.get(str(proposal.proposal_id))
        depth = self._chains.depth(proposal)
        if recorded is not None:
            self._chains.record(proposal.proposal_id, depth, recorded)
        return Case(proposal, recorded, depth, self._session(proposal, fetched))

    def _fold(self, fetched: Fetched) -> None:
        """Fold a session event into its session, as the gate does."""
        try:
            event = session_event(self.reader.codec, fetched.value)
        except (CodecError, ValidationError) as exc:
            self._skip(fetched, f"invalid session event: {_detail(exc)}")
            return
        where = (fetched.partition, fetched.offset, fetched.timestamp_ms)
        self.sessions.apply(event, fetched.value, *where)

    def _session(self, proposal: Proposal, fetched: Fetched) -> SessionContext:
        """The proposal's session context at this point (see the module rules)."""
        where = (fetched.partition, fetched.timestamp_ms)
        found = self.sessions.context(proposal.proposer_id, proposal.session_id, *where)
        return EMPTY if found is None else found

    def _skip(self, fetched: Fetched, reason: str) -> None:
        topic = self.proposals_topic
        self.skipped.append(Skipped(topic, fetched.partition, fetched.offset, reason))

    def _proposal(self, raw: dict[str, Any]) -> Proposal:
        """The proposal model; validated in full the first time its decision input is seen."""
        risk = raw["risk"]
        key = (raw["tool"], raw["arguments"], *(risk[field] for field in RISK_FIELDS))
        template = self._templates.get(key)
        if template is None:
            proposal = Proposal.model_validate(raw)
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = proposal
            return proposal
        parent = raw["parent_proposal_id"]
        return template.model_copy(
            update={
                "proposal_id": uuid.UUID(str(raw["proposal_id"])),
                "proposer_id": str(raw["proposer_id"]),
                "session_id": str(raw["session_id"]),
                "reasoning": raw["reasoning"],
                "parent_proposal_id": None if parent is None else uuid.UUID(str(parent)),
            }
        )


def _detail(exc: Exception) -> str:
    return str(exc.errors()[0]["msg"]) if isinstance(exc, ValidationError) else repr(exc)


def _resolve(
    consumer: Consumer,
    tp: TopicPartition,
    bound: Bound | None,
    default: int,
    high: int,
    *,
    inclusive: bool,
) -> int:
    if bound is None:
        return default
    if bound.time is None:
        assert bound.offset is not None
        return bound.offset if inclusive else bound.offset + 1
    asked = TopicPartition(tp.topic, tp.partition, int(bound.time.timestamp() * 1000))
    (found,) = consumer.offsets_for_times([asked], timeout=TIMEOUT_S)
    return high if found.offset < 0 else int(found.offset)
