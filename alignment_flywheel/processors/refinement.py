"""The refinement processor: top clusters in, patches with regression evidence out.

It folds the history topics (proposals and their verdicts for the benign history, reviews for
labels, findings for cluster members and red-team variants, patches for the changes already
proposed) into a :class:`~alignment_flywheel.governance.history.History` and, for each
``ClusterUpdated`` that is OPEN with at least ``min_members`` members, runs
:func:`~alignment_flywheel.governance.refinement.refine`. A qualifying patch is published as
``PatchProposed``, with the author's signature (a ``PatchApproved`` in role author) when
``author_key`` is set. When none qualifies, the reason is logged and kept in ``declined``.

Rules:

* **The history is read to the end first.** At start the worker reads the last
  ``warm_up_hours`` of the history topics; before refining each cluster update it reads them on,
  up to their ends as of that moment (:class:`~alignment_flywheel.kafka.reader.TopicTail`),
  so every proposal, verdict, review and finding published before the update is in the history
  the patch is proved on, however far behind a live consumer would be.
* **Patches compose.** The worker keeps its *chain*: its patches not yet stable, each proposed on
  the previous one's target (the first on the stable oracle), so patches for clusters confirmed
  while another is rolling out build on it and the release controller can roll out the chain in
  one go. When the stable digest reaches a patch of the chain, that patch and those before it
  leave the chain. When the chain no longer starts at the stable digest (another patch became
  stable, a rollback), or a patch of it is rejected or rolled back, every patch after the break
  is **rebased**: its cluster is refined again on the new tip and proved again, and proposed as a
  new patch. A rejected or rolled-back patch itself is not proposed again (its cluster's next
  update is refined afresh). This runs before each cluster update and every ``tick_s``.
* **Covered is provisional.** An update declined because the tip of a non-empty chain already
  blocks every member depends on patches not yet stable; whenever the tip changes (a rebase, a
  withdrawn patch, a new link), such an update is refined again on the new tip, until the stable
  oracle itself covers it or a patch for it is proposed.
* Ids: a patch's id is ``uuid5`` of its cluster id, the cluster size and the base digest, so a
  re-delivered cluster update on the same base proposes the same patch id. A patch whose change
  (base and target digests) an earlier patch already proposes is not published again
  (:class:`~alignment_flywheel.governance.changes.ProposedChanges`).

One refinement worker runs per cluster (its history spans every partition). Its state is in
memory and rebuilt from the topics at start.

The patch decision (which updates are refined, the patch id, one patch per change) is a pure core
(:mod:`~alignment_flywheel.governance.refinement_core`, where its restart rules are tested without
a broker); this shell reads the history, refines on the tip of its chain, publishes and rebases.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement import RiskPolicy
from alignment_flywheel.events import ClusterUpdated, Event, PatchProposed
from alignment_flywheel.governance.changes import ProposedChanges
from alignment_flywheel.governance.history import History
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.refinement import Cluster, NoPatch, Refined, refine
from alignment_flywheel.governance.refinement_core import (
    CHANGES,
    Decline,
    RefinementCore,
)
from alignment_flywheel.kafka.reader import TopicTail
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.release.follower import ReleaseFollower
from alignment_flywheel.roles import RoleTopics

log = logging.getLogger(__name__)
HISTORY = (
    "ProposalSubmitted",
    "VerdictIssued",
    "ReviewRequested",
    "FindingRaised",
    "PatchProposed",
)
"""The event types whose topics are the history refinement reads."""


@dataclass(frozen=True)
class Link:
    """A patch of the chain: the update it was refined for, the patch and its target."""

    update: ClusterUpdated
    patch: Patch
    target: OracleArtifact


class Refinement:
    """The refinement app. Build with :func:`build_refinement`."""

    def __init__(
        self,
        settings: Settings,
        follower: ReleaseFollower,
        policy: RiskPolicy,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        min_members: int = 3,
        fp_budget: float = 0.01,
        warm_up_hours: float = 24.0,
        author_key: Ed25519PrivateKey | None = None,
        norms: Norms | None = None,
        tick_s: float = 1.0,
    ) -> None:
        self.follower = follower
        self.policy = policy
        self.history = History()
        self.changes = ProposedChanges()
        self.chain: list[Link] = []
        self.min_members = min_members
        self.fp_budget = fp_budget
        self.warm_up_hours = warm_up_hours
        self.warmed = asyncio.Event()
        self.author_key = author_key
        self.norms = norms
        self.proposed: list[uuid.UUID] = []
        self._core = RefinementCore(self._refine, min_members=min_members)
        self.declined: dict[uuid.UUID, str] = {}
        self.covered: dict[uuid.UUID, tuple[ClusterUpdated, str]] = {}
        self._tail: TopicTail | None = None
        self._lock = asyncio.Lock()
        self._settings = settings
        self.shell = Shell(settings, topics or RoleTopics("refine"), app_id=app_id)
        self.app = self.shell.app
        self.shell.consume("ClusterUpdated", "clusters", self._on_cluster)
        self.app.task(self._warm_up)
        self.app.timer(tick_s, name="refinement-rebase")(self._tick)

    async def _warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._open_tail)
        await self.catch_up()
        self.warmed.set()

    def _open_tail(self) -> None:
        since = datetime.now(UTC) - timedelta(hours=self.warm_up_hours)
        history = tuple(self.shell.topics.of(event_type) for event_type in HISTORY)
        self._tail = TopicTail(self._settings, self.shell.codec, history, since=since)

    async def catch_up(self) -> None:
        """Read the history topics up to their ends as of now."""
        await asyncio.get_running_loop().run_in_executor(None, self._read_to_end)

    def _read_to_end(self) -> None:
        if self._tail is not None:
            for event in self._tail.read_to_end():
                self._add(event)

    def _add(self, event: Event) -> None:
        if isinstance(event, PatchProposed):
            self.changes.note(event)
        else:
            self.history.add(event)

    async def _on_cluster(self, event: Event) -> None:
        await self.warmed.wait()
        if isinstance(event, ClusterUpdated):
            await self.consider(event)

    async def _tick(self) -> None:
        if not self.warmed.is_set():
            return
        async with self._lock:
            await self._settle()

    async def consider(self, update: ClusterUpdated) -> Event | None:
        """Refine one cluster update on the history read to the end; publish and return the
        patch if one qualifies."""
        if not self._core.wants(update):
            return None
        async with self._lock:
            await self.catch_up()
            await self._settle()
            return await self._propose(update)

    def _stable(self) -> str:
        return self.follower.deployment.stable.digest

    def _tip(self) -> OracleArtifact:
        if self.chain:
            return self.chain[-1].target
        return self.follower.builder.artifact_for(self._stable())

    async def _settle(self) -> None:
        """Drop what became stable from the chain; rebase what follows a break (module rules)."""
        stable = self._stable()
        targets = [link.patch.target_digest for link in self.chain]
        if stable in targets:
            del self.chain[: targets.index(stable) + 1]
        for position, link in enumerate(self.chain):
            base = stable if position == 0 else self.chain[position - 1].patch.target_digest
            if link.patch.base_digest == base and not self._withdrawn(link.patch):
                continue
            stale = self.chain[position:]
            del self.chain[position:]
            await self._rebase(stale)
            break
        await self._revisit()

    async def _revisit(self) -> None:
        """Refine again each covered update whose covering tip is no longer the tip."""
        if not self.covered:
            return
        tip = self._tip().digest
        for update, digest in list(self.covered.values()):
            if digest != tip:
                log.info("cluster %s: the tip changed; refining it again", update.cluster_id)
                await self._propose(update)

    def _withdrawn(self, patch: Patch) -> bool:
        rejected = patch.patch_id in self.follower.library.rejected
        return rejected or patch.target_digest in self.follower.rolled_back

    async def _rebase(self, stale: list[Link]) -> None:
        for link in stale:
            if self._withdrawn(link.patch):
                reason = f"patch {link.patch.patch_id} was rejected or rolled back"
                self.declined[link.update.cluster_id] = reason
                log.warning("cluster %s: not rebased: %s", link.update.cluster_id, reason)
                continue
            log.warning(
                "cluster %s: rebasing patch %s", link.update.cluster_id, link.patch.patch_id
            )
            await self._propose(link.update)

    async def _propose(self, update: ClusterUpdated) -> Event | None:
        stepped = self._core.propose({CHANGES: self.changes.table}, update)
        outcome = stepped.emitted[0]
        self.covered.pop(update.cluster_id, None)
        if isinstance(outcome, Decline) and outcome.covered and self.chain:
            self.covered[update.cluster_id] = (update, self._tip().digest)
        if isinstance(outcome, Decline):
            self.declined[update.cluster_id] = outcome.reason
            if outcome.duplicate:
                log.info("cluster %s: no new patch: %s", update.cluster_id, outcome.reason)
            else:
                log.warning("cluster %s: no patch: %s", update.cluster_id, outcome.reason)
            return None
        event = await self._publish(update, outcome.patch, outcome.target)
        self.changes.write(stepped.writes.get(CHANGES, {}))
        return event

    def _refine(self, update: ClusterUpdated) -> Refined | NoPatch:
        """Refine an update's cluster on the tip of the chain."""
        members, variants = self.history.members(update.sample_finding_ids)
        if len(members) < self.min_members:
            return NoPatch(f"only {len(members)} member proposals known")
        sessions = self.history.sessions_of(update.sample_finding_ids)
        name = f"c{update.cluster_id.hex[:12]}"
        cluster = Cluster(name, members, variants, update.severity, sessions=sessions)
        base = self._tip()
        return refine(
            cluster,
            base,
            self.policy,
            self.history.cases(),
            fp_budget=self.fp_budget,
            norms=self.norms,
        )

    async def _publish(self, update: ClusterUpdated, patch: Patch, target: OracleArtifact) -> Event:
        event = patch.to_event(self._settings.identity)
        outputs: list[Event] = [event]
        if self.author_key is not None:
            producer = self._settings.identity
            outputs.append(approve(patch, self.author_key, role="author", producer=producer))
        await self.shell.emit(outputs)
        self.chain.append(Link(update, patch, target))
        self.proposed.append(patch.patch_id)
        return event


def build_refinement(
    settings: Settings, follower: ReleaseFollower, policy: RiskPolicy, **options: Any
) -> Refinement:
    return Refinement(settings, follower, policy, **options)
