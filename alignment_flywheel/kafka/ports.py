"""What the SDK publisher and the bounded reader need from a Kafka client, as protocols.

Two adapters implement them: the confluent-kafka ``Producer`` and ``Consumer`` (the default
everywhere), and :mod:`~alignment_flywheel.kafka.memory` (topics in memory, for tests). The same
contract tests (``tests/contract``) run against both. Records are confluent-kafka ``Message`` and
``TopicPartition`` values in either adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, TopicPartition

Headers = list[tuple[str, str | bytes | None]]
DeliveryCallback = Callable[[KafkaError | None, Message], None]


class ProducerPort(Protocol):
    """Produce records with a delivery callback, serve callbacks, wait for them, drop the queue,
    and ask a topic's metadata (its partition count)."""

    def produce(
        self,
        topic: str,
        *,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int = -1,
        on_delivery: DeliveryCallback | None = None,
        headers: Headers | None = None,
    ) -> None: ...

    def poll(self, timeout: float = -1) -> int: ...

    def flush(self, timeout: float = -1) -> int: ...

    def purge(self) -> None: ...

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


class ReaderPort(Protocol):
    """Assign partitions at offsets, fetch records, ask positions, watermarks, offsets by time
    and a topic's metadata, and close."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None: ...

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...

    def poll(self, timeout: float = -1) -> Message | None: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]: ...

    def offsets_for_times(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]: ...

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...

    def close(self) -> None: ...


ProducerFactory = Callable[[dict[str, Any]], ProducerPort]
"""Builds a producer from its configuration (``confluent_kafka.Producer`` by default)."""

ReaderFactory = Callable[[dict[str, Any]], ReaderPort]
"""Builds a reading consumer from its configuration (``confluent_kafka.Consumer`` by default)."""
