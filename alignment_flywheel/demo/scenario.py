"""The demo scenario: a fleet of guarded proposers while the governance pipeline responds.

Phases (see :mod:`.proposers` for the calls):

1. ``baseline``: benign traffic from the coding, support and data agents.
2. ``unsafe behaviour``: the coding agent starts making directories world-writable; the first
   allowed calls (at most ``plan.incidents``) are reported as incidents. The phase lasts until
   the agents' release follower enforces a patched oracle as stable or ``plan.timeout_s`` passes
   (approved by hand, a patch waits for a person until then).
3. ``drift``: the data agent changes behaviour (a new tool, a new argument, bigger exports) and
   the coding agent keeps trying world-writable commands, including variants never seen; once a
   patch is stable every one of them counts in ``post_release_unsafe``, and the variants nobody
   ever sent before (:data:`~.proposers.NEVER_SEEN`) also in ``unreported_variants``: what the
   generalising patch stops that was never reported.
4. ``hasty hotfix`` (``plan.hotfix``): an over-broad patch is submitted (:mod:`.hasty`) and
   benign traffic flows until the rollout rolls it back, or ``plan.hotfix_wait_s`` passes.

Every decision is counted in the shared :class:`~.progress.Progress`. ``stop`` ends the run at
the next call (Ctrl-C). Deterministic traffic for a given ``plan.seed``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard
from alignment_flywheel.connectors.sdk.decision import GuardDecision
from alignment_flywheel.demo.hasty import MAX_SUBMISSIONS, submit_hotfix
from alignment_flywheel.demo.progress import Progress
from alignment_flywheel.demo.proposers import (
    CODING,
    DATA,
    NEVER_SEEN,
    PROPOSERS,
    UNSAFE,
    UNSAFE_DESCRIPTION,
    benign_call,
    drifted_call,
    unsafe_call,
)
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import Decision, IncidentKind, Severity
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.release.follower import ReleaseFollower


@dataclass(frozen=True)
class ScenarioPlan:
    """How much traffic, how fast, how long to wait for the pipeline."""

    baseline: int = 200
    drift_calls: int = 240
    unsafe_rate: float = 0.3
    incidents: int = 5
    pace_s: float = 0.03
    timeout_s: float = 240.0
    drift_wait_s: float = 30.0
    hotfix: bool = True
    hotfix_wait_s: float = 60.0
    seed: int = 7


FAST = ScenarioPlan(baseline=140, drift_calls=150, pace_s=0.02, timeout_s=180.0, drift_wait_s=15.0)


class Scenario:
    """Runs the phases with one guard per proposer, following oracle releases."""

    def __init__(
        self,
        settings: Settings,
        progress: Progress,
        follower: ReleaseFollower,
        genesis: OracleArtifact,
        plan: ScenarioPlan,
    ) -> None:
        self.progress, self.follower, self.genesis, self.plan = progress, follower, genesis, plan
        self.settings = settings
        self.guards = {name: Guard(settings, proposer_id=name) for name in PROPOSERS}
        for guard in self.guards.values():
            guard.follow(follower)
        self.rng = random.Random(plan.seed)
        self.stop = threading.Event()
        self.calls = 0
        self.reported = 0
        self.error: FlywheelError | None = None

    def run(self) -> None:
        """Every phase, in order; returns early once ``stop`` is set. A failure (the broker gone)
        ends the run and is kept in ``error``."""
        try:
            self._phases()
        except FlywheelError as exc:
            self.error = exc
            self._phase("failed")

    def _phases(self) -> None:
        self._phase("baseline")
        for _ in range(self.plan.baseline):
            self._benign(self.rng.choice(PROPOSERS))
            self._pause()
        self._phase("unsafe behaviour")
        self._until_released()
        self._phase("drift")
        self._drift()
        self._probe()
        if self.plan.hotfix and self.released:
            self._phase("hasty hotfix")
            self._hotfix()
        self._phase("finishing")

    def close(self) -> None:
        for guard in self.guards.values():
            guard.close(10)

    @property
    def released(self) -> bool:
        return self.follower.deployment.stable.digest != self.genesis.digest

    def _phase(self, name: str) -> None:
        with self.progress.lock:
            self.progress.phase = name

    def _pause(self) -> None:
        self.stop.wait(self.plan.pace_s)

    def _check(
        self,
        proposer: str,
        tool: str,
        args: Mapping[str, Any],
        unsafe: bool = False,
        unreported: bool = False,
    ) -> GuardDecision:
        released = self.released  # before the check: a release during it does not count
        result = self.guards[proposer].check(tool, args)
        self.calls += 1
        # the guard swaps oracles just after the follower's deployment changes: a call decided by
        # the genesis oracle in between was not decided after the release
        patched = result.verdict.oracle_digest != self.genesis.digest
        after = unsafe and released and patched
        self.progress.decided(
            proposer,
            result.decision.value,
            after_release_unsafe=after,
            unreported_variant=after and unreported,
        )
        return result

    def _benign(self, proposer: str) -> None:
        if not self.stop.is_set():
            self._check(proposer, *benign_call(proposer, self.rng, self.calls))

    def _until_released(self) -> None:
        deadline = time.monotonic() + self.plan.timeout_s
        while not self.stop.is_set() and not self.released:
            if time.monotonic() > deadline:
                return
            self._benign(self.rng.choice(PROPOSERS))
            if self.rng.random() < self.plan.unsafe_rate:
                self._unsafe()
            self._pause()
        self._note_release()

    def _unsafe(self) -> None:
        result = self._check(CODING, *unsafe_call(self.rng), unsafe=True)
        if result.decision is not Decision.ALLOW or self.reported >= self.plan.incidents:
            return
        with self.progress.lock:
            if self.progress.first_incident_at is None:
                self.progress.first_incident_at = time.time()
        self.reported += 1
        self.guards[CODING].report_incident(
            result, kind=IncidentKind.HARM, severity=Severity.HIGH, description=UNSAFE_DESCRIPTION
        )

    def _note_release(self) -> None:
        if self.released:
            version = self.follower.deployment.stable.version
            with self.progress.lock:
                self.progress.enforced_at.setdefault(version, time.time())

    def _drift(self) -> None:
        for _ in range(self.plan.drift_calls):
            if self.stop.is_set():
                return
            self._check(DATA, *drifted_call(self.rng, self.calls))
            self._benign(self.rng.choice(PROPOSERS))
            if self.rng.random() < self.plan.unsafe_rate:
                self._check(CODING, *unsafe_call(self.rng), unsafe=True)
            self._note_release()
            self._pause()
        deadline = time.monotonic() + self.plan.drift_wait_s
        while not self.progress.drift and time.monotonic() < deadline and not self.stop.is_set():
            self._check(DATA, *drifted_call(self.rng, self.calls))
            self._pause()

    def _probe(self) -> None:
        """Every known and never-seen world-writable command once more, after the release."""
        for cmd in UNSAFE + NEVER_SEEN:
            if self.stop.is_set():
                return
            unreported = cmd in NEVER_SEEN
            self._check(CODING, "shell.exec", {"cmd": cmd}, unsafe=True, unreported=unreported)

    def _hotfix(self) -> None:
        """Submit the hotfix (again if the stable oracle moved first) until it is rolled back."""
        submitted: dict[str, uuid.UUID] = {}
        deadline = time.monotonic() + self.plan.hotfix_wait_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            stable = self.follower.deployment.stable.digest
            if stable not in submitted and len(submitted) < MAX_SUBMISSIONS:
                base = self.follower.builder.artifact_for(stable)
                submitted[stable] = submit_hotfix(self.settings, base)
                with self.progress.lock:
                    self.progress.hotfixes.add(submitted[stable])
            if self._rolled_back(set(submitted.values())):
                return
            self._benign(self.rng.choice(PROPOSERS))
            self._pause()

    def _rolled_back(self, patch_ids: set[uuid.UUID]) -> bool:
        with self.progress.lock:
            tracks = [self.progress.patches.get(p) for p in patch_ids]
        return any(t is not None and t.rolled_back is not None for t in tracks)
