"""Watermark offsets: asked again while leadership settles, a clear error otherwise."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import consumer_config, watermarks
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.stack.topics import create_topic


def test_a_topic_just_created_answers_its_watermarks(
    kafka_settings: Settings, unique_name: Callable[[str], str]
) -> None:
    admin = admin_client(kafka_settings)
    topics = [create_topic(admin, unique_name("fresh"), partitions=3) for _ in range(3)]
    producer = Producer(producer_config(kafka_settings))
    for _ in range(5):
        producer.produce(topics[0], value=b"x", partition=1)
    producer.flush(30)
    consumer = Consumer(consumer_config(kafka_settings, unique_name("g")))
    try:
        marks = {
            (topic, p): watermarks(consumer, TopicPartition(topic, p), 30)
            for topic in topics
            for p in range(3)
        }
    finally:
        consumer.close()
    assert marks[(topics[0], 1)] == (0, 5)
    assert sum(high for _low, high in marks.values()) == 5


def test_a_missing_topic_is_a_transport_error_after_the_timeout(
    kafka_settings: Settings, unique_name: Callable[[str], str]
) -> None:
    consumer = Consumer(consumer_config(kafka_settings, unique_name("g")))
    try:
        with pytest.raises(KafkaTransportError, match="watermarks of"):
            watermarks(consumer, TopicPartition(unique_name("absent"), 0), 1.0)
    finally:
        consumer.close()
