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

from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.events import Event, IncidentReported
from alignment_flywheel.governance.intake_core import IntakeCore
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.roles import RoleTopics


class Intake:
    """The intake app. Build with :func:`build_intake`."""

    def __init__(
        self,
        settings: Settings,
        decider: Decider,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        **app_overrides: Any,
    ) -> None:
        self.decider = decider
        self._core = IntakeCore(decider, settings.identity)
        self.shell = Shell(settings, topics or RoleTopics("intake"), app_id=app_id, **app_overrides)
        self.app = self.shell.app
        self.shell.consume("IncidentReported", "intake", self.handle)

    async def handle(self, incident: Event) -> None:
        """Step one incident (InvalidInputError if it cannot become a finding); send the finding."""
        if isinstance(incident, IncidentReported):
            await self.shell.emit(self._core({}, incident).emitted)


def build_intake(settings: Settings, decider: Decider, **options: Any) -> Intake:
    """An intake worker's app; ``options`` as :class:`Intake` takes them (faust's go to faust)."""
    return Intake(settings, decider, **options)
