"""The ledger processor: every record of the audited topics into RFC 6962 logs, signed tree heads
out to the ledger topic.

A plain confluent-kafka loop rather than a faust agent: the ledger's position in each partition is
its own durable leaf store (:class:`~alignment_flywheel.audit.ledger.LeafStore`), not a consumer
group's committed offset, so it assigns the partitions itself and seeks to exactly the record
after the last stored leaf. One worker per deployment (the logs are appended in one process).

Rules:

* One log per partition of each audited topic (``"<topic>/<partition>"``); leaf ``i`` is the
  ``i``-th record of the partition in offset order, its data the value bytes as stored. Nothing is
  decoded, so there is nothing to dead-letter: every record is covered, bad or good.
* After each batch the new leaves are appended to the store and fsynced; only then may a
  checkpoint cover them. A log gets a checkpoint when ``every`` leaves have been added since its
  last one, or when ``interval_ms`` have passed and it has unsigned leaves.
* Memory per log is O(log n): the worker keeps only the frontier of complete subtrees
  (:class:`~alignment_flywheel.audit.merkle.MerkleFrontier`); proofs are served by the verifier
  from the store or the topic.
* Restart: the store is read and must reproduce the root of the log's last checkpoint on the
  ledger topic (signed by this worker's key); otherwise :class:`LedgerResumeError`, the worker
  stops. A store shorter than that checkpoint (lost) is rebuilt from the checkpoint's
  ``first_offset``, and the rebuilt log must reproduce every checkpoint it passes, or the worker
  stops with :class:`LedgerResumeError`: a changed topic is reported, never signed over.
* A clean stop (SIGTERM) signs every log with unsigned leaves first. Transient client errors
  (broker down, timeouts) are logged and retried by the client; any other error stops the worker.
* Partitions are read from where the store ends (or the partition's start); partitions added to
  an audited topic after the worker started are picked up at the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.audit.ledger import (
    Leaf,
    LeafStore,
    checkpoint_signed_by,
    leaf_of,
    log_id_for,
    signed_checkpoint,
)
from alignment_flywheel.audit.merkle import MerkleFrontier
from alignment_flywheel.audit.source import TIMEOUT_S, read_checkpoints, reader
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError, UntrustedError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.kafka.consumer import partitions_of
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.roles import role, topic_for

log = logging.getLogger(__name__)
AUDITED_TOPICS = tuple(t for t in role("ledger").topics_read if t != topic_for("LedgerCheckpoint"))
"""What the ledger seals: the topics it reads, but its own."""
DEFAULT_EVERY = 1000
DEFAULT_INTERVAL_MS = 5000
BATCH = 1000
POLL_S = 0.2
TRANSIENT = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT})


class LedgerResumeError(UntrustedError):
    """The stored or re-read leaves do not reproduce a checkpoint already published."""


@dataclass(frozen=True)
class LedgerTopics:
    """The audited topics (catalog names by default) and the ledger topic."""

    audited: tuple[str, ...] = AUDITED_TOPICS
    ledger: str = topic_for("LedgerCheckpoint")


@dataclass
class _Log:
    log_id: str
    tree: MerkleFrontier
    first_offset: int | None = None
    last_offset: int = -1
    signed_size: int = 0
    signed_at: float = field(default_factory=time.monotonic)
    pending: list[Leaf] = field(default_factory=list)
    expected: dict[int, str] = field(default_factory=dict)


class LedgerWorker:
    """Appends the audited records to their logs and publishes signed checkpoints."""

    def __init__(
        self,
        settings: Settings,
        key: Ed25519PrivateKey,
        *,
        topics: LedgerTopics | None = None,
        every: int = DEFAULT_EVERY,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        store_dir: Path | None = None,
    ) -> None:
        self.topics = topics or LedgerTopics()
        self.every, self.interval_s = max(1, every), max(1, interval_ms) / 1000
        self.store = LeafStore(store_dir or settings.state_dir / "ledger")
        self.checkpoints_published = 0
        self._settings, self._key = settings, key
        self._trusted = {key_id(key.public_key()): key.public_key()}
        self._codec = EventCodec.from_settings(settings)
        self._logs: dict[tuple[str, int], _Log] = {}

    def run(self, stop: threading.Event | None = None) -> None:
        """Run until ``stop`` is set; raises on a transport failure or a resume mismatch."""
        stop = stop or threading.Event()
        consumer = reader(self._settings)
        producer = EventProducer(self._settings, self._codec)
        try:
            consumer.assign(self._resume(consumer))
            while not stop.is_set():
                self._ingest(consumer.consume(BATCH, POLL_S))
                self._sign_due(producer)
            self._sign_due(producer, final=True)
        finally:
            self.store.close()
            consumer.close()
            producer.close()

    def _resume(self, consumer: Consumer) -> list[TopicPartition]:
        published, corrupt = read_checkpoints(self._settings, self._codec, self.topics.ledger)
        for entry in corrupt:
            log.warning(
                "ledger: passing over a corrupt record on %s: %s", self.topics.ledger, entry
            )
        assignment = []
        for topic in self.topics.audited:
            for partition in partitions_of(consumer, topic, TIMEOUT_S):
                state, start = self._load(log_id_for(topic, partition), published)
                self._logs[(topic, partition)] = state
                assignment.append(TopicPartition(topic, partition, start))
        log.warning("ledger: auditing %d partitions", len(assignment))
        return assignment

    def _load(self, log_id: str, published: Sequence[LedgerCheckpoint]) -> tuple[_Log, int]:
        mine = [
            c for c in published if c.log_id == log_id and checkpoint_signed_by(c, self._trusted)
        ]
        last = max(mine, key=lambda c: c.tree_size) if mine else None
        state, root_at_last = _Log(log_id, MerkleFrontier()), None
        for leaf in self.store.leaves(log_id):
            state.tree.append_hash(leaf.digest)
            state.first_offset = leaf.offset if state.first_offset is None else state.first_offset
            state.last_offset = leaf.offset
            if last is not None and state.tree.size == last.tree_size:
                root_at_last = state.tree.root().hex()
        start = state.last_offset + 1 if state.tree.size else OFFSET_BEGINNING
        if last is None:
            return state, start
        if state.tree.size < last.tree_size:
            log.warning("ledger: rebuilding %s from offset %d", log_id, last.first_offset)
            self.store.reset(log_id)
            expected = {c.tree_size: c.root_hash for c in mine}
            rebuilt = _Log(log_id, MerkleFrontier(), signed_size=last.tree_size, expected=expected)
            return rebuilt, last.first_offset
        if root_at_last != last.root_hash or state.first_offset != last.first_offset:
            raise LedgerResumeError(
                f"the leaf store of {log_id} does not reproduce its checkpoint of size "
                f"{last.tree_size}; run `flywheel audit verify`"
            )
        state.signed_size = last.tree_size
        return state, start

    def _ingest(self, batch: Sequence[Message]) -> None:
        for msg in batch:
            error = msg.error()
            if error is not None and (error.retriable() or error.code() in TRANSIENT):
                log.warning("ledger: %s (the client retries)", error.str())
                continue
            if error is not None:
                raise KafkaTransportError(f"ledger: reading {msg.topic()}: {error.str()}")
            state = self._logs[(str(msg.topic()), int(msg.partition() or 0))]
            offset = int(msg.offset() or 0)
            if offset <= state.last_offset:
                continue
            leaf = leaf_of(offset, msg.value())
            state.tree.append_hash(leaf.digest)
            state.pending.append(leaf)
            state.last_offset = offset
            if state.first_offset is None:
                state.first_offset = offset
            self._check_expected(state)
        if any(state.pending for state in self._logs.values()):
            for state in self._logs.values():
                if state.pending:
                    self.store.append(state.log_id, state.pending)
                    state.pending = []
            self.store.sync()

    def _check_expected(self, state: _Log) -> None:
        root = state.expected.pop(state.tree.size, None)
        if root is not None and state.tree.root().hex() != root:
            raise LedgerResumeError(
                f"{state.log_id}: the records no longer reproduce the checkpoint of size "
                f"{state.tree.size}; the topic was changed. Run `flywheel audit verify`."
            )

    def _sign_due(self, producer: EventProducer, *, final: bool = False) -> None:
        """Publish the checkpoints that are due (every unsigned log when ``final``)."""
        now, sent = time.monotonic(), False
        for state in self._logs.values():
            unsigned = state.tree.size - state.signed_size
            if unsigned <= 0 or state.expected:
                continue
            if final or unsigned >= self.every or now - state.signed_at >= self.interval_s:
                producer.send(self.topics.ledger, self._checkpoint(state))
                state.signed_size, state.signed_at, sent = state.tree.size, now, True
                self.checkpoints_published += 1
        if sent:
            producer.flush()

    def _checkpoint(self, state: _Log) -> LedgerCheckpoint:
        assert state.first_offset is not None
        return signed_checkpoint(
            self._key,
            producer=self._settings.identity,
            log_id=state.log_id,
            tree_size=state.tree.size,
            root=state.tree.root(),
            first_offset=state.first_offset,
            last_offset=state.last_offset,
        )
