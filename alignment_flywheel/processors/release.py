"""The release controller: stages approved patches and promotes or rolls back by the metrics.

One controller runs per cluster (it sees every partition of the verdicts topic). It keeps the
release state and the patch log with a :class:`~alignment_flywheel.release.follower.ReleaseFollower`
(read from the beginning at start, so a restart knows every release), and per candidate a
:class:`~alignment_flywheel.release.rollout.RolloutMetrics` fed by a faust agent on the verdicts
topic (enforced and shadow verdicts) and one on the reviews topic (reviewers' approvals).

Every ``tick_s`` a timer:

1. With no candidate, stages the tip of the longest chain of approved patches that starts at the
   stable digest (each patch's base is the previous one's target; ties: the oldest patches), so
   patches proposed on top of each other roll out together, in one rollout
   (:func:`longest_chain`). A patch is left out of chains when it is rejected or when a rollback
   withdrew its target digest; the tip must be a patch whose own release was never staged (the
   release id is derived from the patch id), so after a chain is rolled back the chain without its
   last patch may go next. "Approved" is the ``approved`` hook
   (:class:`~alignment_flywheel.release.trusted.ReleaseGate`: the patch verifier against the trust
   root); the refusals it collects are published as unsigned, informational ``PatchRejected``
   on the patches topic (they change nothing enforced; approvals that do not count are ignored).
   A candidate still in SHADOW, which enforces nothing, is *superseded* by a longer approved chain
   that extends it (a new ``ReleaseStaged`` replaces it) while less than the SHADOW stage's
   ``min_duration_s`` has passed since the first candidate on this stable digest was staged, so
   patches confirmed a moment apart do not wait for each other's rollouts, and a steady stream of
   patches cannot hold a release back for more than twice that duration.
2. With a candidate, judges it by the rollout policy (:func:`.rollout.judge`) and publishes
   ``ReleasePromoted`` (SHADOW to CANARY with the policy's canary fraction, CANARY to STABLE) or
   ``ReleaseRolledBack`` (restoring the stable version), each with the metrics that justified it
   and ``automatic`` set. WAIT (manual promotion) and HOLD publish nothing.

Both are the pure core :mod:`~alignment_flywheel.release.controller_core` (its restart rules are
tested there without a broker); the timer here builds the tick from the follower and the metrics,
steps, and publishes what the step emitted.

Metrics count from when the controller first sees the candidate; after a restart they count again
from the restart (the stage's elapsed time still counts from the stage's event). Records that do
not decode, and valid events of a type the verdicts or reviews topic does not carry, are
dead-lettered (types the topic carries but the controller does not read are passed over); a
record is acknowledged once read and its dead letter, if any, confirmed; an agent that fails stops
the worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    Event,
    PatchApproved,
    ReleaseStaged,
    ReviewDecided,
    ReviewOutcome,
    VerdictIssued,
)
from alignment_flywheel.events.ids import release_id_for
from alignment_flywheel.governance.step import Stepped, Tables, write_into
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches import Patch
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.release.controller_core import (
    OPENED,
    ControllerCore,
    Fleet,
    Tick,
    longest_chain,
)
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.rebuild import PatchCheck
from alignment_flywheel.release.rollout import RolloutMetrics, RolloutPolicy
from alignment_flywheel.release.state import Candidate, Deployed, ReleaseState
from alignment_flywheel.release.trusted import ReleaseGate
from alignment_flywheel.roles import RoleTopics

__all__ = [
    "ReleaseController",
    "build_controller",
    "longest_chain",
    "release_id_for",
]

log = logging.getLogger(__name__)

Approved = Callable[[Patch, Sequence[PatchApproved]], bool]


class ReleaseController:
    """The controller's app, follower and metrics. Build with :func:`build_controller`."""

    def __init__(
        self,
        settings: Settings,
        genesis: OracleArtifact,
        policy: RolloutPolicy,
        approved: Approved,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        tick_s: float = 1.0,
        check: PatchCheck | None = None,
    ) -> None:
        topics = topics or RoleTopics("release")
        self.policy = policy
        self.approved = approved
        self.metrics: dict[uuid.UUID, RolloutMetrics] = {}
        self._opened: dict[str, datetime] = {}
        self._core = ControllerCore(policy, producer=settings.identity)
        self.published: list[Event] = []
        self.ready = False
        self._ready = asyncio.Event()
        self.follower = ReleaseFollower(
            settings, genesis, topics=ReleaseTopics.of(topics), check=check
        )
        self.shell = Shell(settings, topics, app_id=app_id)
        self.app = self.shell.app
        self.shell.consume("VerdictIssued", "verdicts", self._on_verdict)
        self.shell.consume("ReviewDecided", "reviews", self._on_review)
        self.app.timer(tick_s, name="release-tick")(self.tick)
        self.app.task(self._start_follower)

    async def _start_follower(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.follower.start)
        self.ready = True
        self._ready.set()

    async def _on_verdict(self, event: Event) -> None:
        await self._ready.wait()
        if isinstance(event, VerdictIssued):
            self._metrics_for_current()
            for metrics in self._active():
                metrics.add(event)

    async def _on_review(self, event: Event) -> None:
        await self._ready.wait()
        if isinstance(event, ReviewDecided) and event.outcome is ReviewOutcome.APPROVE:
            for metrics in self._active():
                metrics.review_approved(event.proposal_id)

    def _active(self) -> list[RolloutMetrics]:
        candidate = self.follower.state.candidate
        found = None if candidate is None else self.metrics.get(candidate.release_id)
        return [] if found is None else [found]

    def _metrics_for_current(self) -> None:
        candidate = self.follower.state.candidate
        if candidate is not None and candidate.release_id not in self.metrics:
            self.metrics[candidate.release_id] = RolloutMetrics(candidate.digest)

    async def tick(self) -> None:
        """One step of the controller (see the module docstring)."""
        if not self.ready:
            return
        state = self.follower.state
        figures = None
        if state.candidate is not None:
            self._metrics_for_current()
            figures = self.metrics[state.candidate.release_id].figures()
        event = self._applied(self._core(self._tables(), self._tick(state, figures)))
        if event is not None:
            await self._publish(event)
        await self._publish_rejections()

    def _tables(self) -> Tables:
        return {OPENED: self._opened}

    def _tick(self, state: ReleaseState, figures: dict[str, float] | None = None) -> Tick:
        follower = self.follower
        genesis = follower.builder.genesis
        fleet = Fleet(
            state,
            Deployed(None, genesis.version, genesis.digest),
            patches=list(follower.library.patches.values()),  # the follower's thread adds some
            usable=self._usable,
            releases_seen=frozenset(follower.releases_seen),
        )
        return Tick(datetime.now(UTC), fleet, figures)

    def _applied(self, stepped: Stepped[Event]) -> Event | None:
        """Keep the step's writes; the event it emitted, if any."""
        write_into(self._opened, stepped.writes.get(OPENED, {}))
        event = stepped.emitted[0] if stepped.emitted else None
        candidate = self.follower.state.candidate
        if isinstance(event, ReleaseStaged) and candidate is not None:
            log.warning(
                "release: patch %s supersedes candidate patch %s",
                event.patch_id,
                candidate.patch_id,
            )
        return event

    def _stage(self, state: ReleaseState) -> ReleaseStaged | None:
        event = self._applied(self._core.stage(self._tables(), self._tick(state)))
        return event if isinstance(event, ReleaseStaged) else None

    def _supersede(self, state: ReleaseState, candidate: Candidate) -> ReleaseStaged | None:
        stepped = self._core.supersede(self._tables(), self._tick(state), candidate)
        event = self._applied(stepped)
        return event if isinstance(event, ReleaseStaged) else None

    def _usable(self, patch: Patch) -> bool:
        follower, library = self.follower, self.follower.library
        if patch.patch_id in library.rejected or patch.target_digest in follower.rolled_back:
            return False
        return self.approved(patch, library.approvals.get(patch.patch_id, []))

    async def _publish(self, event: Event) -> None:
        log.warning("release: %s %s", event.event_type(), event.envelope.key)
        await self.shell.emit([event])
        self.published.append(event)
        self.follower.apply_now(event)

    async def _publish_rejections(self) -> None:
        """The gate's refusals (version, expiry) as unsigned ``PatchRejected``: information for
        people and tools; they take nothing away from anyone (only signed rejections do)."""
        if isinstance(self.approved, ReleaseGate):
            await self.shell.emit(self.approved.drain())


def build_controller(
    settings: Settings,
    genesis: OracleArtifact,
    policy: RolloutPolicy,
    approved: Approved,
    **options: Any,
) -> ReleaseController:
    return ReleaseController(settings, genesis, policy, approved, **options)
