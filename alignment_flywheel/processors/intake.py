"""The intake processor: incidents become findings (see ``alignment_flywheel.governance.intake``).

It consumes the incidents topic and publishes one ``FindingRaised`` per incident to the findings
topic, judged by the oracle in force (the worker follows releases like a gate). A record that does
not decode (oversized ones included), is not an ``IncidentReported``, or cannot become a finding
(no proposal in it, or a finding over ``max_event_bytes``) is dead-lettered; any other failure
stops the worker. The finding id follows from the incident id, so a restart re-emits the same
findings and loses none: an incident is acknowledged, and its offset committed, only after its
finding or its dead letter is confirmed by the broker (:func:`~.streams.handled`).

The per-incident logic is a pure core (:mod:`~alignment_flywheel.governance.intake_core`, where
its restart rules are tested without a broker); the agent decodes, steps, encodes, sends what the
step emitted and acknowledges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import FindingRaised, IncidentReported
from alignment_flywheel.governance.intake_core import IntakeCore
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    event_topic,
    handled,
    raw_topic,
    send_confirmed,
)
from alignment_flywheel.roles import group_for, topic_for

DEFAULT_APP_ID = group_for("intake")


@dataclass(frozen=True)
class IntakeTopics:
    incidents: str = topic_for("IncidentReported")
    findings: str = topic_for("FindingRaised")
    dead_letters: str = topic_for("DeadLettered")


class Intake:
    """The intake app. Build with :func:`build_intake`."""

    def __init__(
        self,
        settings: Settings,
        decider: Decider,
        *,
        app_id: str,
        topics: IntakeTopics,
        **app_overrides: Any,
    ) -> None:
        self.topics = topics
        self.decider = decider
        self.findings_sent = 0
        self._core = IntakeCore(decider, settings.identity)
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id, **app_overrides)
        app = self.app
        self._source = raw_topic(app, topics.incidents)
        self._findings = event_topic(app, topics.findings, self._codec)
        self._dead = DeadLetterWriter.on(
            app, topics.dead_letters, self._codec, producer=settings.identity, group=app_id
        )
        agent(app, self._source, name="intake")(self._run)

    async def _run(self, stream: Any) -> None:
        async for record in handled(stream):
            message = record.message
            if message.value is None:
                continue
            try:
                encoded = self._step(message.value)
            except InvalidInputError as exc:
                await self._dead.publish(message, exc)
                continue
            await self._send(encoded)

    def _step(self, value: bytes) -> list[tuple[FindingRaised, bytes]]:
        """Decode, step and encode one record; InvalidInputError for a record to dead-letter."""
        incident = self._codec.decode(value)
        if not isinstance(incident, IncidentReported):
            raise InvalidInputError(f"expected an IncidentReported, got {incident.event_type()}")
        stepped = self._core({}, incident)
        return [(finding, self._codec.encode(finding)) for finding in stepped.emitted]

    async def _send(self, encoded: list[tuple[FindingRaised, bytes]]) -> None:
        for finding, value in encoded:
            await send_confirmed(self._findings, finding, value)
            self.findings_sent += 1


def build_intake(
    settings: Settings,
    decider: Decider,
    *,
    app_id: str = DEFAULT_APP_ID,
    topics: IntakeTopics | None = None,
    **app_overrides: Any,
) -> Intake:
    """An intake worker's app; ``app_overrides`` go to faust (tests shorten timeouts)."""
    return Intake(
        settings, decider, app_id=app_id, topics=topics or IntakeTopics(), **app_overrides
    )
