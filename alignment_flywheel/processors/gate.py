"""The gate: decides every proposal on Kafka; one verdict per proposal, as consumers see it.

The gate is not a faust worker: its hot path is a confluent-kafka loop with Kafka transactions
(docs/architecture.md, "Why the gate is not a faust worker"). Records are taken as soon as one is
there (up to :data:`BATCH` at a time) and handled at once; what was handled while a commit was
pending is committed together, in the next transaction, as soon as that commit returned (group
commit: a record waits for at most the rest of one commit, then its own). Per record:

1. Each record is routed (:mod:`~alignment_flywheel.processors.gate_records`): passed over when
   decided in process (header ``flywheel-decided-by``) or a tombstone; a session event is folded
   into its session's context (per session and partition, in offset order, idempotent, bounded,
   idle sessions expired: :mod:`~alignment_flywheel.oracle.session_book`); a proposal is decided;
   anything else is dead-lettered with its original bytes (or an excerpt with their length and
   SHA-256) and the reason.
2. The decider (the enforcer, in process) decides in the context of the proposal's session on the
   proposal's partition (the empty context when that partition holds none of it), at the revise
   depth its chain has spent (:mod:`~alignment_flywheel.processors.gate_core`). It fails closed on
   oracle failures; :class:`~alignment_flywheel.errors.InvalidInputError` from it dead-letters
   the record; any other exception stops the worker with an error (no silent restart).
3. ``VerdictIssued`` goes to the verdicts topic keyed by the proposal id; for ESCALATE, a
   ``ReviewRequested`` to the reviews topic; during a rollout the shadow verdict too. Each goes to
   the partition with the number of the proposal's partition when its topic has as many
   partitions as the proposals topic, else to the one its session key hashes to
   (:class:`~alignment_flywheel.processors.gate_events.Placement`).
4. The verdicts, reviews, dead letters, state writes
   (:mod:`~alignment_flywheel.processors.gate_state`) and the input offsets of everything handled
   since the last transaction (``send_offsets_to_transaction`` with the consumer's group metadata,
   KIP-447) are committed in **one transaction**, on a background thread while the next records
   are handled (:meth:`~alignment_flywheel.processors.gate_txn.Transactions.submit`); the next
   transaction begins once that commit returned. When :data:`MAX_HELD` records wait, the worker
   waits for the commit before it takes more. A revoke commits what was handled, then waits for
   that commit.

Exactly one verdict per proposal, as a ``read_committed`` consumer sees it: a batch's verdicts are
visible if and only if its input offsets are committed. A transaction that fails is aborted, the
consumer rewinds to the committed offsets, the session state is restored from its topic and the
revise-spent writes made since the last commit are taken back, then its records (and those
handled meanwhile, which were not sent) are decided again; a worker killed mid-batch leaves an
open transaction that the broker aborts after ``transaction.timeout.ms`` (10 s,
:mod:`~alignment_flywheel.processors.gate_txn`), and whoever takes its partitions decides those
records again. A zombie (a worker that lost its partitions) is fenced by the group generation in
its offset commit. What is emitted for a record
has ids and times derived from it, so a record decided twice (once aborted) yields the same event
ids.

A fatal producer error (e.g. fenced) stops the worker with a :class:`KafkaTransportError`. A lost
broker is waited for: every client keeps retrying, the worker logs that it lost the cluster and,
once a transaction commits again, that it is back.

The transactional id is the catalog prefix (``flywheel-gate``) and a random suffix per process
(KIP-447: the group metadata fences zombies, so the id need not be stable). Five aborted
transactions in a row (:data:`MAX_ABORTS`) stop the worker with an error; a batch whose record the
broker refused for its size is retried with dead letters cut to an excerpt first.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as TP

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.errors import InvalidInputError, KafkaTransportError
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import consumer_config, partitions_of
from alignment_flywheel.kafka.deadletter import MIN_EXCERPT_BYTES
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.kafka.replication import ReplicationPolicy
from alignment_flywheel.oracle.provenance import EMPTY, SessionContext
from alignment_flywheel.oracle.session_book import SessionBook, session_event
from alignment_flywheel.processors.gate_core import REVISE_SPENT, VERDICTS, GateCore, Submission
from alignment_flywheel.processors.gate_events import Placement
from alignment_flywheel.processors.gate_records import (
    Fold,
    Propose,
    Record,
    Reject,
    Skip,
    classify,
    dead_letter_value,
    decider_call,
    takes_session,
)
from alignment_flywheel.processors.gate_state import (
    ReviseSpent,
    SessionStore,
    ensure_topics,
    state_topics,
)
from alignment_flywheel.processors.gate_txn import (
    Pending,
    Send,
    Transactions,
    group_timeouts,
    kafka_error,
    transactional_overrides,
)
from alignment_flywheel.roles import group_for, partitions_for, topic_for

__all__ = ["DEFAULT_APP_ID", "Gate", "GateStats", "GateTopics", "build_gate", "catalog_topics"]

log = logging.getLogger(__name__)

DEFAULT_APP_ID = group_for("gate")
BATCH = 500
MAX_HELD = 5_000
"""Records handled and waiting for the pending commit before the worker waits for it."""
WAIT_S = 0.1
HELD_POLL_S = 0.001
"""How long a poll waits while handled records wait for the pending commit to return."""
MAX_ABORTS = 5
REQUEST_LIMIT = 1_000_000
"""The largest dead letter the gate sends (as the faust workers' producer request limit)."""
SMALL_LETTER_BYTES = 4 * MIN_EXCERPT_BYTES
"""The dead letters of a batch retried after the broker refused a record for its size."""
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD})


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
    dead_lettered: int = 0
    session_events: int = 0
    session_duplicates: int = 0
    aborted: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)


class Gate:
    """One gate worker: its consumer, transactional producer and state. Build with
    :func:`build_gate`, run with :meth:`run`."""

    def __init__(
        self,
        settings: Settings,
        decider: Decider,
        *,
        app_id: str = DEFAULT_APP_ID,
        topics: GateTopics | None = None,
    ) -> None:
        self.topics = topics or GateTopics()
        self.decider = decider
        self.stats = GateStats()
        self.app_id = app_id
        self._settings = settings
        self._identity = settings.identity
        self._codec = EventCodec.from_settings(settings)
        self._core = GateCore(
            self._codec,
            decider_call(decider),
            producer=self._identity,
            review_timeout_s=settings.review_timeout_s,
        )
        self._takes_session = takes_session(decider)
        self._revise_topic, self._session_topic = state_topics(app_id)
        self._placement: Placement | None = None
        self._max_bytes = self._letter_bytes = REQUEST_LIMIT
        self._aborts = 0
        self._sends: list[Send] = []
        self._ends: dict[int, int] = {}
        self._count = 0
        self._pending: Pending | None = None

    def run(self, stop: threading.Event | None = None) -> GateStats:
        """Decide until ``stop`` is set; raises on a fatal error (see the module rules)."""
        stop = stop or threading.Event()
        self._start()
        try:
            while not stop.is_set():
                self._step()
            self._submit()
            self._settle()
        finally:
            self._close()
        return self.stats

    def _start(self) -> None:
        admin = admin_client(self._settings)
        names = (self._revise_topic, self._session_topic)
        policy = ReplicationPolicy.from_settings(self._settings)
        ensure_topics(admin, names, self.topics.partitions, policy)
        self._placement = Placement(
            *(
                len(partitions_of(admin, t, 30))
                for t in (self.topics.proposals, self.topics.verdicts, self.topics.reviews)
            )
        )
        config = producer_config(self._settings, transactional_overrides())
        self._max_bytes = min(int(config["message.max.bytes"]), REQUEST_LIMIT)
        self._letter_bytes = self._max_bytes
        self._txn = Transactions(config)
        self._txn.init()
        self._revise = ReviseSpent(self._settings, self._revise_topic, self.topics.partitions)
        self._revise.catch_up()
        self._store = SessionStore(self._settings, self._session_topic)
        self._book = SessionBook(
            self._store.heads, self._store.events, lambda raw: session_event(self._codec, raw)
        )
        overrides: dict[str, Any] = {
            **group_timeouts(self._settings),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 50,
            "error_cb": self._txn.health.on_error,
        }
        self._consumer = Consumer(consumer_config(self._settings, self.app_id, overrides))
        self._consumer.subscribe(
            [self.topics.proposals], on_assign=self._assigned, on_revoke=self._revoked
        )

    def _assigned(self, _consumer: Any, partitions: list[TP]) -> None:
        mine = sorted(tp.partition for tp in partitions)
        log.warning("gate %s: assigned partitions %s of %s", self._identity, mine, self.app_id)
        self._txn.health.answered()
        self._store.restore(mine)

    def _revoked(self, _consumer: Any, partitions: list[TP]) -> None:
        self._submit()
        self._settle()
        self._store.forget({tp.partition for tp in partitions})

    def _step(self) -> None:
        first = self._consumer.poll(HELD_POLL_S if self._ends else WAIT_S)
        self._revise.poll()
        if first is not None:
            batch = [first, *self._consumer.consume(BATCH - 1, 0)]
            self._handle_all([Record.of(m) for m in batch if self._usable(m)])
        pending = self._pending
        if pending is None or pending.done() or self._count >= MAX_HELD:
            self._submit()

    def _submit(self) -> None:
        """Wait for the pending commit, then commit what was handled since (if anything)."""
        if not self._ends:
            self._settle()
            return
        offsets = [TP(self.topics.proposals, p, o) for p, o in self._ends.items()]
        sends, self._sends, self._ends, self._count = self._sends, [], {}, 0
        if self._settle():
            metadata = self._consumer.consumer_group_metadata()
            self._pending = self._txn.submit(sends, offsets, metadata)
            self._revise.submitted()

    def _settle(self) -> bool:
        """Wait for the pending commit; False when it failed (aborted, rewound: the records handled
        meanwhile are dropped unsent and read again)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return True
        failure = pending.settle()
        self._revise.settled(failure is None)
        if failure is not None:
            self._sends, self._ends, self._count = [], {}, 0
            self._recover(failure)
            return False
        self._aborts, self._letter_bytes = 0, self._max_bytes
        return True

    def _usable(self, msg: Any) -> bool:
        error: KafkaError | None = msg.error()
        if error is None:
            return True
        if error.fatal():
            raise KafkaTransportError(f"the gate's consumer failed: {error.str()}")
        self._txn.health.lost(f"consumer: {error.str()}")
        return False

    def _handle_all(self, records: list[Record]) -> None:
        ends = self._ends
        for record in records:
            self._handle(record)
            ends[record.partition] = record.offset + 1
        self._count += len(records)
        for partition, key, value in self._store.pending():
            self._sends.append((self._session_topic, key, value, partition))

    def _handle(self, record: Record) -> None:
        self._store.partition = record.partition
        self._book.sweep(record.partition)
        routed = classify(self._codec, record)
        if isinstance(routed, Skip):
            if routed.decided_by is not None:
                self.stats.skipped_decided_elsewhere += 1
        elif isinstance(routed, Fold):
            self._fold(routed, record)
        elif isinstance(routed, Reject):
            self._dead_letter(record, routed.error)
        else:
            try:
                self._decide(routed, record)
            except InvalidInputError as exc:
                self._dead_letter(record, exc)

    def _fold(self, routed: Fold, record: Record) -> None:
        self.stats.session_events += 1
        assert record.value is not None
        where = (record.partition, record.offset, record.timestamp_ms)
        if not self._book.apply(routed.event, record.value, *where):
            self.stats.session_duplicates += 1

    def _session(self, routed: Propose, record: Record) -> SessionContext | None:
        if not self._takes_session:
            return None
        proposal = routed.proposal
        found = self._book.context(
            proposal.proposer_id, proposal.session_id, record.partition, record.timestamp_ms
        )
        return found or EMPTY

    def _decide(self, routed: Propose, record: Record) -> None:
        submission = Submission(
            routed.envelope, routed.proposal, self._session(routed, record), record.occurred_at
        )
        stepped = self._core({REVISE_SPENT: self._revise.spent}, submission)
        for key, value in self._revise.record(stepped.writes.get(REVISE_SPENT, {})):
            self._sends.append((self._revise_topic, key, value, record.partition))
        assert self._placement is not None
        proposal = routed.proposal
        where = (record.partition, proposal.proposer_id, proposal.session_id)
        for out in stepped.emitted:
            to_verdicts = out.topic == VERDICTS
            topic = self.topics.verdicts if to_verdicts else self.topics.reviews
            count = self._placement.verdicts if to_verdicts else self._placement.reviews
            self._sends.append((topic, out.key, out.value, self._placement.place(count, *where)))
        decision = stepped.emitted[0].decision
        assert decision is not None
        self.stats.decided += 1
        self.stats.by_decision[decision.value] = self.stats.by_decision.get(decision.value, 0) + 1

    def _dead_letter(self, record: Record, error: InvalidInputError) -> None:
        log.warning("gate: dead-lettering %s: %s", record.position, error)
        value = dead_letter_value(
            self._codec,
            record,
            error,
            producer=self._identity,
            group=self.app_id,
            max_bytes=self._letter_bytes,
        )
        key = record.position.encode()
        self._sends.append((self.topics.dead_letters, key, value, None))
        self.stats.dead_lettered += 1

    def _recover(self, exc: KafkaException) -> None:
        """Abort the batch's transaction, rewind to the committed offsets, restore the sessions.
        A record the broker refuses for its size shrinks the dead letters of the batch's retry to
        an excerpt; :data:`MAX_ABORTS` aborts in a row stop the worker."""
        self._txn.abort(exc)
        self.stats.aborted += 1
        self._aborts += 1
        error = kafka_error(exc)
        if self._aborts >= MAX_ABORTS:
            raise KafkaTransportError(
                f"the gate's transaction was aborted {self._aborts} times in a row, the last "
                f"time for {error.str() if error else exc}; its records stay uncommitted"
            ) from exc
        if error is not None and error.code() in _TOO_LARGE:
            self._letter_bytes = SMALL_LETTER_BYTES
        assignment = self._consumer.assignment()
        if not assignment:
            return
        committed = self._txn.health.retrying(
            "read the committed offsets", lambda: self._consumer.committed(assignment, 30)
        )
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._consumer.seek(TP(tp.topic, tp.partition, offset))
        self._store.restore(sorted(tp.partition for tp in assignment))

    def _close(self) -> None:
        for close in ("_txn", "_consumer", "_revise"):
            client = getattr(self, close, None)
            if client is not None:
                client.close()


def build_gate(
    settings: Settings,
    decider: Decider,
    *,
    app_id: str = DEFAULT_APP_ID,
    topics: GateTopics | None = None,
) -> Gate:
    """A gate worker. ``app_id`` is the consumer group: workers sharing it share the load."""
    return Gate(settings, decider, app_id=app_id, topics=topics)


def catalog_topics() -> GateTopics:
    """The gate's topics as the catalog defines them (partition count of the proposals topic)."""
    return GateTopics()
