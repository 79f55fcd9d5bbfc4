"""Reading a topic from a point in time (or its beginning) up to its end as of now, without a
consumer group: for commands that look things up (reviews, incidents, release status), and
:class:`TopicTail` for a worker that reads on, up to the end as of each time it asks.

:func:`read_spans` is the one bounded read under them and under replay and the audit ledger: the
records of given offset ranges, ended by each partition's position (records removed by compaction
and transaction markers take offsets but never arrive), never waiting on a partition longer than
its timeout without progress.

Every read is ``read_committed`` and ends at each partition's last stable offset (the end a
committed read reaches; past it, an open transaction's records would keep a read waiting), not
at its high watermark.

Records that do not decode are logged and passed over (a reader never stops on bad input); a
broker that does not answer raises :class:`~alignment_flywheel.errors.KafkaTransportError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CodecError, KafkaTransportError
from alignment_flywheel.events import Event
from alignment_flywheel.kafka.clients import client_config, reader_group
from alignment_flywheel.kafka.consumer import (
    consumer_config,
    offsets_for_times,
    partitions_of,
    watermarks,
)
from alignment_flywheel.kafka.ports import ReaderFactory, ReaderPort

log = logging.getLogger(__name__)
TIMEOUT_S = 30.0
FETCH = 2000
WAIT_S = 0.2


def read_topic(
    settings: Settings,
    codec: EventCodec,
    topic: str,
    *,
    since: datetime | None = None,
    consumer_factory: ReaderFactory = Consumer,
) -> Iterator[Event]:
    """Every event on ``topic`` (from ``since``, or the beginning) up to its end as of now, read
    by a consumer ``consumer_factory`` builds (confluent-kafka's, or another adapter of
    :class:`~alignment_flywheel.kafka.ports.ReaderPort`)."""
    consumer = consumer_factory(
        consumer_config(settings, reader_group("topic"), {"enable.auto.commit": False})
    )
    try:
        yield from _read_assigned(consumer, codec, topic, since)
    finally:
        consumer.close()


def _read_assigned(
    consumer: ReaderPort, codec: EventCodec, topic: str, since: datetime | None
) -> Iterator[Event]:
    starts = _start_offsets(consumer, topic, since)
    ends = {p: watermarks(consumer, tp, TIMEOUT_S)[1] for p, tp in starts}
    spans = [Span(p, tp.offset, ends[p]) for p, tp in starts]
    for msg in read_spans(consumer, topic, spans):
        event = _decode(codec, msg.value(), topic)
        if event is not None:
            yield event


def _decode(codec: EventCodec, value: bytes | None, topic: str) -> Event | None:
    if value is None:
        return None
    try:
        return codec.decode(value)
    except (CodecError, RecursionError) as exc:
        log.warning("passing over an undecodable record on %s: %s", topic, exc)
        return None


def _start_offsets(
    consumer: ReaderPort, topic: str, since: datetime | None
) -> list[tuple[int, TopicPartition]]:
    partitions = partitions_of(consumer, topic, TIMEOUT_S)
    if since is None:
        found = [TopicPartition(topic, p, -1) for p in partitions]
    else:
        millis = int(since.timestamp() * 1000)
        asked = [TopicPartition(topic, p, millis) for p in partitions]
        found = offsets_for_times(consumer, asked, TIMEOUT_S)
    result = []
    for tp in found:
        low, high = watermarks(consumer, tp, TIMEOUT_S)
        offset = high if since is not None and tp.offset < 0 else max(tp.offset, low)
        result.append((tp.partition, TopicPartition(topic, tp.partition, offset)))
    return result


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets [start, end) of one partition."""

    partition: int
    start: int
    end: int


def read_spans(
    consumer: ReaderPort, topic: str, spans: Iterable[Span], *, timeout_s: float = TIMEOUT_S
) -> Iterator[Message]:
    """The records of ``spans`` on ``topic`` (in offset order within a partition), read by
    ``consumer``, which is assigned here. A partition is done at its end's record or when its
    position reaches its end; a record with an error, or no record for ``timeout_s`` while a
    partition is not done, is a :class:`~alignment_flywheel.errors.KafkaTransportError`."""
    ends = {s.partition: s.end for s in spans if s.start < s.end}
    if not ends:
        return
    starts = [TopicPartition(topic, s.partition, s.start) for s in spans if s.partition in ends]
    consumer.assign(starts)
    open_partitions = set(ends)
    idle_since = time.monotonic()
    while open_partitions:
        batch = consumer.consume(FETCH, WAIT_S)
        if not batch:
            open_partitions -= _past_end(consumer, topic, open_partitions, ends)
            if open_partitions and time.monotonic() - idle_since > timeout_s:
                raise KafkaTransportError(f"no record from {topic} within {timeout_s:.0f} s")
            continue
        idle_since = time.monotonic()
        for msg in batch:
            error = msg.error()
            if error is not None:
                raise KafkaTransportError(f"reading {topic}: {error.str()}")
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if partition not in open_partitions or offset >= ends[partition]:
                continue
            if offset + 1 >= ends[partition]:
                open_partitions.discard(partition)
                consumer.incremental_unassign([TopicPartition(topic, partition)])
            yield msg


def _past_end(
    consumer: ReaderPort, topic: str, partitions: set[int], ends: dict[int, int]
) -> set[int]:
    """Partitions whose position reached their end without a record at the last offsets."""
    positions = consumer.position([TopicPartition(topic, p) for p in sorted(partitions)])
    return {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}


class TopicTail:
    """Topics read from a point in time and then, at every :meth:`read_to_end`, up to their ends
    as of that call: for a worker that must have read everything published before it acts.

    It assigns every partition directly (no consumer group, nothing committed); records that do
    not decode are passed over as in :func:`read_topic`. Close it when done.
    """

    def __init__(
        self, settings: Settings, codec: EventCodec, topics: Iterable[str], *, since: datetime
    ) -> None:
        self._codec = codec
        self._consumer = Consumer(
            consumer_config(settings, reader_group("tail"), {"enable.auto.commit": False})
        )
        self._admin = AdminClient(client_config(settings, "flywheel-tail"))
        starts = [tp for topic in topics for _, tp in _start_offsets(self._consumer, topic, since)]
        self._positions = {(tp.topic, tp.partition): tp.offset for tp in starts}
        self._consumer.assign(starts)

    def _ends(self) -> dict[tuple[str, int], int]:
        """Every partition's end, in one request (the consumer's own connection would queue the
        question behind its fetches): its last stable offset, where a committed read stops."""
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        asked = {TopicPartition(*key): latest for key in self._positions}
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                futures = self._admin.list_offsets(
                    asked, request_timeout=TIMEOUT_S, isolation_level=IsolationLevel.READ_COMMITTED
                )
                return {
                    (tp.topic, tp.partition): int(future.result(timeout=TIMEOUT_S).offset)
                    for tp, future in futures.items()
                }
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                retriable = isinstance(error, KafkaError) and error.retriable()
                if not retriable or time.monotonic() >= deadline:
                    raise KafkaTransportError(f"the ends of the topics: {exc}") from exc
                time.sleep(0.1)

    def read_to_end(self) -> Iterator[Event]:
        """Every event after the last one read, up to each partition's end as of this call (a
        partition whose position passed its end without a record, over a transaction marker, is
        done too)."""
        ends = self._ends()
        idle_since = time.monotonic()
        while any(self._positions[key] < ends[key] for key in self._positions):
            msg = self._consumer.poll(WAIT_S)
            if msg is None:
                self._advance()
                if time.monotonic() - idle_since > TIMEOUT_S:
                    raise KafkaTransportError(f"no record within {TIMEOUT_S:.0f} s before the end")
                continue
            idle_since = time.monotonic()
            error = msg.error()
            topic = str(msg.topic())
            if error is not None:
                raise KafkaTransportError(f"reading {topic}: {error.str()}")
            self._positions[(topic, int(msg.partition() or 0))] = int(msg.offset() or 0) + 1
            event = _decode(self._codec, msg.value(), topic)
            if event is not None:
                yield event

    def _advance(self) -> None:
        """Take the consumer's positions (past records that never arrive, like markers)."""
        asked = [TopicPartition(*key) for key in self._positions]
        for tp in self._consumer.position(asked):
            if tp.offset >= 0:
                key = (tp.topic, tp.partition)
                self._positions[key] = max(self._positions[key], tp.offset)

    def close(self) -> None:
        self._consumer.close()
