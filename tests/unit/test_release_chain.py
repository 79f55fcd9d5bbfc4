"""The release controller stages the longest chain of approved patches from the stable digest:
patches proposed on top of each other are released together, and none is left behind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alignment_flywheel.config import load_settings
from alignment_flywheel.events import ReleaseStage, ReleaseStaged
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.processors.release import ReleaseController, build_controller, longest_chain
from alignment_flywheel.release.rollout import RolloutPolicy
from alignment_flywheel.release.state import ReleaseState, fold
from tests.support.oracles import artifact_doc, rule

GENESIS = build_artifact(artifact_doc(rule("noop", "false")))


def on(base: OracleArtifact, name: str) -> tuple[Patch, OracleArtifact]:
    operation = {"op": "add_rule", "rule": rule(name, "true", tools=[f"{name}.x"])}
    return propose_patch(base, parse_operations([operation]), author="t", rationale=name)


def test_the_longest_approved_chain_from_the_stable_digest() -> None:
    a, a_target = on(GENESIS, "a")
    b, b_target = on(a_target, "b")
    c, _ = on(b_target, "c")
    lone, _ = on(GENESIS, "lone")
    patches = [lone, a, b, c]
    assert longest_chain(GENESIS.digest, patches, lambda p: True) == [a, b, c]
    # an unusable link ends the chain before it; nothing is skipped over it
    assert longest_chain(GENESIS.digest, patches, lambda p: p != b) == [lone]
    assert longest_chain(GENESIS.digest, patches, lambda p: p not in (b, lone)) == [a]
    assert longest_chain(a_target.digest, patches, lambda p: True) == [b, c]
    assert longest_chain(GENESIS.digest, patches, lambda p: False) == []


def test_ties_go_to_the_patches_first_in_the_log() -> None:
    first, _ = on(GENESIS, "first")
    second, _ = on(GENESIS, "second")
    assert longest_chain(GENESIS.digest, [first, second], lambda p: True) == [first]
    assert longest_chain(GENESIS.digest, [second, first], lambda p: True) == [second]


def test_a_patch_proposed_on_an_old_stable_is_not_staged_on_the_new_one() -> None:
    a, a_target = on(GENESIS, "a")
    stranded, _ = on(GENESIS, "stranded")
    assert longest_chain(a_target.digest, [a, stranded], lambda p: True) == []


def controller(tmp_path: Path, shadow_s: float = 60.0) -> ReleaseController:
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:9")
    stage = {"min_samples": 1, "min_duration_s": shadow_s, "promotion": "automatic"}
    policy = RolloutPolicy(name="t", stages={"SHADOW": stage, "CANARY": stage})
    return build_controller(settings, GENESIS, policy, lambda patch, approvals: True)


def candidate_of(staged: ReleaseStaged) -> ReleaseState:
    return fold(ReleaseState(), staged)


def test_a_shadow_candidate_is_superseded_by_a_longer_chain_that_extends_it(
    tmp_path: Path,
) -> None:
    release = controller(tmp_path)
    a, a_target = on(GENESIS, "a")
    b, b_target = on(a_target, "b")
    stray, _ = on(GENESIS, "stray")
    release.follower.library.add(a.to_event("t"))
    staged = release._stage(ReleaseState())
    assert staged is not None and staged.patch_id == a.patch_id
    release.follower.releases_seen.add(staged.release_id)
    state = candidate_of(staged)
    assert state.candidate is not None
    assert release._supersede(state, state.candidate) is None  # nothing longer yet
    release.follower.library.add(stray.to_event("t"))
    assert release._supersede(state, state.candidate) is None  # does not extend the candidate
    release.follower.library.add(b.to_event("t"))
    wider = release._supersede(state, state.candidate)
    assert wider is not None and wider.patch_id == b.patch_id and wider.digest == b_target.digest
    assert wider.stage is ReleaseStage.SHADOW


def test_no_superseding_once_the_shadow_window_has_passed_or_in_canary(tmp_path: Path) -> None:
    a, a_target = on(GENESIS, "a")
    b, _ = on(a_target, "b")
    for shadow_s, stage in ((0.0, ReleaseStage.SHADOW), (60.0, ReleaseStage.CANARY)):
        release = controller(tmp_path / stage.value, shadow_s=shadow_s)
        release.follower.library.add(a.to_event("t"))
        staged = release._stage(ReleaseState())
        assert staged is not None
        release.follower.library.add(b.to_event("t"))
        state = candidate_of(staged)
        assert state.candidate is not None
        assert release._supersede(state, replace(state.candidate, stage=stage)) is None


def test_a_rolled_back_tip_leaves_the_rest_of_its_chain_to_be_staged(tmp_path: Path) -> None:
    release = controller(tmp_path)
    a, a_target = on(GENESIS, "a")
    b, b_target = on(a_target, "b")
    for patch in (a, b):
        release.follower.library.add(patch.to_event("t"))
    staged = release._stage(ReleaseState())
    assert staged is not None and staged.patch_id == b.patch_id
    release.follower.releases_seen.add(staged.release_id)
    release.follower.rolled_back.add(b_target.digest)
    again = release._stage(ReleaseState())
    assert again is not None and again.patch_id == a.patch_id
