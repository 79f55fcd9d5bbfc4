"""Every producer of the project partitions keys as faust (aiokafka) and the Java client do, and
places the records of a session on the partition its session key hashes to."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, Producer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.sdk import Guard, SdkTopics
from alignment_flywheel.events import (
    Event,
    ProposalSubmitted,
    ReviewRequested,
    SessionStarted,
    ToolResultObserved,
    VerdictIssued,
)
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.kafka.placement import partition_for, session_key
from alignment_flywheel.kafka.producer import (
    PRODUCER_DEFAULTS,
    EventProducer,
    producer_config,
)
from tests.support.kafka import read_records
from tests.support.samples import sample_proposal_submitted
from tests.unit.test_sdk_fakes import ToolEnforcer


def test_the_producer_defaults_name_murmur2() -> None:
    assert PRODUCER_DEFAULTS["partitioner"] == "murmur2_random"


def test_confluent_and_aiokafka_put_a_key_on_the_same_partition(
    kafka_settings: Settings, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = make_topic(unique_name("keys"), partitions=6)
    keys = [str(uuid.uuid4()).encode() for _ in range(60)]
    producer = Producer(producer_config(kafka_settings))
    for key in keys:
        producer.produce(topic, key=key, value=b"x")
    producer.flush(30)
    consumer = Consumer(consumer_config(kafka_settings, unique_name("g")))
    consumer.subscribe([topic])
    placed: dict[bytes, int] = {}
    while len(placed) < len(keys):
        message = consumer.poll(10)
        assert message is not None, f"only {len(placed)} of {len(keys)} records read"
        if message.error() is None:
            placed[message.key()] = message.partition()
    consumer.close()
    partitioner = DefaultPartitioner()
    partitions = list(range(6))
    expected = {key: partitioner(key, partitions, partitions) for key in keys}
    assert placed == expected
    assert len(set(placed.values())) > 1


def test_every_record_of_a_session_lands_on_its_session_s_partition(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    topics = SdkTopics(
        make_topic(unique_name("proposals"), partitions=6),
        make_topic(unique_name("verdicts"), partitions=6),
        make_topic(unique_name("reviews"), partitions=3),
    )
    codec = EventCodec.from_settings(settings)
    session_of: dict[uuid.UUID, tuple[str, str]] = {}
    with Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-p", topics=topics) as guard:
        for i in range(12):
            guard.start_session("hello", session_id=f"s-{i}")
            guard.observe("fs.read", "contents")
            escalated = guard.check("review.deploy", {"service": "api"})
            session_of[escalated.proposal_id] = ("agent-p", f"s-{i}")
    with EventProducer(settings, codec) as producer:  # fire-and-forget proposals, placed alike
        for i in range(12):
            event = sample_proposal_submitted(i)
            producer.send(topics.proposals, event)
    counts = {topics.proposals: 6, topics.verdicts: 6, topics.reviews: 3}
    expected = {topics.proposals: 48, topics.verdicts: 12, topics.reviews: 12}
    used = set()
    for topic, count in expected.items():
        records = read_records(settings, topic, count)
        assert len(records) == count
        for record in records:
            proposer, session = _session_of(codec.decode(record.value), session_of)
            assert record.partition == partition_for(session_key(proposer, session), counts[topic])
            used.add((topic, record.partition))
    assert len(used) > 3


def _session_of(event: Event, sessions: dict[uuid.UUID, tuple[str, str]]) -> tuple[str, str]:
    if isinstance(event, ProposalSubmitted):
        return event.proposal.proposer_id, event.proposal.session_id
    if isinstance(event, ReviewRequested):
        return sessions[event.proposal_id]
    assert isinstance(event, SessionStarted | ToolResultObserved | VerdictIssued)
    return event.proposer_id, event.session_id
