"""The release controller's tick as a pure core (:mod:`~alignment_flywheel.governance.step`).

One step takes a :class:`Tick`: the time, the release log as the follower folded it
(:class:`Fleet`: the release state, the bootstrap version, the patches in log order, which of them
may be released, the releases ever staged) and the candidate's rollout figures. It reads the
table ``opened`` (stable digest -> when the first candidate on it was staged, in memory only) and
returns at most one release event to publish. Rules:

* **Staging.** With no candidate, the tip of the longest chain of usable patches from the stable
  digest (:func:`longest_chain`) is staged (``ReleaseStaged`` at SHADOW), unless its release was
  staged before: the release id is ``uuid5(patch id, "release")`` (:func:`release_id_for`), so the
  tip is the last patch of the chain whose release was never staged. Staging writes ``opened``
  for the stable digest, unless it is there.
* **Superseding.** A SHADOW candidate is replaced by a longer chain that extends it (a new
  ``ReleaseStaged``) while less than the SHADOW stage's ``min_duration_s`` has passed since
  ``opened``; never in CANARY, never when ``opened`` has no entry (after a restart), never by a
  release staged before.
* **Judging.** Otherwise the rollout policy judges the figures (:func:`.rollout.judge`):
  ROLLBACK gives ``ReleaseRolledBack`` (restoring the stable version, or the bootstrap one),
  PROMOTE gives ``ReleasePromoted`` (SHADOW to CANARY, CANARY to STABLE); WAIT and HOLD emit
  nothing.
* **Restarts.** The controller commits nothing: its outputs are its state, read back by the
  follower. A tick whose event was lost repeats the decision on the next tick with the same
  release id; a published event, once folded, is not repeated (the release was staged, the
  candidate moved on). ``opened`` is lost with the process, so a restarted controller does not
  supersede the candidate it finds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alignment_flywheel.events import (
    Event,
    ReleaseStage,
    ReleaseStaged,
    new_envelope,
)
from alignment_flywheel.events.ids import emitted_event_id, release_id_for
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.patches import Patch
from alignment_flywheel.release.commands import candidate_rollback, promotion
from alignment_flywheel.release.rollout import Judgement, RolloutPolicy, judge
from alignment_flywheel.release.state import Candidate, Deployed, ReleaseState

OPENED = "opened"


@dataclass(frozen=True, slots=True)
class Fleet:
    """What a tick reads of the release log (as the follower folded it)."""

    state: ReleaseState
    genesis: Deployed
    patches: Sequence[Patch]
    usable: Callable[[Patch], bool]
    """Whether a patch may be released (approved, not rejected, its target not rolled back)."""
    releases_seen: frozenset[uuid.UUID]

    @property
    def stable(self) -> Deployed:
        return self.genesis if self.state.stable is None else self.state.stable


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick: the time, the fleet, the candidate's rollout figures (None: no candidate)."""

    now: datetime
    fleet: Fleet
    figures: Mapping[str, float] | None = None


def longest_chain(
    stable: str, patches: Sequence[Patch], usable: Callable[[Patch], bool]
) -> list[Patch]:
    """The longest chain of usable patches from ``stable``, each based on the previous one's
    target (ties: the chain whose patches come first in ``patches``, i.e. in log order)."""
    children: dict[str, list[Patch]] = {}
    for patch in patches:
        children.setdefault(patch.base_digest, []).append(patch)
    memo: dict[str, list[Patch]] = {}

    def deepest(digest: str, trail: frozenset[str]) -> list[Patch]:
        if digest in memo:
            return memo[digest]
        found: list[Patch] = []
        for child in children.get(digest, []):
            if child.target_digest in trail or not usable(child):
                continue
            chain = [child, *deepest(child.target_digest, trail | {child.target_digest})]
            if len(chain) > len(found):
                found = chain
        memo[digest] = found
        return found

    return deepest(stable, frozenset({stable}))


class ControllerCore:
    """The tick's step (see the module rules)."""

    def __init__(self, policy: RolloutPolicy, *, producer: str) -> None:
        self.policy = policy
        self._producer = producer

    def __call__(self, tables: Tables, tick: Tick) -> Stepped[Event]:
        candidate = tick.fleet.state.candidate
        if candidate is None:
            return self.stage(tables, tick)
        superseded = self.supersede(tables, tick, candidate)
        return superseded if superseded.emitted else self.judge(tick, candidate)

    def stage(self, tables: Tables, tick: Tick) -> Stepped[Event]:
        """Stage the tip of the longest usable chain not staged before, if any."""
        fleet = tick.fleet
        chain = longest_chain(fleet.stable.digest, fleet.patches, fleet.usable)
        fresh = [p for p in chain if release_id_for(p.patch_id) not in fleet.releases_seen]
        if not fresh:
            return Stepped()
        stable = fleet.stable.digest
        writes = {} if stable in tables[OPENED] else {OPENED: {stable: tick.now}}
        return Stepped(writes, (self._staged(fresh[-1]),))

    def supersede(self, tables: Tables, tick: Tick, candidate: Candidate) -> Stepped[Event]:
        """Replace a SHADOW candidate by a longer chain extending it, within the window."""
        if candidate.stage is not ReleaseStage.SHADOW:
            return Stepped()
        fleet = tick.fleet
        opened: datetime | None = tables[OPENED].get(fleet.stable.digest)
        window = self.policy.rule_for(ReleaseStage.SHADOW).min_duration_s
        if opened is None or (tick.now - opened).total_seconds() >= window:
            return Stepped()
        chain = longest_chain(fleet.stable.digest, fleet.patches, fleet.usable)
        targets = [p.target_digest for p in chain]
        if candidate.digest not in targets or targets[-1] == candidate.digest:
            return Stepped()
        tip = chain[-1]
        if release_id_for(tip.patch_id) in fleet.releases_seen:
            return Stepped()
        return Stepped(emitted=(self._staged(tip),))

    def judge(self, tick: Tick, candidate: Candidate) -> Stepped[Event]:
        """Promote or roll back the candidate as the rollout policy judges its figures."""
        if tick.figures is None:
            raise ValueError("a tick with a candidate needs the candidate's figures")
        figures = dict(tick.figures)
        elapsed = (tick.now - candidate.since).total_seconds()
        verdict, why = judge(self.policy, candidate.stage, figures, elapsed)
        actor = self._producer
        if verdict is Judgement.ROLLBACK:
            fleet = tick.fleet
            rolled_back = candidate_rollback(
                fleet.state,
                candidate,
                fleet.genesis,
                actor=actor,
                reason="; ".join(why),
                metrics=figures,
                automatic=True,
            )
            return Stepped(emitted=(rolled_back,))
        if verdict is not Judgement.PROMOTE:
            return Stepped()
        return Stepped(
            emitted=(promotion(candidate, actor=actor, metrics=figures, automatic=True),)
        )

    def _staged(self, patch: Patch) -> ReleaseStaged:
        return ReleaseStaged(
            envelope=new_envelope(self._producer, str(patch.patch_id)).model_copy(
                update={"event_id": emitted_event_id(release_id_for(patch.patch_id), "staged")}
            ),
            release_id=release_id_for(patch.patch_id),
            patch_id=patch.patch_id,
            version=patch.target_version,
            digest=patch.target_digest,
            stage=ReleaseStage.SHADOW,
            canary_fraction=self.policy.canary_fraction,
            rollout_policy=self.policy.name,
        )
