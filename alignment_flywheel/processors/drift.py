"""The drift processor (blue team): live proposals and verdicts in, drift and findings out.

Agents on the proposals and the verdicts topics (both keyed by proposal id) join each
``ProposalSubmitted`` with its *enforced* ``VerdictIssued`` (shadow verdicts are ignored;
whichever arrives first waits, at most
:data:`~alignment_flywheel.governance.drift_core.MAX_WAITING` of each, oldest dropped) and hand the
pair to :class:`~alignment_flywheel.governance.drift.DriftWatch`. Each detection is published as
``DriftDetected`` on the drift topic keyed by its subject, and the drifting subject's traffic is
sampled (at most ``samples_per_detection`` pairs) into ``FindingRaised`` (source DRIFT) on the
findings topic, for verification. Event ids are the drift id and the finding ids, derived from
the subject, the metric and the triggering proposal id.

One drift worker runs per deployment (a subject's traffic spans every partition). Detector state
is in memory and documented as such (see the domain module): after a restart the detectors learn
their baselines again, so a restart loses no output already sent (a record is acknowledged, and
its offset committed, only after its outputs are confirmed) and a re-emitted detection carries the
same id. Records that do not decode, and valid events of a type the proposals or verdicts topic
does not carry, are dead-lettered; any other failure stops the worker.

The join and the watch are a pure core (:mod:`~alignment_flywheel.governance.drift_core`, where
its restart rules are tested without a broker); the agents decode, step, apply the step's writes
to the in-memory tables, then send what it emitted, in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import DriftDetected, Event, ProposalSubmitted, VerdictIssued
from alignment_flywheel.governance.drift import DriftWatch
from alignment_flywheel.governance.drift_core import PROPOSALS, VERDICTS, DriftCore
from alignment_flywheel.governance.step import write_into
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    Expected,
    event_topic,
    expected_on,
    raw_topic,
    send_confirmed,
    stepping,
)
from alignment_flywheel.roles import group_for, topic_for

DEFAULT_APP_ID = group_for("drift")


@dataclass(frozen=True)
class DriftTopics:
    proposals: str = topic_for("ProposalSubmitted")
    verdicts: str = topic_for("VerdictIssued")
    drift: str = topic_for("DriftDetected")
    findings: str = topic_for("FindingRaised")
    dead_letters: str = topic_for("DeadLettered")


class DriftWorker:
    """The drift app and its watch. Build with :func:`build_drift`."""

    def __init__(
        self,
        settings: Settings,
        watch: DriftWatch | None = None,
        *,
        app_id: str = DEFAULT_APP_ID,
        topics: DriftTopics | None = None,
    ) -> None:
        self.topics = topics or DriftTopics()
        self.watch = watch or DriftWatch()
        self.detections_sent = 0
        self.findings_sent = 0
        self.tables: dict[str, dict[str, Any]] = {PROPOSALS: {}, VERDICTS: {}}
        self._core = DriftCore(self.watch, settings.identity)
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id)
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        self._drift = event_topic(app, names.drift, self._codec)
        self._findings = event_topic(app, names.findings, self._codec)
        self._dead = DeadLetterWriter.on(
            app, names.dead_letters, self._codec, producer=self._settings.identity, group=app_id
        )
        proposals = self._consumer(expected_on(topic_for("ProposalSubmitted")))
        agent(app, raw_topic(app, names.proposals), name="proposals")(proposals)
        verdicts = self._consumer(expected_on(topic_for("VerdictIssued")))
        agent(app, raw_topic(app, names.verdicts), name="verdicts")(verdicts)

    def _consumer(self, expected: Expected) -> Callable[[Any], Awaitable[None]]:
        """An agent that steps each event of its input (:func:`stepping`)."""
        return stepping(self._codec, self._dead, expected, self.handle)

    async def handle(self, event: Event) -> None:
        """Step one proposal or verdict; apply its writes, then send what it emitted."""
        if not isinstance(event, ProposalSubmitted | VerdictIssued):
            return
        stepped = self._core(self.tables, event)
        for name, changes in stepped.writes.items():
            write_into(self.tables[name], changes)
        for out in stepped.emitted:
            if isinstance(out, DriftDetected):
                await send_confirmed(self._drift, out)
                self.detections_sent += 1
            else:
                await send_confirmed(self._findings, out)
                self.findings_sent += 1


def build_drift(settings: Settings, **options: Any) -> DriftWorker:
    return DriftWorker(settings, **options)
