"""Reading events back from a real topic in the integration tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from confluent_kafka import Consumer, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event
from alignment_flywheel.kafka.clients import admin_client, assigned_members
from alignment_flywheel.kafka.consumer import EventConsumer, consumer_config, watermarks
from alignment_flywheel.kafka.producer import EventProducer


def collect_events(
    settings: Settings,
    codec: EventCodec,
    topic: str,
    *,
    group: str,
    count: int,
    dead_letter_topic: str,
    idle_timeout: float = 60,
) -> list[Event]:
    """Up to ``count`` events from ``topic`` with a fresh consumer group, in order."""
    events: list[Event] = []
    with EventConsumer(
        settings,
        codec,
        group_id=group,
        topics=[topic],
        handler=lambda event, _msg: events.append(event),
        dead_letter_topic=dead_letter_topic,
    ) as consumer:
        consumer.run(max_records=count, idle_timeout=idle_timeout)
    return events


@dataclass(frozen=True)
class RawRecord:
    """One record as it is on the topic."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int = -1

    @property
    def header_map(self) -> dict[str, bytes]:
        return dict(self.headers)


def read_records(
    settings: Settings, topic: str, count: int, *, timeout: float = 60.0
) -> list[RawRecord]:
    """Up to ``count`` records from the start of ``topic`` (fewer if ``timeout`` passes first)."""
    consumer = Consumer(consumer_config(settings, f"read-{time.monotonic_ns()}"))
    consumer.subscribe([topic])
    found: list[RawRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None or msg.value() is None:
                continue
            headers = cast(list[tuple[str, bytes]], msg.headers() or [])
            value = cast(bytes, msg.value())
            found.append(RawRecord(msg.key(), value, list(headers), int(msg.partition() or 0)))
    finally:
        consumer.close()
    return found


FAST_FAILOVER = {
    "FLYWHEEL_WORKER_SESSION_TIMEOUT_S": "6",
    "FLYWHEEL_WORKER_HEARTBEAT_INTERVAL_S": "1",
    "FLYWHEEL_WORKER_REBALANCE_TIMEOUT_S": "8",
}
"""A worker's environment so that a replacement takes over a SIGKILLed one's partitions
quickly."""


def wait_for_records(
    settings: Settings, topic: str, partitions: int, count: int, *, timeout: float = 90.0
) -> None:
    """Until ``topic`` holds at least ``count`` records (by its end offsets)."""
    consumer = Consumer(consumer_config(settings, "watermarks"))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            total = sum(
                watermarks(consumer, TopicPartition(topic, p), 5)[1] for p in range(partitions)
            )
            if total >= count:
                return
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} records on {topic} after {timeout:g} s")
    finally:
        consumer.close()


def wait_for_group(
    settings: Settings,
    group: str,
    count: int,
    logs: Sequence[Path] = (),
    timeout: float = 180.0,
    *,
    workers: Sequence[subprocess.Popen[bytes]],
) -> None:
    """Until ``count`` members of ``group`` hold partitions (a worker has started and joined).
    Fails with the tail of each worker log on timeout, and at once when one of ``workers`` has
    exited."""
    admin = admin_client(settings)
    deadline = time.monotonic() + timeout
    while assigned_members(admin, group) < count:
        exited = [code for worker in workers if (code := worker.poll()) is not None]
        if exited or time.monotonic() > deadline:
            output = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
            why = f"a worker exited ({exited})" if exited else f"after {timeout:g} s"
            raise AssertionError(
                f"group {group}: fewer than {count} members with partitions; {why}\n{output}"
            )
        time.sleep(0.25)


def publish(settings: Settings, topic: str, events: Sequence[Event]) -> None:
    """Send ``events`` to ``topic``, in order, then flush the producer."""
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        for event in events:
            producer.send(topic, event)
