"""The in-memory Kafka adapter where the real broker cannot be steered from a test: records
removed by compaction, offsets out of range, a broker that goes down (the behaviour both share
is in ``tests/contract``)."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, Message, TopicPartition

from alignment_flywheel.kafka.memory import MemoryBroker
from alignment_flywheel.kafka.reader import Span, read_spans


def _filled(count: int, partitions: int = 1) -> tuple[MemoryBroker, str]:
    broker = MemoryBroker()
    topic = broker.create_topic("t", partitions)
    for i in range(count):
        broker.append(topic, 0, b"k", b"v%d" % i)
    return broker, topic


def test_a_span_ending_in_records_removed_by_compaction_ends_by_position() -> None:
    broker, topic = _filled(5)
    broker.remove(topic, 0, 3)
    broker.remove(topic, 0, 4)
    started = time.monotonic()
    found = [m.offset() for m in read_spans(broker.consumer(), topic, [Span(0, 0, 5)])]
    assert found == [0, 1, 2]
    assert time.monotonic() - started < 2.0


def test_assign_at_the_beginning_the_end_and_out_of_range() -> None:
    broker, topic = _filled(4)
    broker.truncate(topic, 0, 2)
    consumer = broker.consumer()
    for asked, first in [(OFFSET_BEGINNING, 2), (0, 2), (3, 3), (OFFSET_END, None)]:
        consumer.assign([TopicPartition(topic, 0, asked)])
        found = consumer.consume(1, 0.0)
        assert [m.offset() for m in found] == ([] if first is None else [first])
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0)) == (2, 4)


def test_a_waiting_consumer_wakes_when_a_record_arrives() -> None:
    broker, topic = _filled(0)
    consumer = broker.consumer()
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    threading.Timer(0.05, broker.append, (topic, 0, None, b"late")).start()
    started = time.monotonic()
    found = consumer.consume(10, 5.0)
    assert [m.value() for m in found] == [b"late"]
    assert time.monotonic() - started < 2.0


def test_a_down_broker_fails_deliveries_metadata_and_fetches() -> None:
    broker, topic = _filled(2)
    consumer = broker.consumer()
    consumer.assign([TopicPartition(topic, 0, 0)])
    broker.down = True
    outcomes: list[KafkaError | None] = []
    producer = broker.producer()
    producer.produce(topic, value=b"x", on_delivery=lambda err, _msg: outcomes.append(err))
    assert producer.flush(1.0) == 0
    assert [e.code() if e else None for e in outcomes] == [KafkaError._MSG_TIMED_OUT]
    assert consumer.consume(10, 0.0) == []
    with pytest.raises(Exception, match="down"):
        consumer.list_topics(topic, 1.0)
    broker.down = False
    assert [m.value() for m in consumer.consume(10, 0.0)] == [b"v0", b"v1"]


def test_unknown_topics_and_partitions_fail_delivery() -> None:
    broker, topic = _filled(0, partitions=2)
    delivered: list[tuple[KafkaError | None, Message]] = []
    producer = broker.producer()
    for name, partition in [("missing", -1), (topic, 5), (topic, 1)]:
        producer.produce(
            name,
            value=b"x",
            partition=partition,
            on_delivery=lambda err, msg: delivered.append((err, msg)),
        )
    producer.flush()
    codes = [err.code() if err else None for err, _ in delivered]
    assert codes == [KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION, None]
    assert (delivered[2][1].partition(), delivered[2][1].offset()) == (1, 0)


def test_purge_fails_what_is_queued() -> None:
    broker, topic = _filled(0)
    outcomes: list[KafkaError | None] = []
    producer = broker.producer()
    producer.produce(topic, value=b"x", on_delivery=lambda err, _msg: outcomes.append(err))
    producer.purge()
    assert producer.flush() == 0
    assert [e.code() if e else None for e in outcomes] == [KafkaError._PURGE_QUEUE]
    assert broker.watermarks(topic, 0) == (0, 0)
