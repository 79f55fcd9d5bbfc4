"""Decoding faust streams with the dead-letter policy of the connectors.

Processors consume raw bytes and decode them here, not in faust's deserializer, so that a record
that cannot be decoded is published to the dead-letter topic with its original bytes, topic,
partition and offset, and the stream goes on. The dead letter is confirmed by the broker before the
next record is read; faust acknowledges (and later commits) a record only after the agent has moved
past it, so nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.deadletter import dead_letter_for
from alignment_flywheel.errors import CodecError
from alignment_flywheel.events import Event

log = logging.getLogger(__name__)


def raw_topic(app: Any, name: str) -> Any:
    """A topic read and written as raw bytes (decoded here, so bad records can be dead-lettered)."""
    return app.topic(name, value_serializer="raw", key_serializer="raw")


async def send_confirmed(topic: Any, event: Event) -> None:
    """Publish ``event`` on a faust topic, keyed by its envelope key; return once the broker has
    acknowledged it (an agent moves past its input only after its outputs are confirmed)."""
    pending = await topic.send(key=event.envelope.key.encode(), value=event)
    await pending


class DeadLetterWriter:
    """Publishes DeadLettered events to a faust topic and waits for the broker's acknowledgement."""

    def __init__(self, topic: Any, codec: EventCodec, *, producer: str, group: str) -> None:
        self._topic = topic
        self._codec = codec
        self._producer = producer
        self._group = group
        self.count = 0

    async def publish(self, message: Any, error: BaseException) -> None:
        letter = dead_letter_for(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error=error,
            producer=self._producer,
            consumer_group=self._group,
        )
        log.warning("dead-lettering %s: %s", letter.envelope.key, error)
        pending = await self._topic.send(
            key=letter.envelope.key.encode(), value=self._codec.encode(letter)
        )
        await pending
        self.count += 1


async def decoded(
    stream: Any, codec: EventCodec, dead_letters: DeadLetterWriter
) -> AsyncIterator[Event]:
    """Yield each record of a raw faust stream as an Event; dead-letter what does not decode."""
    async for record in stream.events():
        raw = record.message.value
        if raw is None:
            continue
        try:
            event = codec.decode(raw)
        except CodecError as exc:
            await dead_letters.publish(record.message, exc)
            continue
        yield event
