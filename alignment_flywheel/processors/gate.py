"""The gate: a faust processor that decides every proposal on Kafka, exactly once per proposal.

Flow, per record of the proposals topic (raw bytes):

1. A record with the header ``flywheel-decided-by`` (``sdk``, ``http``) was already decided in
   process by its producer; the gate counts it and passes over it (no decision, no verdict).
2. The bytes are decoded with the shared codec. A record that does not decode (garbage, unknown
   fingerprint, schema or model violation, oversized) is dead-lettered with its original bytes (an
   excerpt with their length and SHA-256 when they would not fit the producer's request limit) and
   the reason; a decoded event that is not a ``ProposalSubmitted`` is dead-lettered too, and so is
   a record nested so deeply that decoding its JSON overflows the recursion limit. The session
   events the topic also carries (``SessionStarted``, ``ToolResultObserved``) are folded into
   the session's context (:mod:`~alignment_flywheel.oracle.session_book`: per session and
   partition, in offset order, idempotent, bounded, idle sessions expired), whoever decides the
   session's proposals.
3. The :class:`Decider` (the enforcer, in process and synchronous) decides, in the context of the
   proposal's session on the proposal's partition (the empty context when that partition holds
   no event of the session: provenance ``none``, stricter, never looser), passed as ``session=``
   when its ``decide`` takes the keyword (a decider without it decides as before). It fails
   closed on oracle failures; if it raises :class:`~alignment_flywheel.errors.InvalidInputError`
   the record is dead-lettered. Any other exception stops the worker (mode's crashing
   supervisor): no silent restart. An unknown tool is not an error: the oracle has no rule for it
   and the risk policy decides.
4. ``VerdictIssued`` goes to the verdicts topic keyed by the proposal id; for ESCALATE, a
   ``ReviewRequested`` (deadline = now + ``review_timeout_s``) goes to the reviews topic, same key.
   Each goes to the partition with the number of the proposal's partition when its topic has as
   many partitions as the proposals topic (counts read from the cluster before the first
   verdict), else to the one its session key hashes to (:class:`.gate_events.Placement`).

Exactly one verdict per proposal, across restarts:

* The decision id is ``uuid5(DECISION_NAMESPACE, proposal_id)`` and the review id
  ``uuid5(REVIEW_NAMESPACE, proposal_id)``: any verdict ever issued for a proposal carries the same
  ids, whichever worker issued it.
* The table ``decided`` (changelog-backed, compacted, co-partitioned with the proposals topic)
  maps proposal id → the encoded ``VerdictIssued``. A proposal found in it is not decided again:
  a record redelivered after a crash re-sends the verdict issued before, byte for byte (and its
  review request, same review id and deadline), never a new decision. Re-sending, rather than
  emitting nothing, matters: the table's changelog write and the verdict are separate records and
  a crash can keep one and lose the other. The cost: every record processed after the last
  offset commit is re-sent after a crash (a few hundred byte-identical verdicts, same event id,
  in the SIGKILL test). The table is windowed by the record's timestamp (tumbling
  :data:`DEDUP_WINDOW`, dropped after :data:`DEDUP_EXPIRES`), so it stays bounded; a redelivered
  record has the same timestamp, hence the same window. Expiry is relative to the newest record
  timestamp seen on the partition (stream time, not wall-clock time, so downtime does not expire
  anything), and a redelivered record is at most one commit interval (~3 s) older in stream time
  than the newest one processed before the crash. Memory: about rate * DEDUP_EXPIRES verdicts.
* A proposal is acknowledged (so faust may commit past it) only once the broker has confirmed its
  verdict and review, in offset order per partition
  (:class:`~alignment_flywheel.processors.streams.DeliveryAcks`; faust's own acks are off), and
  faust flushes the producer before it commits, so a committed proposal always has its verdict on
  the broker, and only records after the last commit are ever redelivered. The verdict (and
  review) is handed to the aiokafka producer without waiting, and the changelog record of the
  ``decided`` write just before it (:meth:`Gate._publish_changelog`): with ``linger`` 0 both leave
  in the same produce request or the changelog first, unless its partition already has a full
  16 KiB batch waiting. A record the producer fails to deliver is never acknowledged and stops the
  worker at the next record (:class:`~alignment_flywheel.errors.KafkaTransportError`). If a crash
  loses the changelog write but not the verdict, the redelivered proposal is decided again with
  the same decision id (new event id); its content could differ only if the oracle had been
  swapped in between. Faust's ``processing_guarantee="exactly_once"`` (transactions) was tried
  with this broker and aiokafka 0.14: in the SIGKILL test it issued more duplicates (89 of 1,200,
  all with the same decision) than the table and ran slower, so it is not used.

Performance: the measurements, what was changed for them and what was not are in
``docs/gate-performance.md``; ``benchmarks/gate.py`` measures it.

Revise loop: a REVISE verdict carries the amendment; the proposer resubmits with
``parent_proposal_id``. The revise depth passed to ``decide(revision_depth=...)`` follows the rule
every decider counts with (:mod:`alignment_flywheel.enforcement.revise`), over the global table
``revise-spent``: what each proposal of a revise chain spent, on every worker, whatever partition
the parent was on. The table is replicated through its changelog: a child reaching another worker
within milliseconds of its parent's REVISE could be decided at the floor depth of a parent not
seen (the proposer normally resubmits after reading the verdict). The risk policy enforces the
budget.

Rollouts: when the decider has ``decide_staged`` (the staged enforcer that ``flywheel gate run``
deploys releases into), the shadow verdict of a SHADOW or CANARY release is sent to the verdicts
topic beside the enforced one (``enforced`` false, its own uuid5 decision id), for the release
controller's metrics; it is not kept in the ``decided`` table.

Hot reload of the oracle (issue #4): the seam is ``Enforcer.swap_oracle``; the gate holds the
enforcer, never the oracle.

The dedup, the revise depth and the emit order are the gate's pure core
(:mod:`~alignment_flywheel.processors.gate_core`, where their restart rules are tested without a
broker); :class:`Gate` decodes, steps, writes the tables, hands the records to the producer and
acknowledges.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk.sessions import takes_keyword
from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import (
    Decision,
    Proposal,
    SessionStarted,
    ToolResultObserved,
)
from alignment_flywheel.events.ids import (
    DECISION_NAMESPACE,
    REVIEW_NAMESPACE,
    decision_id_for,
    review_id_for,
)
from alignment_flywheel.governance.step import write_into
from alignment_flywheel.kafka.headers import DECIDED_BY_HEADER, decided_elsewhere
from alignment_flywheel.oracle.provenance import EMPTY, SessionContext, SessionEvent
from alignment_flywheel.oracle.session_book import SessionBook, session_event, stamp_ms
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.gate_core import (
    DECIDED,
    REVISE_SPENT,
    VERDICTS,
    GateCore,
    Outgoing,
    Submission,
)
from alignment_flywheel.processors.gate_events import (
    GateOutput,
    Placement,
    Route,
    decode_proposals_record,
    gate_output,
    read_placement,
    review_request,
)
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    DeliveryAcks,
    raw_topic,
    unacknowledged,
)
from alignment_flywheel.roles import group_for, partitions_for, topic_for

__all__ = [
    "DECIDED_BY_HEADER",
    "DECISION_NAMESPACE",
    "DEFAULT_APP_ID",
    "REVIEW_NAMESPACE",
    "Decider",
    "Gate",
    "GateOutput",
    "GateStats",
    "GateTopics",
    "build_gate",
    "catalog_topics",
    "decided_elsewhere",
    "decision_id_for",
    "gate_output",
    "review_id_for",
    "review_request",
]

log = logging.getLogger(__name__)

DEFAULT_APP_ID = group_for("gate")
DEDUP_WINDOW = timedelta(seconds=30)
DEDUP_EXPIRES = timedelta(minutes=2)
GATE_APP_OPTIONS: dict[str, Any] = {
    "consumer_max_fetch_size": 256 * 1024,
}
"""Faust settings of the gate's app (overridable through ``build_gate``), see the docstring."""


@dataclass(frozen=True)
class GateTopics:
    """Topic names (catalog names by default) and the partition count of the proposals topic."""

    proposals: str = topic_for("ProposalSubmitted")
    verdicts: str = topic_for("VerdictIssued")
    reviews: str = topic_for("ReviewRequested")
    dead_letters: str = topic_for("DeadLettered")
    partitions: int = partitions_for("ProposalSubmitted")


@dataclass
class GateStats:
    """What a gate worker did since it started."""

    decided: int = 0
    skipped_decided_elsewhere: int = 0
    already_decided: int = 0
    dead_lettered: int = 0
    session_events: int = 0
    session_duplicates: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)


class Gate:
    """The gate's faust app, its topics, tables and counters. Build with :func:`build_gate`."""

    def __init__(
        self,
        settings: Settings,
        decider: Decider,
        *,
        app_id: str = DEFAULT_APP_ID,
        topics: GateTopics | None = None,
        **app_overrides: Any,
    ) -> None:
        self.topics = topics or GateTopics()
        self.decider = decider
        self.stats = GateStats()
        self._settings = settings
        self._producer_id = settings.identity
        self._codec = EventCodec.from_settings(settings)
        self._acks = DeliveryAcks()
        self._deliveries: list[asyncio.Future[Any]] = []
        self._placement: Placement | None = None
        decide = getattr(decider, "decide_staged", decider.decide)
        self._takes_session = takes_keyword(decide, "session")
        self._core = GateCore(
            self._codec,
            self._verdicts,
            producer=self._producer_id,
            review_timeout_s=settings.review_timeout_s,
        )
        options = {"topic_partitions": self.topics.partitions, **GATE_APP_OPTIONS}
        self.app = create_app(settings, app_id, **{**options, **app_overrides})
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        self._source = raw_topic(app, names.proposals)
        dead_topic = raw_topic(app, names.dead_letters)
        self._dead_letters = DeadLetterWriter(
            dead_topic, self._codec, producer=self._producer_id, group=app_id
        )
        self.decided = (
            app.Table("decided", default=None, partitions=names.partitions, value_type=bytes)
            .tumbling(DEDUP_WINDOW, expires=DEDUP_EXPIRES)
            .relative_to_stream()
        )
        self.revise_spent = app.GlobalTable(
            "revise-spent", default=None, partitions=names.partitions, value_type=int
        )
        heads, events = (
            app.Table(name, default=None, partitions=names.partitions, value_type=bytes)
            for name in ("session-heads", "session-events")
        )
        self.sessions = SessionBook(heads, events, partial(session_event, self._codec))
        agent(app, self._source, name="gate")(self._run)

    async def _run(self, stream: Any) -> None:
        async for event in unacknowledged(stream):
            await self.handle(event.message)
            deliveries, self._deliveries = self._deliveries, []
            self._acks.track(event, deliveries)

    async def handle(self, message: Any) -> None:
        """Apply the rules of the module docstring to one raw record."""
        self._acks.check()
        self.sessions.sweep(message.partition)
        if decided_elsewhere(message.headers) is not None:
            self.stats.skipped_decided_elsewhere += 1
            return
        if message.value is None:
            return
        try:
            decoded = decode_proposals_record(self._codec, message.value)
            if isinstance(decoded, SessionStarted | ToolResultObserved):
                self._fold(decoded, message)
                return
            await self._decide(*decoded, message)
        except InvalidInputError as exc:
            await self._dead_letters.publish(message, exc)
            self.stats.dead_lettered += 1

    def _fold(self, event: SessionEvent, message: Any) -> None:
        self.stats.session_events += 1
        stamp = stamp_ms(message)
        if not self.sessions.apply(event, message.value, message.partition, message.offset, stamp):
            self.stats.session_duplicates += 1

    def _session(self, proposal: Proposal, message: Any) -> SessionContext | None:
        """The proposal's session context on its partition (None: the decider takes none)."""
        if not self._takes_session:
            return None
        where = (message.partition, stamp_ms(message))
        return self.sessions.context(proposal.proposer_id, proposal.session_id, *where) or EMPTY

    async def _decide(self, envelope: dict[str, Any], proposal: Proposal, message: Any) -> None:
        key = str(proposal.proposal_id)
        route = await self._route(proposal, message.partition)
        if key in self.decided:
            await self._emit(self._core.again(key, self.decided[key].current()), route)
            self.stats.already_decided += 1
            return
        submission = Submission(envelope, proposal, self._session(proposal, message))
        stepped = self._core.decide({REVISE_SPENT: self.revise_spent}, key, submission)
        write_into(self.revise_spent, stepped.writes.get(REVISE_SPENT, {}))
        write_into(self.decided, stepped.writes[DECIDED])
        await self._publish_changelog()
        await self._emit(stepped.emitted, route)
        decision = stepped.emitted[0].decision
        assert decision is not None
        self._count(decision)

    async def _route(self, proposal: Proposal, source: int) -> Route:
        """Where the records decided for a proposal read from partition ``source`` go."""
        if self._placement is None:
            faust_producer: Any = self.app.producer
            names = (self.topics.proposals, self.topics.verdicts, self.topics.reviews)
            self._placement = await read_placement(faust_producer._ensure_producer(), *names)
        return Route(self._placement, source, proposal)

    def _verdicts(
        self, proposal: Proposal, depth: int, session: SessionContext | None
    ) -> tuple[Verdict, Verdict | None]:
        """The enforced verdict and, during a rollout, the shadow verdict (not kept in the
        ``decided`` table: a redelivered proposal re-sends only its enforced verdict)."""
        options: dict[str, Any] = {"revision_depth": depth}
        if session is not None:
            options["session"] = session
        staged = getattr(self.decider, "decide_staged", None)
        if staged is None:
            return self.decider.decide(proposal, **options), None
        both = staged(proposal, **options)
        return both.enforced, both.shadow

    async def _emit(self, records: tuple[Outgoing, ...], route: Route) -> None:
        """Send what the core emitted, in its order, each to its topic's partition."""
        for record in records:
            if record.topic == VERDICTS:
                await self._send(self.topics.verdicts, record.key, record.value, route.verdicts)
            else:
                await self._send(self.topics.reviews, record.key, record.value, route.reviews)

    async def _publish_changelog(self) -> None:
        """Hand the table writes just made to the producer now, before the verdict (see above).

        A table write only queues its changelog record in faust's producer buffer, drained by a
        background task; the verdict is sent directly. Draining the queue here, in order, puts the
        changelog record in the producer before the verdict, as with faust's own ``Topic.send``.
        """
        buffer: Any = self.app.producer.buffer  # faust's ProducerBuffer (``pending`` is FIFO)
        pending: asyncio.Queue[Any] = buffer.pending
        while not pending.empty():
            queued = pending.get_nowait()
            await queued.message.channel.publish_message(queued, wait=False)
        buffer.message_sent.set()

    async def _send(self, topic: str, key: bytes, value: bytes, partition: int) -> None:
        """Hand a record to the app's producer; its record is acknowledged once it is delivered."""
        pending = await self.app.producer.send(
            topic, key, value, partition=partition, timestamp=None, headers=None
        )
        self._deliveries.append(asyncio.ensure_future(pending))

    def _count(self, decision: Decision) -> None:
        self.stats.decided += 1
        self.stats.by_decision[decision.value] = self.stats.by_decision.get(decision.value, 0) + 1


def build_gate(
    settings: Settings,
    decider: Decider,
    *,
    app_id: str = DEFAULT_APP_ID,
    topics: GateTopics | None = None,
    **app_overrides: Any,
) -> Gate:
    """A gate worker's app. ``app_id`` is the consumer group: workers sharing it share the load."""
    return Gate(settings, decider, app_id=app_id, topics=topics, **app_overrides)


def catalog_topics() -> GateTopics:
    """The gate's topics as the catalog defines them (partition count of the proposals topic)."""
    return GateTopics()
