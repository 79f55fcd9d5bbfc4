"""Consuming events from Kafka with confluent-kafka, with an explicit error policy per record.

For each record, in order:

1. A tombstone (no value) is counted and passed over.
2. The value is decoded by the shared codec. A :class:`~alignment_flywheel.errors.CodecError`
   (malformed bytes, unknown fingerprint, schema violation, oversized) dead-letters the record.
3. The handler is called. If it raises :class:`~alignment_flywheel.errors.InvalidInputError`, the
   record is dead-lettered. Any other exception stops the consumer and propagates: the record's
   offset is not stored, so it is processed again after a restart. Nothing is retried silently.
4. The offset is stored; stored offsets are committed by the client in the background and on close.

A dead letter is confirmed by the broker before its record's offset is stored, so a bad record is
never lost and never stops the stream. It carries the original bytes, or, when they would not fit
the producer's ``message.max.bytes``, an excerpt with their length and SHA-256 (see
:mod:`~alignment_flywheel.kafka.deadletter`). A dead letter the broker does not confirm is a
:class:`~alignment_flywheel.errors.KafkaTransportError`: the consumer stops with the offset not
stored (a broker that refuses is not bad input), and so do security failures
(:class:`~alignment_flywheel.errors.UntrustedError`), which are never dead-lettered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CodecError, InvalidInputError, KafkaTransportError
from alignment_flywheel.events import Event
from alignment_flywheel.kafka.clients import client_config
from alignment_flywheel.kafka.deadletter import (
    DEFAULT_DEAD_LETTER_TOPIC,
    dead_letter_for_message,
)
from alignment_flywheel.kafka.ports import ReaderPort
from alignment_flywheel.kafka.producer import EventProducer

log = logging.getLogger(__name__)

Handler = Callable[[Event, Message], None]

# Errors a broker returns while a partition's leadership is still settling (e.g. just after the
# topic was created): asking again shortly after succeeds.
_SETTLING = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
    }
)


def watermarks(consumer: ReaderPort, tp: TopicPartition, timeout: float) -> tuple[int, int]:
    """The (low, high) watermark offsets of ``tp``.

    Errors a broker gives while leadership settles are asked again until ``timeout``; any other
    error, or the deadline, is a :class:`~alignment_flywheel.errors.KafkaTransportError`.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=max(remaining, 0.1))
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code not in _SETTLING or time.monotonic() >= deadline:
                raise KafkaTransportError(
                    f"watermarks of {tp.topic}[{tp.partition}]: {exc}"
                ) from exc
            time.sleep(0.1)


def partitions_of(client: ReaderPort | AdminClient, topic: str, timeout: float) -> list[int]:
    """The partitions of ``topic``, in order, asked with a consumer's or an admin client's
    ``list_topics``; a topic that does not exist or has no partition, or a cluster that does not
    answer within ``timeout``, is a :class:`~alignment_flywheel.errors.KafkaTransportError`."""
    try:
        metadata = client.list_topics(topic, timeout=timeout).topics.get(topic)
    except KafkaException as exc:
        raise KafkaTransportError(f"the partitions of {topic}: {exc}") from exc
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise KafkaTransportError(f"topic {topic} does not exist or has no partitions")
    return sorted(metadata.partitions)


def offsets_for_times(
    consumer: ReaderPort, asked: list[TopicPartition], timeout: float
) -> list[TopicPartition]:
    """The offsets of the first records at or after the times in ``asked``; retried like
    :func:`watermarks` while leadership settles (right after a topic is created)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            found: list[TopicPartition] = consumer.offsets_for_times(
                asked, timeout=max(remaining, 0.1)
            )
            return found
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code not in _SETTLING or time.monotonic() >= deadline:
                raise KafkaTransportError(f"offsets for times: {exc}") from exc
            time.sleep(0.1)


def consumer_config(
    settings: Settings, group_id: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The client configuration every consumer of the project starts from: it reads committed
    records only (``read_committed``: records of aborted transactions never arrive, and a
    partition is read up to its last stable offset)."""
    config = {
        **client_config(settings),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
    }
    config.update(overrides or {})
    return config


@dataclass
class ConsumerStats:
    """What a consumer did since it started."""

    processed: int = 0
    dead_lettered: int = 0
    tombstones: int = 0


class EventConsumer:
    """Decodes records with the shared codec, hands events to a handler, dead-letters bad input."""

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        *,
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC,
        dead_letter_producer: EventProducer | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._codec = codec
        self._handler = handler
        self._group_id = group_id
        self._identity = settings.identity
        self._dead_letter_topic = dead_letter_topic
        self._dead_letters = dead_letter_producer or EventProducer(settings, codec)
        self._consumer = Consumer(consumer_config(settings, group_id, overrides))
        self._consumer.subscribe(list(topics))
        self.stats = ConsumerStats()

    def run(
        self,
        *,
        max_records: int | None = None,
        idle_timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> ConsumerStats:
        """Consume until ``stop`` is set, ``max_records`` were handled, or nothing came for
        ``idle_timeout`` seconds."""
        last_record = time.monotonic()
        while not (stop is not None and stop.is_set()):
            if max_records is not None and self._handled() >= max_records:
                break
            msg = self._consumer.poll(0.2)
            if msg is None:
                if idle_timeout is not None and time.monotonic() - last_record > idle_timeout:
                    break
                continue
            last_record = time.monotonic()
            self.process(msg)
        return self.stats

    def process(self, msg: Message) -> None:
        """Apply the error policy of the module docstring to one polled message."""
        error = msg.error()
        if error is not None:
            self._on_client_error(error)
            return
        value = msg.value()
        if value is None:
            self.stats.tombstones += 1
        else:
            try:
                event = self._codec.decode(value)
                self._handler(event, msg)
                self.stats.processed += 1
            except (CodecError, InvalidInputError) as exc:
                self._dead_letter(msg, exc)
        self._consumer.store_offsets(message=msg)

    def _dead_letter(self, msg: Message, error: Exception) -> None:
        log.warning(
            "dead-lettering %s[%s]@%s: %s",
            msg.topic(),
            msg.partition(),
            msg.offset(),
            error,
        )
        letter = dead_letter_for_message(
            msg, error, producer=self._identity, consumer_group=self._group_id
        )
        self._dead_letters.send(self._dead_letter_topic, letter)
        self._dead_letters.flush()
        self.stats.dead_lettered += 1

    @staticmethod
    def _on_client_error(error: KafkaError) -> None:
        if error.fatal():
            raise KafkaTransportError(f"consumer failed: {error.str()}")
        log.warning("consumer error reported by the client, which keeps going: %s", error.str())

    def _handled(self) -> int:
        return self.stats.processed + self.stats.dead_lettered + self.stats.tombstones

    def close(self) -> None:
        """Commit the stored offsets and leave the group."""
        self._consumer.close()

    def __enter__(self) -> EventConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
