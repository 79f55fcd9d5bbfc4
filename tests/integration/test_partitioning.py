"""Every producer of the project partitions keys as faust (aiokafka) and the Java client do."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, Producer

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.consumer import consumer_config
from alignment_flywheel.connectors.producer import PRODUCER_DEFAULTS, producer_config


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
