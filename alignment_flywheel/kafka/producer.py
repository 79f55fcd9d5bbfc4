"""Producing events to Kafka with confluent-kafka.

Rules:

* Every event is encoded by the shared :class:`~alignment_flywheel.codec.EventCodec`; the message
  key is the envelope's ``key``, so all events about one subject land on one partition, in order.
* Keys are partitioned with murmur2, as the Java client, Kafka Streams and faust (aiokafka) do, so a
  key lands on the same partition whoever produced it and tables stay co-partitioned with topics
  written by other clients (librdkafka's own default, CRC32, would not agree).
* Proposals, session events and verdicts are placed by their session instead
  (:mod:`~alignment_flywheel.kafka.placement`): the same key, but the partition its session
  key hashes to over the topic's partition count, read from the cluster the first time the topic
  is sent such an event (then cached). A count the cluster does not give raises
  :class:`~alignment_flywheel.errors.KafkaTransportError`.
* Delivery is acknowledged by all in-sync replicas (``acks=all``) with idempotence on: a retry
  inside the client never duplicates a record.
* A ``DeadLettered`` event is fitted to the client's ``message.max.bytes`` (its original bytes, or
  an excerpt with their length and SHA-256 when the whole would not fit), so a dead letter never
  fails for the size of the record it carries.
* ``send`` never blocks on the network (but for that one lookup per topic): when the client's
  local queue is full it serves delivery callbacks until there is room. Failures are collected
  and raised by :meth:`EventProducer.flush` as
  :class:`~alignment_flywheel.errors.KafkaTransportError`, so no failed delivery goes unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.events import DeadLettered, Event
from alignment_flywheel.kafka.clients import client_config
from alignment_flywheel.kafka.deadletter import fit_dead_letter
from alignment_flywheel.kafka.placement import (
    PartitionCounts,
    metadata_lookup,
    session_key_of,
)

DeliveryCallback = Callable[[KafkaError | None, Message], None]
METADATA_TIMEOUT_S = 10.0
UNASSIGNED = -1

PRODUCER_DEFAULTS: Mapping[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "batch.num.messages": 10_000,
    "partitioner": "murmur2_random",
}


def producer_config(
    settings: Settings, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The client configuration every producer of the project starts from."""
    config = {**client_config(settings), **PRODUCER_DEFAULTS}
    config["message.max.bytes"] = max(settings.max_event_bytes * 10, 1_000_000)
    config.update(overrides or {})
    return config


class EventProducer:
    """Encodes events with the shared codec and produces them, keyed by their envelope key."""

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        config = producer_config(settings, overrides)
        self._codec = codec
        self._producer = Producer(config)
        self._counts = PartitionCounts(metadata_lookup(self._producer, METADATA_TIMEOUT_S))
        self._failures: list[str] = []
        self.max_message_bytes = int(config["message.max.bytes"])

    def send(
        self, topic: str, event: Event, *, on_delivery: DeliveryCallback | None = None
    ) -> None:
        """Queue one event for delivery; raises CodecError if it cannot be encoded."""
        if isinstance(event, DeadLettered):
            value = fit_dead_letter(self._codec, event, self.max_message_bytes)
        else:
            value = self._codec.encode(event)
        partition = self._partition(topic, event)
        self.send_bytes(topic, event.envelope.key.encode(), value, on_delivery, partition)

    def _partition(self, topic: str, event: Event) -> int:
        placed = session_key_of(event)
        if placed is None:
            return UNASSIGNED
        partition = self._counts.partition(topic, placed)
        if partition is None:
            raise KafkaTransportError(f"the cluster did not give the partition count of {topic}")
        return partition

    def send_bytes(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: DeliveryCallback | None = None,
        partition: int = UNASSIGNED,
    ) -> None:
        """Queue bytes that are already encoded (replays, dead letters, benchmarks), to
        ``partition`` (by default the one the key hashes to)."""
        callback = self._callback(on_delivery)
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, partition=partition, on_delivery=callback
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks; returns how many were served."""
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every queued event; raise if any was not delivered."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise KafkaTransportError(f"{remaining} events still undelivered after {timeout:.1f} s")
        if self._failures:
            failures, self._failures = self._failures, []
            raise KafkaTransportError(
                f"{len(failures)} events failed delivery; first: {failures[0]}"
            )

    def _callback(self, user: DeliveryCallback | None) -> DeliveryCallback:
        failures = self._failures

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failures.append(f"{msg.topic()}: {err.str()}")
            if user is not None:
                user(err, msg)

        return on_delivery

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
