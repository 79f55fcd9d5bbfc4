"""Reading events back from a real topic in the integration tests."""

from __future__ import annotations

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.consumer import EventConsumer
from alignment_flywheel.events import Event


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
