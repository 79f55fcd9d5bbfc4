"""Following oracle releases: any process can keep the deployed oracles current from Kafka.

A :class:`ReleaseFollower` reads the patches topic and the release topic from the beginning (no
consumer group: every follower sees everything), folds them (:mod:`.state`, :mod:`.rebuild`) and,
whenever what it must enforce changes, rebuilds the oracles and hands a
:class:`~alignment_flywheel.enforcement.staged.Deployment` to every listener: the gate and the SDK
swap it in atomically. This is how a process subscribes to patch releases.

Rules:

* :meth:`start` returns once the follower has read up to the end of both topics as they were when
  it started, so a restarted gate or SDK begins with the same digests as every other.
* **Only verified versions are enforced.** The follower walks the stable versions the release
  topic named, in log order, from the bootstrap artifact, and enforces the last one it accepts: a
  version is accepted when its whole chain rebuilds and passes the ``check`` (with a trust root:
  every patch's counted signatures meet the thresholds, no patch was rejected with the releaser's
  signatures), and when it is newer than the version enforced before it, or restores an older one
  through a ``ReleaseRolledBack`` from STABLE that the releaser threshold signed (with a trust
  root; unsigned release events can move forward among verified versions, never back). A stable
  version it cannot accept leaves it on the last version it accepted, the same after a restart as
  live, never on the bootstrap artifact while a verified release exists. The candidate is run
  only when it is verified and newer than the enforced version.
* When what it enforces differs from what the release topic says, the follower is **degraded**:
  :attr:`ReleaseFollower.status` (a :class:`FollowerStatus`) says so with the reason; it is logged
  and each new reason counted in ``errors``. Records that do not decode are counted in
  ``undecodable`` and passed over; signatures and decisions that do not count are in ``ignored``.
  The follower never stops on bad input.
* Reading continues in a background thread until :meth:`stop`; a new release is deployed as soon
  as its event is read (polling every ``poll_s``); while degraded, new patch records are a reason
  to try again (a release can be read before its patches).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.staged import Deployment
from alignment_flywheel.errors import (
    CodecError,
    FlywheelError,
    KafkaTransportError,
    UntrustedError,
)
from alignment_flywheel.events import (
    Event,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
)
from alignment_flywheel.kafka.clients import reader_group
from alignment_flywheel.kafka.consumer import consumer_config, watermarks
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.patches.trust import IgnoredCounter
from alignment_flywheel.release.rebuild import OracleBuilder, PatchCheck, PatchLibrary, ReleaseTrust
from alignment_flywheel.release.state import Candidate, Deployed, ReleaseState, fold
from alignment_flywheel.roles import RoleTopics, topic_for

log = logging.getLogger(__name__)

Listener = Callable[[Deployment], None]


class ReleaseRefusedError(UntrustedError):
    """A release event asks for a version the follower must not enforce."""


@dataclass(frozen=True, slots=True)
class ReleaseTopics:
    patches: str = topic_for("PatchProposed")
    releases: str = topic_for("ReleaseStaged")

    @classmethod
    def from_catalog(cls) -> ReleaseTopics:
        return cls()

    @classmethod
    def of(cls, topics: RoleTopics) -> ReleaseTopics:
        """The patches and releases topics of a worker."""
        return cls(topics.of("PatchProposed"), topics.of("ReleaseStaged"))


@dataclass(frozen=True, slots=True)
class FollowerStatus:
    """What a follower enforces, against what the release topic says."""

    released: Deployed | None
    """The stable version the release topic names (None: no release, the bootstrap artifact)."""
    enforced: Deployed
    """The stable version this follower enforces (release id None: bootstrap or restored)."""
    candidate: Candidate | None
    """The candidate it runs (None: no candidate, or one it refused)."""
    verifying: bool
    """Whether a trust root checks every chain (False: development, nothing is verified)."""
    reason: str | None = None
    """Why it does not enforce what the release topic says; None when it does."""

    @property
    def degraded(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True, slots=True)
class _Step:
    """One stable version the release topic named, and the rollback that named it, if any."""

    deployed: Deployed
    rollback: ReleaseRolledBack | None


class ReleaseFollower:
    """Keeps a deployment current from the patch and release topics."""

    def __init__(
        self,
        settings: Settings,
        genesis: OracleArtifact,
        *,
        topics: ReleaseTopics | None = None,
        check: PatchCheck | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self.topics = topics or ReleaseTopics.from_catalog()
        self.state = ReleaseState()
        self._trust = check if isinstance(check, ReleaseTrust) else None
        self.ignored = self._trust.ignored if self._trust is not None else IgnoredCounter()
        self.library = PatchLibrary(self._trust)
        self.builder = OracleBuilder(genesis, self.library, check)
        self.deployment = Deployment(RuleOracle(genesis))
        self.errors = 0
        self.undecodable = 0
        self.releases_seen: set[uuid.UUID] = set()
        self.rolled_back: set[str] = set()
        self._origin = Deployed(None, genesis.version, genesis.digest)
        self._verifying = check is not None
        self._status = FollowerStatus(None, self._origin, None, self._verifying)
        self._steps: list[_Step] = []
        self._reasons: set[str] = set()
        self._dirty = False
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self._listeners: list[Listener] = []
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deployed_key: tuple[object, ...] = (genesis.digest, None)

    @property
    def status(self) -> FollowerStatus:
        """What this follower enforces and whether it is degraded (as of the last deployment)."""
        return self._status

    def attach(self, swap: Callable[..., None]) -> None:
        """Call ``swap`` with each new stable oracle (the SDK's OracleSource protocol)."""
        self.attach_deployment(lambda deployment: swap(deployment.stable))

    def attach_deployment(self, listener: Listener) -> None:
        """Call ``listener`` with the current deployment now and with every new one."""
        self._listeners.append(listener)
        listener(self.deployment)

    def start(self, timeout: float = 30.0) -> ReleaseFollower:
        consumer = Consumer(
            consumer_config(self._settings, reader_group("follower"), {"enable.auto.commit": False})
        )
        ends = self._assign(consumer)
        self._catch_up(consumer, ends, timeout)
        self._thread = threading.Thread(target=self._run, args=(consumer,), daemon=True)
        self._thread.name = "release-follower"
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _assign(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        ends: dict[tuple[str, int], int] = {}
        assignment = []
        for topic in (self.topics.patches, self.topics.releases):
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                raise KafkaTransportError(f"topic {topic} is not available")
            for partition in metadata.partitions:
                assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
                _low, high = watermarks(consumer, TopicPartition(topic, partition), 10)
                ends[(topic, partition)] = high
        consumer.assign(assignment)
        return {key: high for key, high in ends.items() if high > 0}

    def _catch_up(
        self, consumer: Consumer, ends: dict[tuple[str, int], int], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise KafkaTransportError(f"release topics not read to their end in {timeout} s")
            for message in consumer.consume(500, 0.2):
                if message.error() is None:
                    self._read(message.value())
                    key = (str(message.topic()), int(message.partition() or 0))
                    if key in ends and int(message.offset() or 0) + 1 >= ends[key]:
                        del ends[key]
        self._redeploy()

    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                messages = consumer.consume(500, self._poll_s)
                for message in messages:
                    if message.error() is None:
                        self._read(message.value())
                if messages:
                    self._redeploy()
        finally:
            consumer.close()

    def _read(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            event = self._codec.decode(value)
        except CodecError:
            self.undecodable += 1
            return
        self._apply(event)

    def _apply(self, event: Event) -> None:
        try:
            took_effect = self.library.add(event)
        except FlywheelError as exc:
            self.errors += 1
            log.error("patch event refused: %s", exc)
            return
        if took_effect:  # a rejection with effect: every chain is checked again
            self.builder.forget()
            self._dirty = True
        elif self._status.degraded:  # the patch or approval it lacked may just have arrived
            self._dirty = True
        if isinstance(event, ReleaseStaged | ReleasePromoted | ReleaseRolledBack):
            self.releases_seen.add(event.release_id)
            self._dirty = True
        if isinstance(event, ReleaseRolledBack):
            self.rolled_back.add(event.digest)
        before = self.state.stable
        self.state = fold(self.state, event)
        if self.state.stable is not None and (self.state.stable != before or _names_stable(event)):
            rollback = event if isinstance(event, ReleaseRolledBack) else None
            self._steps.append(_Step(self.state.stable, rollback))

    def apply_now(self, event: Event) -> None:
        """Fold an event this process just published, before reading it back from the topic."""
        self._apply(event)
        self._redeploy()

    def _redeploy(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        status, stable, candidate = self._select(self.state)
        if self._status.degraded and not status.degraded:
            log.warning("release follower no longer degraded: v%s", status.enforced.version)
        self._status = status
        if status.reason is not None:
            self._degrade(status.reason)
        key = self._key(status)
        if key == self._deployed_key:
            return
        try:
            deployment = self._deployment(status, stable, candidate)
        except FlywheelError as exc:  # e.g. an artifact that does not compile
            self._degrade(f"release {self.state.digests} not deployed: {exc}")
            return
        self._deployed_key = key
        self.deployment = deployment
        for listener in self._listeners:
            listener(deployment)

    def _degrade(self, reason: str) -> None:
        if reason not in self._reasons:
            self._reasons.add(reason)
            self.errors += 1
            log.error("release follower degraded: %s", reason)

    @staticmethod
    def _key(status: FollowerStatus) -> tuple[object, ...]:
        candidate = status.candidate
        if candidate is None:
            return (status.enforced.digest, None)
        return (
            status.enforced.digest,
            candidate.digest,
            candidate.stage,
            candidate.canary_fraction,
        )

    def _select(
        self, state: ReleaseState
    ) -> tuple[FollowerStatus, OracleArtifact, OracleArtifact | None]:
        """What to enforce (module docstring): the status, the stable and candidate artifacts."""
        enforced, stable = self._origin, self.builder.genesis
        refused: list[str] = []  # the stable versions refused since the last one accepted
        for step in self._steps:
            try:
                stable = self._accept(step, enforced, stable)
            except FlywheelError as exc:
                refused.append(
                    f"stable v{step.deployed.version} ({step.deployed.digest[:12]}): {exc}"
                )
                continue
            enforced, refused = step.deployed, []
        candidate, candidate_refused = state.candidate, None
        artifact = None
        if candidate is not None:
            try:
                artifact = self._candidate(candidate, enforced)
            except FlywheelError as exc:
                candidate_refused = (
                    f"candidate v{candidate.version} ({candidate.digest[:12]}): {exc}"
                )
        reasons = refused + ([] if candidate_refused is None else [candidate_refused])
        status = FollowerStatus(
            state.stable,
            enforced,
            None if artifact is None else candidate,
            self._verifying,
            "; ".join(reasons) or None,
        )
        return status, stable, artifact

    @staticmethod
    def _deployment(
        status: FollowerStatus, stable: OracleArtifact, artifact: OracleArtifact | None
    ) -> Deployment:
        candidate = status.candidate
        if artifact is None or candidate is None:
            return Deployment(RuleOracle(stable))
        return Deployment(
            RuleOracle(stable),
            RuleOracle(artifact),
            candidate.stage,
            candidate.canary_fraction if candidate.stage is ReleaseStage.CANARY else 0.0,
            candidate.release_id,
        )

    def _accept(self, step: _Step, enforced: Deployed, current: OracleArtifact) -> OracleArtifact:
        """The artifact of a stable step if it may follow ``enforced``; else the refusal."""
        wanted = step.deployed
        if wanted.digest == enforced.digest:
            return current
        if step.rollback is not None:
            if self._trust is not None and not self._trust.rollback_counts(step.rollback):
                raise ReleaseRefusedError("a rollback without the releaser's signatures")
        elif wanted.version <= enforced.version:
            raise ReleaseRefusedError(
                f"not newer than the enforced v{enforced.version} (going back needs a rollback "
                "signed by the releaser)"
            )
        return self.builder.artifact_for(wanted.digest)

    def _candidate(self, candidate: Candidate, enforced: Deployed) -> OracleArtifact:
        if candidate.version <= enforced.version:
            raise ReleaseRefusedError(f"not newer than the enforced v{enforced.version}")
        return self.builder.artifact_for(candidate.digest)


def _names_stable(event: Event) -> bool:
    """A promotion to STABLE or a rollback from it (a signed copy may follow an unsigned one)."""
    if isinstance(event, ReleasePromoted):
        return event.to_stage is ReleaseStage.STABLE
    return isinstance(event, ReleaseRolledBack) and event.from_stage is ReleaseStage.STABLE
