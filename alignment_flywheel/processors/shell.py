"""A governance worker's Kafka shell: what every faust role has in common.

Rules:

* A worker is its role's pure core (``governance/*_core.py``, ``release/controller_core.py``)
  inside a :class:`Shell`: one faust app named by the role's consumer group (or ``app_id``), the
  shared codec, one dead-letter writer, and the role's topics (:class:`~alignment_flywheel.roles.
  RoleTopics`), so a topic name is never typed in a worker.
* :meth:`Shell.consume` declares an agent on the topic of an event type: each record is decoded,
  a valid event of a type that topic's catalog entry does not carry is dead-lettered, and so is a
  record whose step raises :class:`~alignment_flywheel.errors.InvalidInputError`
  (:func:`~.streams.stepping`); the record is acknowledged once its handler returned.
* :meth:`Shell.emit` sends what a step emitted, in order, each event to the topic of its type and
  confirmed by the broker before the next; ``sent`` counts them by type. It encodes them all
  first: an event that cannot be encoded (too large) is bad input and nothing is sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    event_topic,
    expected_on,
    raw_topic,
    send_confirmed,
    stepping,
)
from alignment_flywheel.roles import RoleTopics, group_for, topic_for

Handler = Callable[[Event], Awaitable[None]]


class Shell:
    """A role's faust app, codec, dead-letter writer and topics."""

    def __init__(
        self,
        settings: Settings,
        topics: RoleTopics,
        *,
        app_id: str | None = None,
        **app_overrides: Any,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.app_id = app_id or group_for(topics.role)
        self.codec = EventCodec.from_settings(settings)
        self.app: faust.App = create_app(settings, self.app_id, **app_overrides)
        self.dead = DeadLetterWriter.on(
            self.app,
            topics.of("DeadLettered"),
            self.codec,
            producer=settings.identity,
            group=self.app_id,
        )
        self.sent: Counter[str] = Counter()
        self._outputs: dict[str, Any] = {}

    def consume(self, event_type: str, name: str, handle: Handler) -> None:
        """An agent ``name`` on the topic that carries ``event_type`` (see the module rules)."""
        source = raw_topic(self.app, self.topics.of(event_type))
        expected = expected_on(topic_for(event_type))
        agent(self.app, source, name=name)(stepping(self.codec, self.dead, expected, handle))

    def output(self, event_type: str) -> Any:
        """The faust topic this worker sends ``event_type`` events to."""
        name = self.topics.of(event_type)
        if name not in self._outputs:
            self._outputs[name] = event_topic(self.app, name, self.codec)
        return self._outputs[name]

    async def emit(self, events: Iterable[Event]) -> None:
        """Encode ``events`` (InvalidInputError, and nothing sent, if one cannot be), then send
        them in order, each confirmed before the next."""
        encoded = [(event, self.codec.encode(event)) for event in events]
        for event, value in encoded:
            kind = event.event_type()
            await send_confirmed(self.output(kind), event, value)
            self.sent[kind] += 1
