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

from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event, ProposalSubmitted, VerdictIssued
from alignment_flywheel.governance.drift import DriftWatch
from alignment_flywheel.governance.drift_core import PROPOSALS, VERDICTS, DriftCore
from alignment_flywheel.governance.step import write_into
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.roles import RoleTopics


class DriftWorker:
    """The drift app and its watch. Build with :func:`build_drift`."""

    def __init__(
        self,
        settings: Settings,
        watch: DriftWatch | None = None,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
    ) -> None:
        self.watch = watch or DriftWatch()
        self.tables: dict[str, dict[str, Any]] = {PROPOSALS: {}, VERDICTS: {}}
        self._core = DriftCore(self.watch, settings.identity)
        self.shell = Shell(settings, topics or RoleTopics("drift"), app_id=app_id)
        self.app = self.shell.app
        self.shell.consume("ProposalSubmitted", "proposals", self.handle)
        self.shell.consume("VerdictIssued", "verdicts", self.handle)

    async def handle(self, event: Event) -> None:
        """Step one proposal or verdict; apply its writes, then send what it emitted."""
        if not isinstance(event, ProposalSubmitted | VerdictIssued):
            return
        stepped = self._core(self.tables, event)
        for name, changes in stepped.writes.items():
            write_into(self.tables[name], changes)
        await self.shell.emit(stepped.emitted)


def build_drift(settings: Settings, **options: Any) -> DriftWorker:
    return DriftWorker(settings, **options)
