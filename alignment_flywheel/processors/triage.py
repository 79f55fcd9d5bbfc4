"""The triage processor: confirmed violations in, ranked failure clusters out.

Two stages in one faust app (one triage worker per deployment: the clusters are global):

1. **Join** (agents on the findings and the verifications topics, both keyed by finding id and
   co-partitioned, ``partitions`` each). The table ``pending`` (changelog-backed, keyed by finding
   id) holds whichever half arrived first: a finding (``F`` + its bytes), a VIOLATION verification
   (``V`` + its bytes) or the mark ``X`` of a NO_VIOLATION verification. When both halves of a
   violation are there, the joined :class:`~alignment_flywheel.governance.triage.Violation` goes
   to the internal one-partition topic ``<app id>-violations`` and the entry is deleted; a
   NO_VIOLATION deletes a waiting finding (a finding after an ``X`` is dropped). An INCONCLUSIVE
   verification changes nothing: a person may still decide (their answer arrives as a later
   VIOLATION or NO_VIOLATION of the same finding), so a finding stays pending until then, and an
   INCONCLUSIVE that arrives before its finding blocks nothing.
2. **Cluster** (agent on ``<app id>-violations``): one partition gives one total order, so
   clustering (:class:`~alignment_flywheel.governance.triage.Triage`) is deterministic. Its state
   lives in the tables ``clusters`` (cluster id → state) and ``assigned`` (finding id → cluster
   id), one partition each, co-partitioned with the internal topic; after a restart faust restores
   them before the agent runs and the LSH index is rebuilt from them on the first record. Each
   violation publishes ``ClusterUpdated`` on the compacted clusters topic, keyed by cluster id,
   with the event id ``uuid5(cluster id, size)``.

Restarts: a record is acknowledged, and its offset committed, only after its outputs are
confirmed by the broker (:func:`~.streams.handled`), so nothing is lost; a record processed again
after a crash is recognised (``assigned``) and re-publishes the cluster's current state (the
latest value of a compacted topic, same event id when unchanged) instead of counting twice. A half
redelivered after its join stays in ``pending`` (bounded by one commit interval of records), and
so does an inconclusive finding nobody reviews. Records that do not decode (oversized ones
included), valid events of a type the findings or verifications topic does not carry, or a
verification without a usable finding, are dead-lettered; any other failure stops the worker.

The join and the clustering are pure cores (:mod:`~alignment_flywheel.governance.triage_core`,
where their rules are tested without a broker); the agents here decode, step, send what the step
emitted, then apply its table writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import ClusterUpdated, FindingRaised, VerificationRecorded
from alignment_flywheel.governance.step import Stepped, Tables, write_into
from alignment_flywheel.governance.triage import DEFAULT_THRESHOLD, Violation, violation_of
from alignment_flywheel.governance.triage_core import (
    ASSIGNED,
    CLUSTERS,
    PENDING,
    Joined,
    TriageClusters,
    TriageJoin,
)
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    decoded,
    event_topic,
    expected_on,
    handled,
    raw_topic,
    send_confirmed,
)
from alignment_flywheel.roles import group_for, partitions_for, topic_for

log = logging.getLogger(__name__)
DEFAULT_APP_ID = group_for("triage")


@dataclass(frozen=True)
class TriageTopics:
    """Topic names (catalog names by default) and the partitions of findings and verifications."""

    findings: str = topic_for("FindingRaised")
    verifications: str = topic_for("VerificationRecorded")
    clusters: str = topic_for("ClusterUpdated")
    dead_letters: str = topic_for("DeadLettered")
    partitions: int = partitions_for("FindingRaised")


class TriageWorker:
    """The triage app, its tables and its clusters. Build with :func:`build_triage`."""

    def __init__(
        self,
        settings: Settings,
        *,
        app_id: str = DEFAULT_APP_ID,
        topics: TriageTopics | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        **app_overrides: Any,
    ) -> None:
        self.topics = topics or TriageTopics()
        self.updates_sent = 0
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self._joiner = TriageJoin(self._codec)
        self._clusterer = TriageClusters(settings.identity, threshold)
        self.triage = self._clusterer.triage
        options = {"topic_partitions": self.topics.partitions, **app_overrides}
        self.app = create_app(settings, app_id, **options)
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        self._clusters_out = event_topic(app, names.clusters, self._codec)
        self._dead = DeadLetterWriter.on(
            app, names.dead_letters, self._codec, producer=self._settings.identity, group=app_id
        )
        self._violations = app.topic(
            f"{app_id}-violations",
            partitions=1,
            internal=True,
            value_serializer="raw",
            key_serializer="raw",
        )
        self.pending = _table(app, "pending", names.partitions)
        self.clusters = _table(app, "clusters", 1)
        self.assigned = _table(app, "assigned", 1)
        agent(app, raw_topic(app, names.findings), name="findings")(self._on_findings)
        agent(app, raw_topic(app, names.verifications), name="verifications")(
            self._on_verifications
        )
        agent(app, self._violations, name="cluster")(self._on_violations)

    async def _on_findings(self, stream: Any) -> None:
        findings = expected_on(topic_for("FindingRaised"))
        async for event in decoded(stream, self._codec, self._dead, findings):
            if isinstance(event, FindingRaised):
                await self._join(self._joiner.finding(self._pending_view(), event))

    async def _on_verifications(self, stream: Any) -> None:
        verifications = expected_on(topic_for("VerificationRecorded"))
        async for event in decoded(stream, self._codec, self._dead, verifications):
            if isinstance(event, VerificationRecorded):
                await self._join(self._joiner.verification(self._pending_view(), event))

    def _pending_view(self) -> Tables:
        return {PENDING: self.pending}

    async def _join(self, stepped: Stepped[Joined]) -> None:
        """Send the pairs the join emitted, then apply its writes (see the module rules)."""
        for pair in stepped.emitted:
            await self._joined(pair.finding, pair.verification)
        write_into(self.pending, stepped.writes.get(PENDING, {}))

    async def _joined(self, finding: FindingRaised, verification: VerificationRecorded) -> None:
        violation = violation_of(finding, verification)
        pending = await self._violations.send(
            key=str(finding.finding_id).encode(), value=violation.to_json()
        )
        await pending

    async def _on_violations(self, stream: Any) -> None:
        async for record in handled(stream):
            if record.message.value is None:
                continue
            violation = Violation.from_json(record.message.value)
            tables = {CLUSTERS: self.clusters, ASSIGNED: self.assigned}
            fresh = self._clusterer.restored is None
            stepped = self._clusterer(tables, violation)
            if fresh:
                log.warning("triage: restored %d clusters, %d violations", *self._restored())
            write_into(self.clusters, stepped.writes.get(CLUSTERS, {}))
            write_into(self.assigned, stepped.writes.get(ASSIGNED, {}))
            for update in stepped.emitted:
                await self._publish(update)

    def _restored(self) -> tuple[int, int]:
        return self._clusterer.restored or (0, 0)

    async def _publish(self, update: ClusterUpdated) -> None:
        await send_confirmed(self._clusters_out, update)
        self.updates_sent += 1


def _table(app: Any, name: str, partitions: int) -> Any:
    return app.Table(name, default=None, partitions=partitions, key_type=str, value_type=bytes)


def build_triage(settings: Settings, **options: Any) -> TriageWorker:
    return TriageWorker(settings, **options)
