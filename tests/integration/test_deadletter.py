"""Bad input on a real broker: dead-lettered with bytes and reason; good records keep flowing."""

from __future__ import annotations

import os
import struct

import pytest
from confluent_kafka import Consumer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import DeadLettered, Event, ProposalSubmitted
from alignment_flywheel.kafka.consumer import EventConsumer, consumer_config
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.kafka import collect_events
from tests.support.samples import sample_proposal_submitted

pytestmark = pytest.mark.integration


def _read_all(settings, codec, topic, group, expected, *, timeout=30.0):
    consumer = Consumer(consumer_config(settings, group))
    consumer.subscribe([topic])
    events = []
    try:
        while len(events) < expected:
            msg = consumer.poll(timeout)
            assert msg is not None, f"only {len(events)} of {expected} records on {topic}"
            assert msg.error() is None, msg.error()
            events.append((msg, codec.decode(msg.value())))
    finally:
        consumer.close()
    return events


def test_bad_records_are_dead_lettered_and_good_ones_processed(
    kafka_settings, unique_name, make_topic
):
    settings = kafka_settings.model_copy(update={"max_event_bytes": 4096})
    codec = EventCodec.from_settings(settings)
    source, dead = make_topic(unique_name("src")), make_topic(unique_name("dlq"))
    good = [sample_proposal_submitted(i) for i in range(3)]
    unknown_fingerprint = b"\xc3\x01" + struct.pack("<q", 1234567) + b"\x02ab"
    corrupt_body = codec.encode(good[0])[:12] + b"\xff" * 5
    bad = [b"not avro at all", unknown_fingerprint, corrupt_body, os.urandom(8000)]

    with EventProducer(settings, codec) as producer:
        producer.send(source, good[0])
        for raw in bad[:2]:
            producer.send_bytes(source, b"k", raw)
        producer.send(source, good[1])
        for raw in bad[2:]:
            producer.send_bytes(source, b"k", raw)
        producer.send_bytes(source, b"k", None)
        producer.send(source, good[2])

    handled: list[Event] = []
    with EventConsumer(
        settings,
        codec,
        group_id=unique_name("group"),
        topics=[source],
        handler=lambda event, _msg: handled.append(event),
        dead_letter_topic=dead,
    ) as consumer:
        stats = consumer.run(max_records=len(good) + len(bad) + 1, idle_timeout=30)

    assert handled == good
    assert (stats.processed, stats.dead_lettered, stats.tombstones) == (3, 4, 1)

    letters = [event for _msg, event in _read_all(settings, codec, dead, unique_name("r"), 4)]
    assert all(isinstance(letter, DeadLettered) for letter in letters)
    assert [letter.original_value for letter in letters] == bad
    assert [letter.offset for letter in letters] == [1, 2, 4, 5]
    assert {letter.source_topic for letter in letters} == {source}
    kinds = [letter.error_type for letter in letters]
    assert kinds[0] == "MalformedEventError"
    assert kinds[1] == "UnknownSchemaError"
    assert kinds[2] in {"MalformedEventError", "SchemaViolationError"}
    assert kinds[3] == "OversizedEventError"
    reason = letters[1].reason.lower()  # names the unknown fingerprint, in hex
    assert "87d6120000000000" in reason or "12d687" in reason
    assert "8000" in letters[3].reason and "4096" in letters[3].reason


def test_handler_rejection_is_dead_lettered_and_commit_moves_past_it(
    kafka_settings, unique_name, make_topic
):
    codec = EventCodec.from_settings(kafka_settings)
    source, dead = make_topic(unique_name("src")), make_topic(unique_name("dlq"))
    events = [sample_proposal_submitted(i) for i in range(4)]
    with EventProducer(kafka_settings, codec) as producer:
        for event in events:
            producer.send(source, event)

    def handler(event: Event, _msg: object) -> None:
        assert isinstance(event, ProposalSubmitted)
        if event.proposal.tool == "shell.exec":
            raise InvalidInputError(f"tool {event.proposal.tool} is not allowed here")

    group = unique_name("group")
    with EventConsumer(
        kafka_settings,
        codec,
        group_id=group,
        topics=[source],
        handler=handler,
        dead_letter_topic=dead,
    ) as consumer:
        stats = consumer.run(max_records=4, idle_timeout=30)
    rejected = [e for e in events if e.proposal.tool == "shell.exec"]
    assert stats.dead_lettered == len(rejected) > 0
    assert stats.processed == 4 - len(rejected)

    # The group's committed position is past every record: a restart handles nothing again.
    again = collect_events(
        kafka_settings, codec, source, group=group, count=1, dead_letter_topic=dead, idle_timeout=5
    )
    assert again == []


def test_handler_failure_stops_the_consumer_and_the_record_is_retried(
    kafka_settings, unique_name, make_topic
):
    codec = EventCodec.from_settings(kafka_settings)
    source = make_topic(unique_name("src"))
    events = [sample_proposal_submitted(i) for i in range(2)]
    with EventProducer(kafka_settings, codec) as producer:
        for event in events:
            producer.send(source, event)

    def broken(_event: Event, _msg: object) -> None:
        raise RuntimeError("downstream store unavailable")

    group = unique_name("group")
    with (
        EventConsumer(
            kafka_settings,
            codec,
            group_id=group,
            topics=[source],
            handler=broken,
            dead_letter_topic=make_topic(unique_name("dlq")),
        ) as consumer,
        pytest.raises(RuntimeError, match="downstream store unavailable"),
    ):
        consumer.run(idle_timeout=30)

    handled = collect_events(
        kafka_settings, codec, source, group=group, count=2, dead_letter_topic=unique_name("dlq")
    )
    assert handled == events
