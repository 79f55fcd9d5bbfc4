"""A faust worker for the integration tests: relays events from one topic to another.

Run as ``python -m tests.support.faust_relay BOOTSTRAP SOURCE TARGET DEADLETTER GROUP``. It reads
raw bytes, decodes them with the shared codec (dead-lettering what does not decode) and writes each
event to the target topic through the faust codec.
"""

from __future__ import annotations

import sys
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.processors.app import agent, create_app, run_worker
from alignment_flywheel.processors.codec import FaustEventCodec
from alignment_flywheel.processors.streams import DeadLetterWriter, decoded


def main(bootstrap: str, source: str, target: str, dead_letter: str, group: str) -> None:
    settings = load_settings(bootstrap_servers=bootstrap)
    codec = EventCodec.from_settings(settings)
    app = create_app(settings, group)
    source_topic = app.topic(source, value_serializer="raw", key_serializer="raw")
    target_topic = app.topic(target, value_serializer=FaustEventCodec(codec), key_serializer="raw")
    dead_topic = app.topic(dead_letter, value_serializer="raw", key_serializer="raw")
    dead_letters = DeadLetterWriter(dead_topic, codec, producer="faust-relay", group=group)

    async def relay(stream: Any) -> None:
        async for event in decoded(stream, codec, dead_letters):
            await target_topic.send(key=event.envelope.key.encode(), value=event)

    agent(app, source_topic, name="relay")(relay)
    run_worker(app)


if __name__ == "__main__":
    main(*sys.argv[1:6])
