"""Following oracle releases: any process can keep the deployed oracles current from Kafka.

A :class:`ReleaseFollower` reads the patches topic and the release topic from the beginning (no
consumer group: every follower sees everything), folds them (:mod:`.state`, :mod:`.rebuild`) and,
whenever the stable or candidate digest changes, rebuilds the oracles and hands a
:class:`~alignment_flywheel.enforcement.staged.Deployment` to every listener: the gate and the SDK
swap it in atomically. This is how a process subscribes to patch releases.

Rules:

* :meth:`start` returns once the follower has read up to the end of both topics as they were when
  it started, so a restarted gate or SDK begins with the same digests as every other.
* A release that cannot be rebuilt or checked (a patch missing from the log, a digest mismatch, a
  failed signature check from the ``check`` hook) is logged and counted in ``errors``; the current
  deployment stays. Records that do not decode are counted and passed over: the follower never
  stops on bad input.
* Reading continues in a background thread until :meth:`stop`; a new release is deployed as soon
  as its event is read (polling every ``poll_s``).
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
from alignment_flywheel.connectors.consumer import consumer_config, watermarks
from alignment_flywheel.enforcement.staged import Deployment
from alignment_flywheel.errors import CodecError, FlywheelError, KafkaTransportError
from alignment_flywheel.events import (
    Event,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
)
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.release.rebuild import OracleBuilder, PatchCheck, PatchLibrary
from alignment_flywheel.release.state import ReleaseState, fold
from alignment_flywheel.stack.catalog import load_catalog
from alignment_flywheel.stack.kafka import reader_group

log = logging.getLogger(__name__)

Listener = Callable[[Deployment], None]


@dataclass(frozen=True, slots=True)
class ReleaseTopics:
    patches: str = "flywheel.patches"
    releases: str = "flywheel.releases"

    @classmethod
    def from_catalog(cls) -> ReleaseTopics:
        catalog = load_catalog()
        return cls(catalog.topic_for("PatchProposed"), catalog.topic_for("ReleaseStaged"))


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
        self.library = PatchLibrary()
        self.builder = OracleBuilder(genesis, self.library, check)
        self.deployment = Deployment(RuleOracle(genesis))
        self.errors = 0
        self.undecodable = 0
        self.releases_seen: set[uuid.UUID] = set()
        self.rolled_back: set[str] = set()
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self._listeners: list[Listener] = []
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deployed_digests: tuple[str | None, str | None] = (genesis.digest, None)

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
            self.library.add(event)
        except FlywheelError as exc:
            self.errors += 1
            log.error("patch event refused: %s", exc)
            return
        if isinstance(event, ReleaseStaged | ReleasePromoted | ReleaseRolledBack):
            self.releases_seen.add(event.release_id)
        if isinstance(event, ReleaseRolledBack):
            self.rolled_back.add(event.digest)
        self.state = fold(self.state, event)

    def apply_now(self, event: Event) -> None:
        """Fold an event this process just published, before reading it back from the topic."""
        self._apply(event)
        self._redeploy()

    def _redeploy(self) -> None:
        if self.state.digests == self._deployed_digests:
            return
        try:
            deployment = self._deployment(self.state)
        except FlywheelError as exc:
            self.errors += 1
            log.error("release %s not deployed: %s", self.state.digests, exc)
            return
        self._deployed_digests = self.state.digests
        self.deployment = deployment
        for listener in self._listeners:
            listener(deployment)

    def _deployment(self, state: ReleaseState) -> Deployment:
        stable = (
            self.builder.genesis
            if state.stable is None
            else self.builder.artifact_for(state.stable.digest)
        )
        candidate = state.candidate
        if candidate is None:
            return Deployment(RuleOracle(stable))
        return Deployment(
            RuleOracle(stable),
            RuleOracle(self.builder.artifact_for(candidate.digest)),
            candidate.stage,
            candidate.canary_fraction if candidate.stage is ReleaseStage.CANARY else 0.0,
            candidate.release_id,
        )
