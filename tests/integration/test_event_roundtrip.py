"""Every event type goes through a real topic and comes back equal, with its key and order kept."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import EVENT_TYPES, Event
from alignment_flywheel.kafka.consumer import EventConsumer, consumer_config
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.samples import sample_events

pytestmark = pytest.mark.integration


def test_every_event_type_round_trips_through_a_real_topic(kafka_settings, unique_name, make_topic):
    codec = EventCodec.from_settings(kafka_settings)
    topic = make_topic(unique_name("roundtrip"), partitions=1)
    events = sample_events()
    assert {type(e).__name__ for e in events} == set(EVENT_TYPES), "a sample for every event type"

    with EventProducer(kafka_settings, codec) as producer:
        for event in events:
            producer.send(topic, event)

    received: list[tuple[bytes | None, Event]] = []
    with EventConsumer(
        kafka_settings,
        codec,
        group_id=unique_name("group"),
        topics=[topic],
        handler=lambda event, msg: received.append((msg.key(), event)),
        dead_letter_topic=make_topic(unique_name("dlq")),
    ) as consumer:
        stats = consumer.run(max_records=len(events), idle_timeout=30)

    assert stats.dead_lettered == 0
    assert [event for _key, event in received] == events
    assert [key for key, _event in received] == [e.envelope.key.encode() for e in events]


def test_bytes_on_the_wire_are_single_object_encoded(kafka_settings, unique_name, make_topic):
    codec = EventCodec.from_settings(kafka_settings)
    topic = make_topic(unique_name("wire"))
    event = sample_events()[0]
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(topic, event)
    consumer = Consumer(consumer_config(kafka_settings, unique_name("raw")))
    consumer.subscribe([topic])
    try:
        msg = consumer.poll(30)
    finally:
        consumer.close()
    assert msg is not None and msg.error() is None
    raw = msg.value()
    assert raw[:2] == b"\xc3\x01"
    assert raw == codec.encode(event)
