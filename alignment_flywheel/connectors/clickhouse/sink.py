"""The ClickHouse sink: events from Kafka topics into the event tables, batched and resumable.

Rules:

* The sink assigns itself every partition of its topics (no consumer group offsets: its progress
  lives in ClickHouse, next to the data, and nowhere else). Run one sink per set of topics.
* A batch is up to ``batch_size`` records or what arrived within ``linger_s``. It is stored in
  this order: (1) dead letters for records that do not decode, confirmed by the broker; (2) one
  INSERT per table, rows in consumption order; (3) one row per partition into
  ``flywheel.sink_offsets`` with the next offset to read (the *floor*).
* Tombstones and event types with no table are passed over; the floor still moves past them.
* Any ClickHouse failure drops the batch in memory, closes the client, waits (doubling, up to
  ``max_retry_s``), opens a new client, reads the progress back and seeks the consumer to the
  floor. Nothing is retried from memory, so an INSERT that succeeded without telling us is found
  in the database, not repeated.
* Transport failures (connection refused or reset, timeouts: the driver's ``OperationalError``)
  are retried for as long as they last: an outage only delays the sink. A statement the server
  *rejects* (any other ``DatabaseError``: a type mismatch, a missing table, a full disk) is
  retried ``max_rejections`` times in a row, in case it was transient; then the sink stops with a
  :class:`~alignment_flywheel.errors.ClickHouseError` instead of spinning. Every stored batch
  resets the count.

Why nothing is lost or duplicated (exactly-once in effect), after a restart, a kill at any
instruction, or a ClickHouse outage:

1. The event tables are not partitioned, and rows of one INSERT are in consumption order, so an
   INSERT that is interrupted commits a *prefix* of its rows (ClickHouse writes an insert's parts
   in order and each part atomically; usually the whole batch is one part).
2. The floor is written after every table of the batch, so every record below the floor is stored
   (or was passed over on purpose): resuming at the floor loses nothing.
3. Records at or past the floor may be stored already (a kill between steps 2 and 3). By (1), what
   is stored of a table, per partition, is exactly the rows up to the largest ``kafka_offset``
   stored; the sink reads that maximum (``present``) on start and after a failure and skips the
   rows at or below it: nothing is stored twice.
4. Dead letters are confirmed before the floor moves, so a bad record is never lost; a kill may
   repeat one (``flywheel.dead_letters`` collapses repeats on the source position).

The decisions (what a record becomes, when a batch is flushed, what a flush stores and in which
order) are the pure core's (:mod:`.sink_core`, with its restart rules); this shell polls,
decodes, steps, and stores what the core emits.

Independently of this argument, the tables are ReplacingMergeTree keyed by event id, so an event
that a producer sent twice (two offsets) is still one row under ``FINAL``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from confluent_kafka import Consumer, Message, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.clickhouse.progress import (
    Position,
    Progress,
    read_progress,
    write_floor,
)
from alignment_flywheel.connectors.clickhouse.rows import routed_event_types
from alignment_flywheel.connectors.clickhouse.sink_core import (
    DeadLetter,
    Floor,
    Insert,
    Linger,
    Polled,
    SinkCore,
    Stored,
)
from alignment_flywheel.connectors.clickhouse.tables import TABLES, TableSpec
from alignment_flywheel.errors import ClickHouseError, CodecError, KafkaTransportError
from alignment_flywheel.governance.step import view
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.consumer import consumer_config, partitions_of, watermarks
from alignment_flywheel.kafka.deadletter import (
    DEFAULT_DEAD_LETTER_TOPIC,
    dead_letter_for_message,
)
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.stack.clickhouse import apply_migrations

log = logging.getLogger(__name__)

ClientFactory = Callable[[], Client]
_CLICKHOUSE_FAILURES = (DriverError, ClickHouseError, OSError)
METADATA_TIMEOUT_S = 30.0


def default_topics() -> list[str]:
    """The catalog topics that carry an event type with a table, in catalog order."""
    catalog = load_catalog()
    topics = {catalog.topic_for(event) for event in routed_event_types()}
    return [name for name in catalog.names if name in topics]


@dataclass(frozen=True)
class SinkOptions:
    name: str = "clickhouse"
    topics: tuple[str, ...] = ()
    """Topics to read; empty: :func:`default_topics`."""
    batch_size: int = 50_000
    linger_s: float = 0.5
    max_retry_s: float = 30.0
    max_rejections: int = 5
    """Statements rejected by the server in a row (no batch stored between) before giving up."""
    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC


@dataclass
class SinkStats:
    rows: int = 0
    records: int = 0
    batches: int = 0
    skipped: int = 0
    """Rows found already stored (after a restart or a failure)."""
    passed_over: int = 0
    dead_lettered: int = 0
    failures: int = 0


class ClickHouseSink:
    """Reads the topics from the stored floor and stores every event once (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        connect: ClientFactory,
        options: SinkOptions | None = None,
        *,
        on_batch: Callable[[SinkStats], None] | None = None,
    ) -> None:
        self.options = options or SinkOptions()
        self.topics = list(self.options.topics) or default_topics()
        self.stats = SinkStats()
        self._settings = settings
        self._connect = connect
        self._codec = EventCodec.from_settings(settings)
        self._tables: dict[str, TableSpec] = {t.name: t for t in TABLES}
        self._on_batch = on_batch
        self._consumer = Consumer(
            consumer_config(
                settings, f"flywheel-sink-{self.options.name}", {"enable.auto.commit": False}
            )
        )
        self._dead_letters: EventProducer | None = None
        self._client: Client | None = None
        self._core = SinkCore(Progress(), batch_size=self.options.batch_size)
        self._no_tables = view({})
        self._partitions: list[Position] = []
        self._rejections = 0

    # --- life cycle ------------------------------------------------------------------------------

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        until_end: bool = False,
        idle_timeout: float | None = None,
    ) -> SinkStats:
        """Store batches until ``stop`` is set, the end offsets seen at start are stored
        (``until_end``), or nothing came for ``idle_timeout`` seconds."""
        self._partitions = self._discover()
        ends = self._ends() if until_end else {}
        self._recover(first=True)
        last_record = time.monotonic()
        while not (stop is not None and stop.is_set()):
            if until_end and self._reached(ends):
                break
            stored = self._collect(stop)
            if stored:
                last_record = time.monotonic()
                self._store(stored)
            elif idle_timeout is not None and time.monotonic() - last_record > idle_timeout:
                break
        return self.stats

    def close(self) -> None:
        self._consumer.close()
        if self._dead_letters is not None:
            self._dead_letters.close()
        self._close_client()

    def __enter__(self) -> ClickHouseSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- Kafka -----------------------------------------------------------------------------------

    def _discover(self) -> list[Position]:
        positions: list[Position] = []
        for topic in self.topics:
            partitions = partitions_of(self._consumer, topic, METADATA_TIMEOUT_S)
            positions.extend((topic, p) for p in partitions)
        return positions

    def _ends(self) -> dict[Position, int]:
        return {
            (t, p): watermarks(self._consumer, TopicPartition(t, p), METADATA_TIMEOUT_S)[1]
            for t, p in self._partitions
        }

    def _reached(self, ends: dict[Position, int]) -> bool:
        floor = self._core.progress.floor
        return all(floor.get(pos, 0) >= end for pos, end in ends.items() if end > 0)

    def _seek_to_floor(self) -> None:
        floor = self._core.progress.floor
        assignment = [
            TopicPartition(t, p, floor[(t, p)]) if (t, p) in floor else TopicPartition(t, p, -2)
            for t, p in self._partitions
        ]
        self._consumer.assign(assignment)

    def _collect(self, stop: threading.Event | None) -> tuple[Stored, ...]:
        """Step records until the core flushes a batch or its time is up; what to store."""
        deadline = time.monotonic() + self.options.linger_s
        while self._core.collected < self.options.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                break
            wanted = min(self.options.batch_size - self._core.collected, 10_000)
            for msg in self._consumer.consume(wanted, min(remaining, 0.2)):
                polled = self._decode(msg)
                if polled is not None:
                    stored = self._core(self._no_tables, polled).emitted
                    if stored:
                        return stored
        return self._core(self._no_tables, Linger()).emitted

    def _decode(self, msg: Message) -> Polled | None:
        """The record as the core takes it (None for a consumer error the client goes past)."""
        error = msg.error()
        if error is not None:
            if error.fatal():
                raise KafkaTransportError(f"sink consumer failed: {error.str()}")
            log.warning("consumer error reported by the client, which keeps going: %s", error)
            return None
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        value = msg.value()
        if value is None:
            return Polled(topic, partition, offset)
        try:
            return Polled(topic, partition, offset, self._codec.decode_record(value), source=msg)
        except CodecError as exc:
            return Polled(topic, partition, offset, error=exc, source=msg)

    def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        if not dead:
            return
        if self._dead_letters is None:
            self._dead_letters = EventProducer(self._settings, self._codec)
        for entry in dead:
            log.warning(
                "dead-lettering %s[%s]@%s: %s",
                entry.topic,
                entry.partition,
                entry.offset,
                entry.error,
            )
            letter = dead_letter_for_message(
                entry.source,
                entry.error,
                producer=self._settings.identity,
                consumer_group=self.options.name,
            )
            self._dead_letters.send(self.options.dead_letter_topic, letter)
        self._dead_letters.flush()

    # --- ClickHouse ------------------------------------------------------------------------------

    def _store(self, stored: tuple[Stored, ...]) -> None:
        self._send_dead_letters([s for s in stored if isinstance(s, DeadLetter)])
        try:
            floor = self._insert(stored)
        except _CLICKHOUSE_FAILURES as exc:
            self._failed(exc)
            log.error("storing a batch failed (%s); resuming from what is stored", exc)
            self._recover(first=False)
            return
        self._rejections = 0
        self.stats.batches += 1
        self.stats.records += floor.records
        self.stats.rows += floor.rows
        self.stats.skipped += floor.skipped
        self.stats.passed_over += floor.passed_over
        self.stats.dead_lettered += floor.dead_lettered
        if self._on_batch is not None:
            self._on_batch(self.stats)

    def _insert(self, stored: tuple[Stored, ...]) -> Floor:
        """The batch's inserts, then its floor (the last of ``stored``)."""
        client = self._require_client()
        for insert in stored:
            if isinstance(insert, Insert):
                table = self._tables[insert.table]
                columns = list(zip(*insert.rows, strict=True))
                client.insert(
                    table.qualified,
                    columns,
                    column_names=list(table.columns),
                    column_oriented=True,
                )
        floor = stored[-1]
        assert isinstance(floor, Floor)
        write_floor(client, self.options.name, dict(floor.next_offsets))
        return floor

    def _recover(self, *, first: bool) -> None:
        """Open a client (waiting out failures), read the progress back, seek to the floor."""
        delay = 0.0 if first else 0.5
        while True:
            if delay:
                time.sleep(delay)
            self._close_client()
            try:
                client = self._require_client()
                if first:
                    apply_migrations(client)
                progress = read_progress(
                    client, self.options.name, self.topics, self._tables.values()
                )
                self._core = SinkCore(progress, batch_size=self.options.batch_size)
                break
            except _CLICKHOUSE_FAILURES as exc:
                self._failed(exc)
                log.error("ClickHouse is not available (%s); retrying", exc)
                delay = min(max(delay * 2, 0.5), self.options.max_retry_s)
        self._seek_to_floor()

    def _failed(self, exc: Exception) -> None:
        """Count a failure; give up when the server has rejected too many statements in a row."""
        self.stats.failures += 1
        if not rejected(exc):
            return
        self._rejections += 1
        if self._rejections >= self.options.max_rejections:
            raise ClickHouseError(
                f"ClickHouse rejected the sink's statements {self._rejections} times in a row; "
                f"stopping (nothing is lost: the sink resumes from its stored progress): {exc}"
            ) from exc

    def _require_client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except _CLICKHOUSE_FAILURES as exc:
                log.warning("closing the ClickHouse client: %s", exc)


def rejected(exc: BaseException) -> bool:
    """Whether the server refused a statement (not a transport failure), here or in a cause."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, DatabaseError) and not isinstance(current, OperationalError):
            return True
        current = current.__cause__
    return False
