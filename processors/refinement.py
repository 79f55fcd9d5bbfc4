"""The refinement processor: top clusters in, patches with regression evidence out.

It folds the live topics into a :class:`~alignment_flywheel.governance.history.History`
(proposals and their verdicts for the benign history, reviews for labels, findings for cluster
members and red-team variants) and, for each ``ClusterUpdated`` that is OPEN with at least
``min_members`` members, runs :func:`~alignment_flywheel.governance.refinement.refine` on the
stable oracle in force (the worker follows releases). A qualifying patch is published as
``PatchProposed``, with the author's signature (a ``PatchApproved`` in role author) when
``author_key`` is set; its id follows from the cluster id and size, so a re-delivered cluster
update proposes the same patch id. A patch whose change (base and target digests) an earlier
patch already proposes is not published again (:class:`ProposedChanges`, fed from the patches
topic): a growing cluster yields one patch per distinct change. When none qualifies, the reason is
logged and kept in ``declined``.

One refinement worker runs per cluster (its history spans every partition). History is in memory:
at start the worker first reads the last ``warm_up_hours`` of the proposals, verdicts, reviews,
findings and patches topics (bounded by the history's limits), and only then takes cluster
updates, so a worker restarted mid-stream refines a re-delivered cluster update on the same
history and proposes the same patch id (or, as before, none); the live agents then keep the
history current.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.reader import read_topic
from alignment_flywheel.enforcement import RiskPolicy
from alignment_flywheel.events import ClusterStatus, ClusterUpdated, Event, PatchProposed
from alignment_flywheel.governance.history import History
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.refinement import (
    Cluster,
    ProposedChanges,
    Refined,
    refine,
)
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.codec import FaustEventCodec
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    decoded,
    raw_topic,
    send_confirmed,
)
from alignment_flywheel.release.follower import ReleaseFollower

log = logging.getLogger(__name__)
DEFAULT_APP_ID = "flywheel-refinement"
PATCH_NAMESPACE = uuid.UUID("3c0e9a7b-52f4-4a38-8d1e-6b2f7c9e0d14")


@dataclass(frozen=True)
class RefinementTopics:
    proposals: str = "flywheel.proposals"
    verdicts: str = "flywheel.verdicts"
    reviews: str = "flywheel.reviews"
    findings: str = "flywheel.findings"
    clusters: str = "flywheel.clusters"
    patches: str = "flywheel.patches"
    dead_letters: str = "flywheel.deadletter"


class Refinement:
    """The refinement app. Build with :func:`build_refinement`."""

    def __init__(
        self,
        settings: Settings,
        follower: ReleaseFollower,
        policy: RiskPolicy,
        *,
        app_id: str = DEFAULT_APP_ID,
        topics: RefinementTopics | None = None,
        min_members: int = 3,
        fp_budget: float = 0.01,
        warm_up_hours: float = 24.0,
        author_key: Ed25519PrivateKey | None = None,
        norms: Norms | None = None,
    ) -> None:
        self.topics = topics or RefinementTopics()
        self.follower = follower
        self.policy = policy
        self.history = History()
        self.changes = ProposedChanges()
        self.min_members = min_members
        self.fp_budget = fp_budget
        self.warm_up_hours = warm_up_hours
        self.warmed = asyncio.Event()
        self.author_key = author_key
        self.norms = norms
        self.proposed: list[uuid.UUID] = []
        self.declined: dict[uuid.UUID, str] = {}
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id)
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        self._patches = app.topic(
            names.patches, value_serializer=FaustEventCodec(self._codec), key_serializer="raw"
        )
        self._dead = DeadLetterWriter(
            raw_topic(app, names.dead_letters), self._codec, producer=self._settings.identity,
            group=app_id,
        )  # fmt: skip
        for name in self._history_topics():
            agent(app, raw_topic(app, name), name=f"history-{name}")(self._record)
        agent(app, raw_topic(app, names.clusters), name="clusters")(self._on_clusters)
        app.task(self._warm_up)

    async def _warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._read_history)
        self.warmed.set()

    def _read_history(self) -> None:
        since = datetime.now(UTC) - timedelta(hours=self.warm_up_hours)
        for topic in self._history_topics():
            for event in read_topic(self._settings, self._codec, topic, since=since):
                self._add(event)

    def _history_topics(self) -> tuple[str, ...]:
        names = self.topics
        return (names.proposals, names.verdicts, names.reviews, names.findings, names.patches)

    def _add(self, event: Event) -> None:
        if isinstance(event, PatchProposed):
            self.changes.note(event)
        else:
            self.history.add(event)

    async def _record(self, stream: Any) -> None:
        async for event in decoded(stream, self._codec, self._dead):
            self._add(event)

    async def _on_clusters(self, stream: Any) -> None:
        await self.warmed.wait()
        async for event in decoded(stream, self._codec, self._dead):
            if isinstance(event, ClusterUpdated):
                await self.consider(event)

    async def consider(self, update: ClusterUpdated) -> Event | None:
        """Refine one cluster update; publish and return the patch if one qualifies."""
        if update.status is not ClusterStatus.OPEN or update.size < self.min_members:
            return None
        members, variants = self.history.members(update.sample_finding_ids)
        if len(members) < self.min_members:
            self.declined[update.cluster_id] = f"only {len(members)} member proposals known"
            return None
        cluster = Cluster(f"c{update.cluster_id.hex[:12]}", members, variants, update.severity)
        base = self.follower.builder.artifact_for(self.follower.deployment.stable.digest)
        result = refine(
            cluster, base, self.policy, self.history.cases(), fp_budget=self.fp_budget,
            norms=self.norms,
        )  # fmt: skip
        if not isinstance(result, Refined):
            self.declined[update.cluster_id] = result.reason
            log.warning("cluster %s: no patch: %s", update.cluster_id, result.reason)
            return None
        patch_id = uuid.uuid5(PATCH_NAMESPACE, f"{update.cluster_id}/{update.size}")
        earlier = self.changes.duplicate_of(patch_id, result.patch)
        if earlier is not None:
            reason = f"patch {earlier} already proposes this change"
            self.declined[update.cluster_id] = reason
            log.info("cluster %s: no new patch: %s", update.cluster_id, reason)
            return None
        patch = result.patch.model_copy(
            update={"patch_id": patch_id, "cluster_ids": (update.cluster_id,),
                    "finding_ids": tuple(update.sample_finding_ids)}
        )  # fmt: skip
        event = patch.to_event(self._settings.identity)
        await self._send(event)
        self.changes.note(event)
        if self.author_key is not None:
            await self._send(
                approve(patch, self.author_key, role="author", producer=self._settings.identity)
            )
        self.proposed.append(patch_id)
        return event

    async def _send(self, event: Event) -> None:
        await send_confirmed(self._patches, event)


def build_refinement(
    settings: Settings, follower: ReleaseFollower, policy: RiskPolicy, **options: Any
) -> Refinement:
    return Refinement(settings, follower, policy, **options)
