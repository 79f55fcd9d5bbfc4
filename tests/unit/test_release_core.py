"""The release controller's tick and its restart rules on the pure core, with the in-memory runner.

The controller's state is its own output read back: the adapter :class:`Controller` folds the
table ``log`` (the release events it published, kept exactly when they were delivered) into the
fleet each tick reads, as the follower does; ``opened`` is in memory only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alignment_flywheel.events import (
    Event,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
)
from alignment_flywheel.events.ids import release_id_for
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.release.controller_core import (
    OPENED,
    ControllerCore,
    Fleet,
    Tick,
)
from alignment_flywheel.release.rollout import RolloutPolicy
from alignment_flywheel.release.state import Deployed, fold_all
from tests.support.memory_runner import MemoryRunner
from tests.support.oracles import artifact_doc, rule

GENESIS = build_artifact(artifact_doc(rule("noop", "false")))
LOG = "log"
STAGE = {"min_samples": 100, "min_duration_s": 30, "promotion": "automatic"}
POLICY = RolloutPolicy(name="t", stages={"SHADOW": STAGE, "CANARY": STAGE})
CLEAN = {
    "disagreement_rate": 0.0,
    "block_rate_delta": 0.0,
    "escalation_rate_delta": 0.0,
    "error_rate": 0.0,
    "reviewed_false_positives": 0.0,
}
GOOD, FEW = {"samples": 500.0, **CLEAN}, {"samples": 0.0, **CLEAN}
BAD = {**GOOD, "disagreement_rate": 0.5}


def on(base: OracleArtifact, name: str) -> tuple[Patch, OracleArtifact]:
    operation = {"op": "add_rule", "rule": rule(name, "true", tools=[f"{name}.x"])}
    return propose_patch(base, parse_operations([operation]), author="t", rationale=name)


A, A_TARGET = on(GENESIS, "a")
B, B_TARGET = on(A_TARGET, "b")


@dataclass(frozen=True)
class Clock:
    """A tick: seconds after the run started, the patch log so far, the candidate's figures."""

    seconds: float
    patches: Sequence[Patch] = ()
    figures: dict[str, float] = field(default_factory=lambda: GOOD)


class Controller:
    """ControllerCore with the fleet folded from the ``log`` table of its own published events."""

    def __init__(self, start: datetime) -> None:
        self.core = ControllerCore(POLICY, producer="release-test")
        self.start = start

    def __call__(self, tables: Tables, clock: Clock) -> Stepped[Event]:
        log = [tables[LOG][key] for key in sorted(tables[LOG], key=int)]
        rolled_back = {e.digest for e in log if isinstance(e, ReleaseRolledBack)}
        fleet = Fleet(
            fold_all(log),
            Deployed(None, GENESIS.version, GENESIS.digest),
            clock.patches,
            usable=lambda patch: patch.target_digest not in rolled_back,
            releases_seen=frozenset(e.release_id for e in log if isinstance(e, ReleaseStaged)),
        )
        now = self.start + timedelta(seconds=clock.seconds)
        stepped = self.core(tables, Tick(now, fleet, clock.figures))
        published = {str(len(log) + i): event for i, event in enumerate(stepped.emitted)}
        return Stepped({**stepped.writes, LOG: published}, stepped.emitted)


def runner(clocks: Sequence[Clock]) -> MemoryRunner[Clock, Event]:
    """A run whose clock starts now: a staged candidate's ``since`` is the wall time it was
    staged at, so the ticks must count from when the run starts, not from when the module was
    imported."""
    start = datetime.now(UTC)
    return MemoryRunner(lambda: Controller(start), clocks, tables=[LOG], memory=[OPENED])


def kinds(events: Sequence[Event]) -> list[str]:
    return [event.event_type() for event in events]


def test_the_tip_of_the_chain_is_staged_then_promoted_by_the_figures() -> None:
    both = (A, B)
    run = runner([Clock(0, both, FEW), Clock(1, both, FEW), Clock(100, both), Clock(200, both)])
    staged, shadow_to_canary, canary_to_stable = run.run()
    assert isinstance(staged, ReleaseStaged) and staged.release_id == release_id_for(B.patch_id)
    assert isinstance(shadow_to_canary, ReleasePromoted)
    assert shadow_to_canary.to_stage is ReleaseStage.CANARY
    assert isinstance(canary_to_stable, ReleasePromoted)
    assert canary_to_stable.to_stage is ReleaseStage.STABLE


def test_a_breach_rolls_back_and_the_chain_without_its_tip_goes_next() -> None:
    both = (A, B)
    run = runner([Clock(0, both), Clock(1, both, BAD), Clock(2, both)])
    staged, rolled_back, again = run.run()
    assert isinstance(staged, ReleaseStaged) and staged.patch_id == B.patch_id
    assert isinstance(rolled_back, ReleaseRolledBack)
    assert (rolled_back.restored_digest, rolled_back.digest) == (GENESIS.digest, B_TARGET.digest)
    assert isinstance(again, ReleaseStaged) and again.patch_id == A.patch_id


def test_a_staging_lost_in_a_crash_is_staged_again_with_the_same_release_id() -> None:
    run = runner([Clock(0, (A,)), Clock(1, (A,), FEW)])
    run.commit_every = 2
    run.run(until=1)
    run.crash()
    run.run()
    run.commit()
    assert kinds(run.sink) == ["ReleaseStaged"]
    assert run.sink[0].release_id == release_id_for(A.patch_id)  # type: ignore[attr-defined]


def test_a_delivered_staging_is_not_repeated_after_a_crash() -> None:
    run = runner([Clock(0, (A,)), Clock(1, (A,), FEW), Clock(2, (A,), FEW)])
    run.commit_every = 3
    run.run(until=1)
    run.crash(delivered=True, changelog=True)
    run.run()
    run.commit()
    assert kinds(run.sink) == ["ReleaseStaged"]


def test_a_longer_chain_supersedes_a_shadow_candidate_within_the_window() -> None:
    run = runner([Clock(0, (A,), FEW), Clock(1, (A, B), FEW), Clock(2, (A, B), FEW)])
    first, wider = run.run()
    assert isinstance(first, ReleaseStaged) and first.patch_id == A.patch_id
    assert isinstance(wider, ReleaseStaged) and wider.patch_id == B.patch_id


def test_after_a_restart_the_window_is_unknown_and_the_candidate_is_not_superseded() -> None:
    run = runner([Clock(0, (A,), FEW), Clock(1, (A, B), FEW)])
    run.run(until=1)
    run.crash()
    assert run.tables[OPENED] == {} and len(run.tables[LOG]) == 1
    run.run()
    assert kinds(run.sink) == ["ReleaseStaged"]


def test_no_superseding_once_the_window_has_passed() -> None:
    run = runner([Clock(0, (A,), FEW), Clock(31, (A, B), FEW)])
    assert kinds(run.run()) == ["ReleaseStaged"]
