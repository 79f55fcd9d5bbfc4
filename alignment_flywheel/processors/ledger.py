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
* The decisions (which records are leaves, when a checkpoint is due, resuming and rebuilding a
  log) are the pure core's (:mod:`~alignment_flywheel.audit.ledger_core`, with its restart
  rules); this shell reads, steps, appends and fsyncs, sends and flushes.
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
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.audit.ledger import Leaf, LeafStore, log_id_for
from alignment_flywheel.audit.ledger_core import (
    HEADS,
    LEAVES,
    LedgerCore,
    LedgerResumeError,
    LogHead,
    Record,
    Tick,
    resume,
)
from alignment_flywheel.audit.source import TIMEOUT_S, read_checkpoints, reader
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.governance.step import view, write_into
from alignment_flywheel.kafka.consumer import partitions_of
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.roles import role, topic_for

log = logging.getLogger(__name__)
AUDITED_TOPICS = tuple(t for t in role("ledger").topics_read if t != topic_for("LedgerCheckpoint"))
"""What the ledger seals: the topics it reads, but its own."""
DEFAULT_EVERY = 1000
DEFAULT_INTERVAL_MS = 5000
BATCH = 1000
POLL_S = 0.2
TRANSIENT = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT})

__all__ = ["LedgerResumeError", "LedgerTopics", "LedgerWorker"]


@dataclass(frozen=True)
class LedgerTopics:
    """The audited topics (catalog names by default) and the ledger topic."""

    audited: tuple[str, ...] = AUDITED_TOPICS
    ledger: str = topic_for("LedgerCheckpoint")


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
        self.core = LedgerCore(
            key, settings.identity, every=every, interval_s=max(1, interval_ms) / 1000
        )
        self.store = LeafStore(store_dir or settings.state_dir / "ledger")
        self.checkpoints_published = 0
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self.heads: dict[str, LogHead] = {}
        self._tables = view({LEAVES: {}, HEADS: self.heads})

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
                head, start = self._load(log_id_for(topic, partition), published)
                self.heads[head.log_id] = head
                assignment.append(TopicPartition(topic, partition, start))
        log.warning("ledger: auditing %d partitions", len(assignment))
        return assignment

    def _load(self, log_id: str, published: Sequence[LedgerCheckpoint]) -> tuple[LogHead, int]:
        """The log's head from the store and the published checkpoints, and where to read."""
        resumed = resume(
            log_id, self.store.leaves(log_id), published, self.core.trusted, time.monotonic()
        )
        if resumed.rebuild:
            log.warning("ledger: rebuilding %s from offset %s", log_id, resumed.start)
            self.store.reset(log_id)
        return resumed.head, OFFSET_BEGINNING if resumed.start is None else resumed.start

    def _ingest(self, batch: Sequence[Message]) -> None:
        pending: dict[str, list[Leaf]] = {}
        for msg in batch:
            error = msg.error()
            if error is not None and (error.retriable() or error.code() in TRANSIENT):
                log.warning("ledger: %s (the client retries)", error.str())
                continue
            if error is not None:
                raise KafkaTransportError(f"ledger: reading {msg.topic()}: {error.str()}")
            log_id = log_id_for(str(msg.topic()), int(msg.partition() or 0))
            record = Record(log_id, int(msg.offset() or 0), msg.value())
            stepped = self.core(self._tables, record)
            for leaf in stepped.writes.get(LEAVES, {}).values():
                pending.setdefault(log_id, []).append(leaf)
            write_into(self.heads, stepped.writes.get(HEADS, {}))
        if pending:
            for log_id, leaves in pending.items():
                self.store.append(log_id, leaves)
            self.store.sync()

    def _sign_due(self, producer: EventProducer, *, final: bool = False) -> None:
        """Publish the checkpoints that are due (every unsigned log when ``final``)."""
        stepped = self.core(self._tables, Tick(time.monotonic(), final))
        for checkpoint in stepped.emitted:
            producer.send(self.topics.ledger, checkpoint)
            self.checkpoints_published += 1
        write_into(self.heads, stepped.writes.get(HEADS, {}))
        if stepped.emitted:
            producer.flush()
