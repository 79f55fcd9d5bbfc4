"""Readers read committed records only and stop at the last stable offset, not the high watermark:
an open transaction at the end of a topic neither shows nor keeps a bounded read waiting."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.kafka.clients import reader_group
from alignment_flywheel.kafka.consumer import consumer_config, watermarks
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.kafka.reader import TopicTail, read_topic
from tests.support.samples import sample_proposal_submitted

pytestmark = pytest.mark.integration


def test_a_bounded_read_stops_at_the_last_stable_offset(kafka_settings, make_topic):
    codec = EventCodec.from_settings(kafka_settings)
    topic = make_topic(f"lso-{uuid.uuid4().hex[:8]}", partitions=1)
    overrides = {"transactional.id": f"flywheel-gate-test-{uuid.uuid4().hex[:8]}"}
    producer = Producer(producer_config(kafka_settings, overrides))
    producer.init_transactions(30)
    events = [sample_proposal_submitted(i) for i in range(5)]
    producer.begin_transaction()
    for event in events[:3]:
        producer.produce(topic, key=b"k", value=codec.encode(event), partition=0)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for event in events[3:]:
        producer.produce(topic, key=b"k", value=codec.encode(event), partition=0)
    producer.flush(30)
    try:
        consumer = Consumer(consumer_config(kafka_settings, reader_group("lso")))
        try:
            low, end = watermarks(consumer, TopicPartition(topic, 0), 30)
        finally:
            consumer.close()
        assert (low, end) == (0, 4), "the end of a committed read is the open transaction's start"
        started = time.monotonic()
        read = list(read_topic(kafka_settings, codec, topic))
        assert read == events[:3]
        assert time.monotonic() - started < 10
        since = events[0].envelope.occurred_at.replace(year=2000)
        tail = TopicTail(kafka_settings, codec, [topic], since=since)
        try:
            assert list(tail.read_to_end()) == events[:3]
        finally:
            tail.close()
    finally:
        producer.abort_transaction(30)
    assert list(read_topic(kafka_settings, codec, topic)) == events[:3]
