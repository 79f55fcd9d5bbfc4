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
from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event, FindingRaised, VerificationRecorded
from alignment_flywheel.governance.step import Stepped, write_into
from alignment_flywheel.governance.triage import DEFAULT_THRESHOLD, Violation, violation_of
from alignment_flywheel.governance.triage_core import (
    ASSIGNED,
    CLUSTERS,
    PENDING,
    Joined,
    TriageClusters,
    TriageJoin,
)
from alignment_flywheel.processors.app import agent
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.processors.streams import handled
from alignment_flywheel.roles import RoleTopics, partitions_for

log = logging.getLogger(__name__)


class TriageWorker:
    """The triage app, its tables and its clusters. Build with :func:`build_triage`."""

    def __init__(
        self,
        settings: Settings,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        partitions: int | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        **app_overrides: Any,
    ) -> None:
        self.partitions = partitions or partitions_for("FindingRaised")
        options = {"topic_partitions": self.partitions, **app_overrides}
        self.shell = Shell(settings, topics or RoleTopics("triage"), app_id=app_id, **options)
        self.app = self.shell.app
        self._joiner = TriageJoin(self.shell.codec)
        self._clusterer = TriageClusters(settings.identity, threshold)
        self.triage = self._clusterer.triage
        self._declare()

    def _declare(self) -> None:
        app = self.app
        self._violations = app.topic(
            f"{self.shell.app_id}-violations",
            partitions=1,
            internal=True,
            value_serializer="raw",
            key_serializer="raw",
        )
        self.pending = _table(app, "pending", self.partitions)
        self.clusters = _table(app, "clusters", 1)
        self.assigned = _table(app, "assigned", 1)
        self.shell.consume("FindingRaised", "findings", self.join)
        self.shell.consume("VerificationRecorded", "verifications", self.join)
        agent(app, self._violations, name="cluster")(self._on_violations)

    async def join(self, event: Event) -> None:
        """Step the join on one finding or verification: send the pairs it emitted, then apply
        its writes (see the module rules)."""
        tables = {PENDING: self.pending}
        stepped: Stepped[Joined]
        if isinstance(event, FindingRaised):
            stepped = self._joiner.finding(tables, event)
        elif isinstance(event, VerificationRecorded):
            stepped = self._joiner.verification(tables, event)
        else:
            return
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
            await self.shell.emit(stepped.emitted)

    def _restored(self) -> tuple[int, int]:
        return self._clusterer.restored or (0, 0)


def _table(app: Any, name: str, partitions: int) -> Any:
    return app.Table(name, default=None, partitions=partitions, key_type=str, value_type=bytes)


def build_triage(settings: Settings, **options: Any) -> TriageWorker:
    return TriageWorker(settings, **options)
