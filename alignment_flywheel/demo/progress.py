"""What the demo has seen so far: its own decisions and the pipeline's events on Kafka.

Rules:

* :class:`Progress` is the one mutable record of a demo run, shared between the scenario thread
  (which counts its proposals and verdicts), the :class:`GovernanceWatch` thread (which folds the
  governance events) and the live display (which only reads). A lock guards every change.
* The watch reads the incidents, findings, verifications, drift, patches and release topics from
  their start and ignores events that occurred before the run began (``since``): on a broker that
  keeps earlier runs' events, only this run is counted.
* Patches are tracked by id: proposed, approved (the first signature in role ``approver``, and by
  whom: ``automatic`` approvals are the demo approver's; the author's own signature is not an
  approval), staged, promoted stage by stage, rolled back; times are the events' own times.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CodecError
from alignment_flywheel.events import (
    DriftDetected,
    Event,
    FindingRaised,
    IncidentReported,
    PatchApproved,
    PatchProposed,
    PatchRejected,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStaged,
    VerificationRecorded,
)
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import reader_group
from alignment_flywheel.kafka.consumer import consumer_config

WATCHED = (
    "IncidentReported",
    "FindingRaised",
    "VerificationRecorded",
    "DriftDetected",
    "PatchProposed",
    "ReleaseStaged",
)
DEMO_APPROVER = "demo approver (automatic)"


@dataclass
class PatchTrack:
    """One patch through approval and rollout."""

    patch_id: uuid.UUID
    proposed_at: float
    target_version: int
    rationale: str
    approved_at: float | None = None
    approved_by: str = ""
    stages: dict[str, float] = field(default_factory=dict)
    rolled_back: str | None = None


@dataclass
class Progress:
    """Counters of a demo run (see the module docstring)."""

    phase: str = "starting"
    started: float = field(default_factory=time.time)
    proposals: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    post_release_unsafe: Counter[str] = field(default_factory=Counter)
    unreported_variants: Counter[str] = field(default_factory=Counter)
    incidents: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    violations: int = 0
    drift: Counter[str] = field(default_factory=Counter)
    patches: dict[uuid.UUID, PatchTrack] = field(default_factory=dict)
    releases: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    hotfixes: set[uuid.UUID] = field(default_factory=set)
    rejected: int = 0
    first_incident_at: float | None = None
    enforced_at: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def decided(
        self,
        proposer: str,
        decision: str,
        *,
        after_release_unsafe: bool = False,
        unreported_variant: bool = False,
    ) -> None:
        with self.lock:
            self.proposals[proposer] += 1
            self.verdicts[decision] += 1
            if after_release_unsafe:
                self.post_release_unsafe[decision] += 1
            if unreported_variant:
                self.unreported_variants[decision] += 1

    def fold(self, event: Event, at: float) -> None:
        """Count one governance event."""
        with self.lock:
            if isinstance(event, IncidentReported):
                self.incidents += 1
            elif isinstance(event, FindingRaised):
                self.findings[event.source.value] += 1
            elif isinstance(event, VerificationRecorded):
                self.violations += event.outcome.value == "VIOLATION"
            elif isinstance(event, DriftDetected):
                self.drift[event.metric] += 1
            elif isinstance(event, PatchRejected):
                self.rejected += 1
            else:
                self._fold_patch(event, at)

    def _fold_patch(self, event: Event, at: float) -> None:
        if isinstance(event, PatchProposed):
            self.patches.setdefault(
                event.patch_id,
                PatchTrack(event.patch_id, at, event.target_version, event.rationale),
            )
            return
        track = self._track_of(event)
        if track is None:
            return
        if isinstance(event, PatchApproved) and event.role == "approver" and not track.approved_by:
            track.approved_at = at
            track.approved_by = (
                DEMO_APPROVER if event.automatic else f"{event.envelope.producer} (by hand)"
            )
        elif isinstance(event, ReleaseStaged):
            self.releases[event.release_id] = track.patch_id
            track.stages.setdefault(event.stage.value, at)
        elif isinstance(event, ReleasePromoted):
            track.stages.setdefault(event.to_stage.value, at)
        elif isinstance(event, ReleaseRolledBack):
            track.rolled_back = event.reason

    def _track_of(self, event: Event) -> PatchTrack | None:
        if isinstance(event, PatchApproved | ReleaseStaged):
            return self.patches.get(event.patch_id)
        if isinstance(event, ReleasePromoted | ReleaseRolledBack):
            patch_id = self.releases.get(event.release_id)
            return None if patch_id is None else self.patches.get(patch_id)
        return None

    def staged(self) -> list[PatchTrack]:
        """The patches that entered the rollout (others were superseded or still wait)."""
        return [t for t in self.patches.values() if t.stages]


class GovernanceWatch:
    """A background consumer folding this run's governance events into a :class:`Progress`."""

    def __init__(self, settings: Settings, progress: Progress, since: datetime) -> None:
        self.settings, self.progress, self.since = settings, progress, since
        catalog = load_catalog()
        self.topics = sorted({catalog.topic_for(name) for name in WATCHED})
        self.codec = EventCodec.from_settings(settings)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-watch", daemon=True)

    def start(self) -> GovernanceWatch:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)

    def _run(self) -> None:
        group = reader_group("demo-watch")
        consumer = Consumer(consumer_config(self.settings, group, {"enable.auto.commit": False}))
        consumer.subscribe(self.topics)
        try:
            while not self.stop.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error() is not None:
                    continue
                self._handle(message.value() or b"")
        finally:
            consumer.close()

    def _handle(self, value: bytes) -> None:
        try:
            event = self.codec.decode(value)
        except CodecError:
            return
        if event.envelope.occurred_at >= self.since:
            self.progress.fold(event, event.envelope.occurred_at.timestamp())
