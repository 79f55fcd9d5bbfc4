"""`assigned_members` on the real broker: what `GovernanceStack.wait_ready` waits on."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer

from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.clients import admin_client, assigned_members
from alignment_flywheel.kafka.consumer import consumer_config


def test_a_group_counts_once_its_member_holds_partitions_and_not_after_it_left(
    kafka_settings: Settings, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    admin = admin_client(kafka_settings)
    topic, group = make_topic(unique_name("groups"), partitions=2), unique_name("group")
    assert assigned_members(admin, group) == 0  # no such group yet
    consumer = Consumer(consumer_config(kafka_settings, group))
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 60
        while assigned_members(admin, group) == 0:
            assert time.monotonic() < deadline, "the consumer never got its partitions"
            consumer.poll(0.2)
        assert assigned_members(admin, group) == 1
        assert {tp.partition for tp in consumer.assignment()} == {0, 1}
    finally:
        consumer.close()
    assert assigned_members(admin, group) == 0  # empty once the member left
