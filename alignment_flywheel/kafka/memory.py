"""An in-memory Kafka for tests: the adapter of :mod:`~alignment_flywheel.kafka.ports` that
keeps topics in memory, in the manner of quix-streams' and bytewax's testing sources and sinks.

Rules (those of a broker, as far as the ports show them):

* A topic is a list of records per partition. A record's offset is its place in that list; a
  partition's low watermark is its first offset still held (:meth:`MemoryBroker.truncate`), its
  high watermark the offset the next record gets. A record removed from the middle
  (:meth:`MemoryBroker.remove`, as compaction does) keeps its offset and is never fetched.
* :class:`MemoryProducer` queues records and delivers them when it polls or flushes: to the
  partition given, or by key (Kafka's murmur2, :func:`~alignment_flywheel.kafka.placement.
  partition_for`), or to a random partition when there is no key. An unknown topic or partition
  fails the record's delivery.
* :class:`MemoryConsumer` reads partitions assigned at offsets (``OFFSET_BEGINNING``,
  ``OFFSET_END`` or a number), in offset order within a partition, waiting up to its timeout for
  a record to arrive.
* The failure switch ``down`` makes the broker unreachable: metadata and watermarks raise a
  transport error, deliveries fail as timed out, fetches return nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin._metadata import ClusterMetadata, PartitionMetadata, TopicMetadata

from alignment_flywheel.kafka.placement import partition_for
from alignment_flywheel.kafka.ports import DeliveryCallback, Headers, ProducerPort, ReaderPort

CREATE_TIME = 1
"""The timestamp type of a record stamped by its producer."""


@dataclass(frozen=True, slots=True)
class Stored:
    """One record held by a partition."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int


@dataclass
class _Partition:
    low: int = 0
    records: list[Stored | None] = field(default_factory=list)

    @property
    def high(self) -> int:
        return self.low + len(self.records)


def _transport_error() -> KafkaException:
    return KafkaException(KafkaError(KafkaError._TRANSPORT, "the broker is down"))


class MemoryBroker:
    """Topics in memory, shared by the producers and consumers it makes. Thread-safe."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self._topics: dict[str, list[_Partition]] = {}
        self._changed = threading.Condition()

    def create_topic(self, name: str, partitions: int = 1) -> str:
        with self._changed:
            self._topics[name] = [_Partition() for _ in range(partitions)]
        return name

    def append(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
    ) -> int:
        """Store one record and return its offset (KafkaException if there is no such place)."""
        stored = Stored(key, value, _bytes_headers(headers), int(time.time() * 1000))
        with self._changed:
            place = self._partition(topic, partition)
            place.records.append(stored)
            self._changed.notify_all()
            return place.high - 1

    def truncate(self, topic: str, partition: int, before: int) -> None:
        """Delete the records before offset ``before`` (the low watermark moves up)."""
        with self._changed:
            place = self._partition(topic, partition)
            drop = min(max(before - place.low, 0), len(place.records))
            del place.records[:drop]
            place.low += drop

    def remove(self, topic: str, partition: int, offset: int) -> None:
        """Remove one record; its offset stays taken (as after compaction)."""
        with self._changed:
            place = self._partition(topic, partition)
            place.records[offset - place.low] = None

    def producer(self, config: dict[str, Any] | None = None) -> ProducerPort:
        """A :data:`~alignment_flywheel.kafka.ports.ProducerFactory` (``config`` is ignored)."""
        return MemoryProducer(self)

    def consumer(self, config: dict[str, Any] | None = None) -> ReaderPort:
        """A :data:`~alignment_flywheel.kafka.ports.ReaderFactory` (``config`` is ignored)."""
        return MemoryConsumer(self)

    def metadata(self, topic: str | None) -> ClusterMetadata:
        """The cluster's metadata, as ``list_topics`` gives it (an unknown topic has an error)."""
        if self.down:
            raise _transport_error()
        metadata = ClusterMetadata()
        with self._changed:
            names = list(self._topics) if topic is None else [topic]
            metadata.topics = {name: self._topic_metadata(name) for name in names}
        return metadata

    def _topic_metadata(self, name: str) -> TopicMetadata:
        found = TopicMetadata()
        found.topic = name
        partitions = self._topics.get(name)
        if partitions is None:
            found.error = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
            return found
        for number in range(len(partitions)):
            described = PartitionMetadata()
            described.id = number
            found.partitions[number] = described
        return found

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        if self.down:
            raise _transport_error()
        with self._changed:
            place = self._partition(topic, partition)
            return place.low, place.high

    def partitions(self, topic: str) -> int | None:
        with self._changed:
            found = self._topics.get(topic)
            return None if found is None else len(found)

    def fetch(self, topic: str, partition: int, offset: int) -> tuple[int, Stored | None]:
        """The next record at or after ``offset`` (None at the end) and the position after it.
        An offset out of range starts at the low watermark."""
        with self._changed:
            place = self._partition(topic, partition)
            position = offset if place.low <= offset <= place.high else place.low
            while position < place.high:
                stored = place.records[position - place.low]
                if stored is not None:
                    return position, stored
                position += 1
            return position, None

    def wait(self, timeout: float) -> None:
        """Until a record is appended or ``timeout`` passes."""
        with self._changed:
            self._changed.wait(max(timeout, 0.0))

    def _partition(self, topic: str, partition: int) -> _Partition:
        partitions = self._topics.get(topic)
        if partitions is None:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, topic))
        if not 0 <= partition < len(partitions):
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, f"{topic}[{partition}]"))
        return partitions[partition]


def _bytes_headers(headers: Headers | None) -> tuple[tuple[str, bytes | None], ...]:
    return tuple(
        (name, value.encode() if isinstance(value, str) else value) for name, value in headers or ()
    )


@dataclass(frozen=True, slots=True)
class _Queued:
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    on_delivery: DeliveryCallback | None


class MemoryProducer:
    """A producer on a :class:`MemoryBroker` (see the module rules)."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._queue: deque[_Queued] = deque()
        self._lock = threading.Lock()

    def produce(
        self,
        topic: str,
        *,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int = -1,
        on_delivery: DeliveryCallback | None = None,
        headers: Headers | None = None,
    ) -> None:
        with self._lock:
            self._queue.append(_Queued(topic, partition, key, value, headers, on_delivery))

    def poll(self, timeout: float = -1) -> int:
        """Deliver every queued record; how many delivery callbacks were served."""
        served = 0
        for queued in self._drain():
            served += self._deliver(queued)
        return served

    def flush(self, timeout: float = -1) -> int:
        self.poll(timeout)
        return 0

    def purge(self) -> None:
        for queued in self._drain():
            _report(queued, KafkaError(KafkaError._PURGE_QUEUE), None)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> ClusterMetadata:
        return self._broker.metadata(topic)

    def _drain(self) -> Iterator[_Queued]:
        with self._lock:
            queued, self._queue = self._queue, deque()
        yield from queued

    def _deliver(self, queued: _Queued) -> int:
        if self._broker.down:
            return _report(queued, KafkaError(KafkaError._MSG_TIMED_OUT), None)
        try:
            partition = self._place(queued)
            offset = self._broker.append(
                queued.topic, partition, queued.key, queued.value, queued.headers
            )
        except KafkaException as exc:
            return _report(queued, exc.args[0], None)
        return _report(queued, None, (partition, offset))

    def _place(self, queued: _Queued) -> int:
        if queued.partition >= 0:
            return queued.partition
        count = self._broker.partitions(queued.topic)
        if count is None:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, queued.topic))
        if queued.key is None:
            return random.randrange(count)
        return partition_for(queued.key, count)


def _report(queued: _Queued, error: KafkaError | None, placed: tuple[int, int] | None) -> int:
    if queued.on_delivery is None:
        return 0
    partition, offset = placed or (queued.partition, -1)
    msg = Message(
        topic=queued.topic,
        partition=partition,
        offset=offset,
        key=queued.key,
        value=queued.value,
        headers=queued.headers,
        error=error,
    )
    queued.on_delivery(error, msg)
    return 1


class MemoryConsumer:
    """A consumer on a :class:`MemoryBroker` that reads the partitions assigned to it."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._positions: dict[tuple[str, int], int] = {}
        self._closed = False

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._check_open()
        self._positions = {(tp.topic, tp.partition): self._start(tp) for tp in partitions}

    def _start(self, tp: TopicPartition) -> int:
        low, high = self._broker.watermarks(tp.topic, tp.partition)
        if tp.offset == OFFSET_END:
            return high
        if tp.offset == OFFSET_BEGINNING or tp.offset < 0:
            return low
        return tp.offset

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self._check_open()
        found = self._fetch(num_messages)
        if not found:
            self._broker.wait(timeout if timeout >= 0 else 1.0)
            found = self._fetch(num_messages)
        return found

    def poll(self, timeout: float = -1) -> Message | None:
        found = self.consume(1, timeout)
        return found[0] if found else None

    def _fetch(self, limit: int) -> list[Message]:
        found: list[Message] = []
        if self._broker.down:
            return found
        for topic, partition in list(self._positions):
            found += self._fetch_partition(topic, partition, limit - len(found))
        return found

    def _fetch_partition(self, topic: str, partition: int, limit: int) -> list[Message]:
        found: list[Message] = []
        while len(found) < limit:
            offset, stored = self._broker.fetch(topic, partition, self._positions[topic, partition])
            self._positions[topic, partition] = offset + (stored is not None)
            if stored is None:
                break
            found.append(_message(topic, partition, offset, stored))
        return found

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        positions = self._positions
        return [
            TopicPartition(tp.topic, tp.partition, positions.get((tp.topic, tp.partition), -1001))
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]:
        self._check_open()
        return self._broker.watermarks(partition.topic, partition.partition)

    def offsets_for_times(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]:
        """The first offset of each partition stamped at or after the time in ``offset`` (ms);
        -1 when there is none."""
        return [self._offset_for_time(tp) for tp in partitions]

    def _offset_for_time(self, tp: TopicPartition) -> TopicPartition:
        offset = self._broker.watermarks(tp.topic, tp.partition)[0]
        while True:
            offset, stored = self._broker.fetch(tp.topic, tp.partition, offset)
            if stored is None:
                return TopicPartition(tp.topic, tp.partition, -1)
            if stored.timestamp_ms >= tp.offset:
                return TopicPartition(tp.topic, tp.partition, offset)
            offset += 1

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> ClusterMetadata:
        self._check_open()
        return self._broker.metadata(topic)

    def close(self) -> None:
        self._closed = True
        self._positions.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Consumer closed")


def _message(topic: str, partition: int, offset: int, stored: Stored) -> Message:
    return Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=stored.key,
        value=stored.value,
        headers=list(stored.headers) or None,
        timestamp=(CREATE_TIME, stored.timestamp_ms),
    )
