"""Reading what the ledger covers from Kafka: one partition's raw records, and the checkpoints.

Rules: records are read without a consumer group (assigned partition, explicit offsets), from the
given offset (or the partition's start) up to the given offset (or the partition's end as of
now), in offset order, with their value bytes untouched. Checkpoints are decoded with the shared
codec; a record on the ledger topic that does not decode is returned as a
:class:`CorruptEntry`, another event type is passed over. A broker that
does not answer, or a missing topic, is a :class:`~alignment_flywheel.errors.KafkaTransportError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from alignment_flywheel.audit.verify import Record
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CodecError, KafkaTransportError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.kafka.clients import admin_client, reader_group
from alignment_flywheel.kafka.consumer import consumer_config, partitions_of, watermarks
from alignment_flywheel.kafka.reader import Span, read_spans

TIMEOUT_S = 30.0


def reader(settings: Settings) -> Consumer:
    group = reader_group("audit")
    return Consumer(consumer_config(settings, group, {"enable.auto.commit": False}))


def topic_partitions(settings: Settings, topic: str) -> list[int]:
    """The partitions of ``topic``, asked with a consumer of its own."""
    consumer = reader(settings)
    try:
        return partitions_of(consumer, topic, TIMEOUT_S)
    finally:
        consumer.close()


def read_partition(
    settings: Settings,
    topic: str,
    partition: int,
    *,
    from_offset: int | None = None,
    to_offset: int | None = None,
) -> list[Record]:
    """The ``(offset, value)`` records of one partition in ``[from_offset, to_offset]``."""
    consumer = reader(settings)
    try:
        if partition not in partitions_of(consumer, topic, TIMEOUT_S):
            raise KafkaTransportError(f"topic {topic} has no partition {partition}")
        low, high = watermarks(consumer, TopicPartition(topic, partition), TIMEOUT_S)
        start = low if from_offset is None else max(from_offset, low)
        end = high if to_offset is None else min(to_offset + 1, high)
        return _read(consumer, topic, partition, start, end)
    finally:
        consumer.close()


def _read(consumer: Consumer, topic: str, partition: int, start: int, end: int) -> list[Record]:
    spans = [Span(partition, start, end)]
    return [(int(msg.offset() or 0), msg.value()) for msg in read_spans(consumer, topic, spans)]


@dataclass(frozen=True)
class CorruptEntry:
    """A record on the ledger topic that is not a decodable event."""

    partition: int
    offset: int
    reason: str


def read_checkpoints(
    settings: Settings, codec: EventCodec, ledger_topic: str
) -> tuple[list[LedgerCheckpoint], list[CorruptEntry]]:
    """Every checkpoint on the ledger topic in publication order, and every record there that
    does not decode (reported, never passed over in silence). Other event types are ignored."""
    consumer = reader(settings)
    try:
        partitions = partitions_of(consumer, ledger_topic, TIMEOUT_S)
    finally:
        consumer.close()
    found: list[LedgerCheckpoint] = []
    corrupt: list[CorruptEntry] = []
    for partition in partitions:
        for offset, value in read_partition(settings, ledger_topic, partition):
            try:
                event = codec.decode(value or b"")
            except CodecError as exc:
                corrupt.append(CorruptEntry(partition, offset, str(exc)))
                continue
            if isinstance(event, LedgerCheckpoint):
                found.append(event)
    return found, corrupt


def is_compacted(settings: Settings, topic: str) -> bool:
    """Whether the topic's ``cleanup.policy`` includes ``compact``."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = admin_client(settings)  # kept alive until the answer arrives
    future = admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource]
    try:
        entries = future.result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise KafkaTransportError(f"describing {topic}: {exc}") from None
    policy = entries.get("cleanup.policy")
    return policy is not None and "compact" in str(policy.value or "")
