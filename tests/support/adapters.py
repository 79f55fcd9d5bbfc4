"""The two adapters the contract tests (``tests/contract``) run on, behind one small interface.

:class:`MemoryAdapter` keeps topics in a :class:`~alignment_flywheel.kafka.memory.MemoryBroker`;
:class:`BrokerAdapter` uses the confluent-kafka clients on the real broker of the
``kafka_settings`` fixture. Records are written and read back through the ports
(:mod:`alignment_flywheel.kafka.ports`), by the same code for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.kafka.clients import admin_client, reader_group
from alignment_flywheel.kafka.consumer import consumer_config, partitions_of, watermarks
from alignment_flywheel.kafka.memory import MemoryBroker
from alignment_flywheel.kafka.ports import ProducerFactory, ReaderFactory, ReaderPort
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.kafka.reader import Span, read_spans
from alignment_flywheel.stack.processes import free_ports

TIMEOUT_S = 30.0
MEMORY_SERVERS = "memory.invalid:9092"
"""Where the in-memory adapter's settings point (no client connects there)."""


@dataclass(frozen=True)
class Delivered:
    """One record as a topic holds it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Unreachable:
    """Settings and clients for a cluster that does not answer."""

    settings: Settings
    producer_factory: ProducerFactory
    consumer_factory: ReaderFactory


@dataclass(frozen=True)
class Adapter:
    """Where a contract test's topics live and the clients that reach them.

    ``create_topic(partitions)`` returns a new topic's name; ``delete_before(topic, partition,
    offset)`` deletes a partition's records before ``offset`` (its low watermark moves up)."""

    name: str
    settings: Settings
    create_topic: Callable[[int], str]
    delete_before: Callable[[str, int, int], None]
    producer_factory: ProducerFactory
    consumer_factory: ReaderFactory
    unreachable: Unreachable

    def consumer(self) -> ReaderPort:
        config = consumer_config(self.settings, reader_group("contract"))
        return self.consumer_factory({**config, "enable.auto.commit": False})

    def write(
        self, topic: str, records: Sequence[tuple[int, bytes | None, bytes]]
    ) -> list[tuple[int, int]]:
        """Produce ``(partition, key, value)`` records in order and wait for every
        acknowledgement; their (partition, offset)."""
        producer = self.producer_factory(producer_config(self.settings))
        placed: list[tuple[int, int]] = []
        errors: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(err)
            placed.append((int(msg.partition() or 0), int(msg.offset() or 0)))

        for partition, key, value in records:
            producer.produce(
                topic, value=value, key=key, partition=partition, on_delivery=on_delivery
            )
        assert producer.flush(TIMEOUT_S) == 0, "records still queued"
        assert not errors, errors
        return placed

    def read_back(self, topic: str) -> list[Delivered]:
        """Every record of ``topic``, partition by partition, in offset order."""
        consumer = self.consumer()
        try:
            spans = []
            for partition in partitions_of(consumer, topic, TIMEOUT_S):
                low, high = watermarks(consumer, TopicPartition(topic, partition), TIMEOUT_S)
                spans.append(Span(partition, low, high))
            found = [_delivered(msg) for msg in read_spans(consumer, topic, spans)]
        finally:
            consumer.close()
        return sorted(found, key=lambda d: (d.partition, d.offset))


def _delivered(msg: Message) -> Delivered:
    headers = tuple((name, bytes(value or b"")) for name, value in msg.headers() or [])
    return Delivered(
        int(msg.partition() or 0), int(msg.offset() or 0), msg.key(), msg.value(), headers
    )


def memory_adapter(settings: Settings, broker: MemoryBroker | None = None) -> Adapter:
    """Topics in memory; the unreachable cluster is a second broker that is down."""
    memory = broker or MemoryBroker()
    down = MemoryBroker(down=True)
    counter = iter(range(1_000_000))
    return Adapter(
        name="memory",
        settings=settings,
        create_topic=lambda partitions: memory.create_topic(f"t-{next(counter)}", partitions),
        delete_before=memory.truncate,
        producer_factory=memory.producer,
        consumer_factory=memory.consumer,
        unreachable=Unreachable(settings, down.producer, down.consumer),
    )


def broker_adapter(
    settings: Settings, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> Adapter:
    """The real broker; the unreachable cluster is a port nothing listens on."""
    (dead_port,) = free_ports(1)
    dead = load_settings(bootstrap_servers=f"127.0.0.1:{dead_port}", state_dir=settings.state_dir)
    return Adapter(
        name="kafka",
        settings=settings,
        create_topic=lambda partitions: make_topic(unique_name("contract"), partitions),
        delete_before=lambda topic, partition, offset: _delete_records(
            settings, TopicPartition(topic, partition, offset)
        ),
        producer_factory=Producer,
        consumer_factory=Consumer,
        unreachable=Unreachable(dead, Producer, Consumer),
    )


def _delete_records(settings: Settings, before: TopicPartition) -> None:
    admin = admin_client(settings)  # kept alive until the answer arrives
    for future in admin.delete_records([before], request_timeout=TIMEOUT_S).values():
        future.result(timeout=TIMEOUT_S)
