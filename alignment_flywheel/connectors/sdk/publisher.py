"""Publishing decision records to Kafka from a background thread, never blocking the caller.

Rules:

* :meth:`Publisher.submit` only appends to an in-memory buffer of at most
  ``settings.sdk_buffer_size`` records and wakes the publisher thread. When the buffer is full
  it spills the whole buffer and the new records, in order, to the
  :class:`~alignment_flywheel.connectors.sdk.journal.Journal` (one write and one
  ``fsync``): the caller may touch the local disk, never the network.
* The publisher thread is the only Kafka client. While the journal is empty it produces buffered
  records directly and waits for the broker's acknowledgement (``acks=all``, at most
  ``delivery_timeout_s``). Records that fail are put back at the *front* of the journal, so the
  journal always holds records oldest first.
* While the journal is not empty, new records are appended behind it (never sent around it), and
  the journal is replayed oldest first, in chunks, every ``retry_interval_s`` until the broker
  answers. A chunk is removed from the journal only after the broker acknowledged each of its
  records, so delivery is at least once: a crash between the acknowledgement and the removal
  replays (duplicates) that chunk; consumers deduplicate on the envelope's ``event_id``.
* :meth:`Publisher.close` keeps delivering until the buffer and the journal are empty or the
  timeout passes; whatever is left is journaled and replayed by the next publisher on the same
  journal directory. Records still in the in-memory buffer when the process is killed are lost;
  ``sdk_buffer_size=1`` journals (and fsyncs) every record not yet acknowledged.
* Placement: a record with a ``partition_key`` (the session key, see
  :mod:`alignment_flywheel.kafka.placement`) is produced to the partition that key hashes to
  over its topic's partition count, read from the cluster's metadata the first time the topic is
  published to and cached; a record of a topic whose count the cluster does not give is not
  produced and counts as a failed delivery (journaled, retried). Other records are placed by key.
* An unexpected error in the publisher thread (e.g. a full disk) is logged as critical and stops
  it; it is not restarted. From then on :meth:`Publisher.submit` journals every record, so nothing
  is lost, and the next publisher on the same journal directory replays them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk.journal import Journal, JournalRecord
from alignment_flywheel.kafka.placement import PartitionCounts, metadata_lookup
from alignment_flywheel.kafka.ports import ProducerFactory, ProducerPort
from alignment_flywheel.kafka.producer import producer_config

log = logging.getLogger(__name__)

REPLAY_CHUNK = 2_000
UNASSIGNED = -1
"""librdkafka's partition "none chosen": the producer's partitioner places the record by key."""


@dataclass
class PublisherStats:
    """What a publisher did since it started."""

    published: int = 0
    journaled: int = 0
    failed_attempts: int = 0


class Publisher:
    """Owns the Kafka producer, the in-memory buffer and the journal of one guard.

    ``producer_factory`` builds the producer from its configuration: confluent-kafka's
    ``Producer``, or another adapter of :class:`~alignment_flywheel.kafka.ports.ProducerPort`
    (tests)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        *,
        delivery_timeout_s: float = 10.0,
        retry_interval_s: float = 5.0,
        producer_factory: ProducerFactory = Producer,
    ) -> None:
        self._settings = settings
        self._producer_factory = producer_factory
        self._journal = journal
        self._delivery_timeout_s = delivery_timeout_s
        self._retry_interval_s = retry_interval_s
        self._buffer_size = settings.sdk_buffer_size
        self._pending: deque[JournalRecord] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._closed: bool | None = None
        self._failed: Exception | None = None
        self._deadline = float("inf")
        self._next_retry = 0.0
        self._producer = self._new_producer()
        self._counts = PartitionCounts(self._lookup)
        self.stats = PublisherStats()
        self._thread = threading.Thread(
            target=self._run, name="flywheel-sdk-publisher", daemon=True
        )
        self._thread.start()

    def _new_producer(self) -> ProducerPort:
        overrides: dict[str, Any] = {"message.timeout.ms": int(self._delivery_timeout_s * 1000)}
        return self._producer_factory(producer_config(self._settings, overrides))

    def _lookup(self, topic: str) -> int | None:
        return metadata_lookup(self._producer, self._delivery_timeout_s)(topic)

    @property
    def pending(self) -> int:
        """Records in the in-memory buffer."""
        with self._cond:
            return len(self._pending)

    @property
    def journal(self) -> Journal:
        return self._journal

    def submit(self, records: Sequence[JournalRecord]) -> None:
        """Queue records for publishing, in order; spill to the journal if the buffer is full."""
        with self._cond:
            accepting = not self._closing and self._failed is None
            if accepting and len(self._pending) + len(records) <= self._buffer_size:
                self._pending.extend(records)
                self._cond.notify()
                return
            spilled = [*self._pending, *records]
            self._pending.clear()
            self._journal.append(spilled)
            self.stats.journaled += len(spilled)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:
            log.critical("the SDK publisher stopped; records now go to the journal only: %r", exc)
            with self._cond:
                self._failed = exc
                if self._pending:
                    self._spill_pending()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._deliver_direct(batch)
            elif self._journal.size and time.monotonic() >= self._next_retry:
                self._replay_chunk()

    def _next_batch(self) -> list[JournalRecord] | None:
        """Buffered records to send directly; [] to replay the journal; None to stop."""
        with self._cond:
            while True:
                journaled = self._journal.size > 0
                if self._pending and journaled:
                    self._spill_pending()
                    continue
                if self._pending:
                    return [self._pending.popleft() for _ in range(min(len(self._pending), 5000))]
                now = time.monotonic()
                if self._closing and (not journaled or now >= self._deadline):
                    return None
                if journaled and now >= self._next_retry:
                    return []
                wake = self._next_retry if journaled else self._deadline
                self._cond.wait(min(max(wake - now, 0.01), 1.0))

    def _spill_pending(self) -> None:
        spilled = list(self._pending)
        self._pending.clear()
        self._journal.append(spilled)
        self.stats.journaled += len(spilled)

    def _deliver_direct(self, batch: list[JournalRecord]) -> None:
        failed = self._deliver(batch)
        if failed:
            with self._cond:
                self._journal.prepend([batch[i] for i in failed])
                self.stats.journaled += len(failed)

    def _replay_chunk(self) -> None:
        chunk = self._journal.read(REPLAY_CHUNK)
        failed = self._deliver([record for record, _end in chunk])
        acknowledged = failed[0] if failed else len(chunk)
        if acknowledged:
            self._journal.consume(chunk[acknowledged - 1][1])
            log.info("replayed %d journaled records to Kafka", acknowledged)

    def _deliver(self, records: Sequence[JournalRecord]) -> list[int]:
        """Produce records and wait for the broker; the indexes that were not acknowledged."""
        outcome: list[KafkaError | bool | None] = [False] * len(records)
        unplaced: set[str] = set()
        for index, record in enumerate(records):
            partition = self._partition(record)
            if partition is None:
                unplaced.add(record.topic)
            else:
                self._produce(record, partition, index, outcome)
        if unplaced:
            log.warning(
                "no partition count from the cluster for %s yet", ", ".join(sorted(unplaced))
            )
        timeout = min(self._delivery_timeout_s + 5.0, max(self._deadline - time.monotonic(), 0.1))
        if self._producer.flush(timeout):
            self._producer.purge()
            self._producer.flush(1.0)
        failed = [i for i, result in enumerate(outcome) if result is not None]
        self.stats.published += len(records) - len(failed)
        if failed:
            self._on_failure(outcome[failed[0]], len(failed))
        return failed

    def _partition(self, record: JournalRecord) -> int | None:
        """The partition to produce to (:data:`UNASSIGNED`: by key); None when it is not known."""
        if record.partition_key is None:
            return UNASSIGNED
        return self._counts.partition(record.topic, record.partition_key)

    def _produce(
        self,
        record: JournalRecord,
        partition: int,
        index: int,
        outcome: list[KafkaError | bool | None],
    ) -> None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            outcome[index] = err

        while True:
            try:
                self._producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    partition=partition,
                    headers=list(record.headers),
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def _on_failure(self, first: KafkaError | bool | None, count: int) -> None:
        self.stats.failed_attempts += 1
        self._next_retry = time.monotonic() + self._retry_interval_s
        reason = first.str() if isinstance(first, KafkaError) else "no acknowledgement in time"
        log.warning(
            "%d records not acknowledged by Kafka (%s); journaled, retrying in %.1f s",
            count,
            reason,
            self._retry_interval_s,
        )
        if isinstance(first, KafkaError) and first.fatal():
            self._producer = self._new_producer()

    def close(self, timeout: float = 30.0) -> bool:
        """Deliver what is left within ``timeout``; journal the rest. True if all was delivered.

        Closing again returns the first close's answer."""
        if self._closed is not None:
            return self._closed
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._next_retry = 0.0
            self._cond.notify()
        self._thread.join(timeout + self._delivery_timeout_s + 10.0)
        with self._cond:
            if self._pending:
                self._spill_pending()
        self._closed = self._journal.size == 0
        self._journal.close()
        return self._closed
