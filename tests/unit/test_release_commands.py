"""Promote and roll back: commands over the release state."""

from __future__ import annotations

import pytest

from alignment_flywheel.events import ReleaseStage
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.release import commands
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary
from alignment_flywheel.release.state import ReleaseState, fold_all
from tests.support.oracles import artifact_doc, rule
from tests.support.releases import patch_chain, promoted, staged

GENESIS = build_artifact(artifact_doc(rule("base", "false")))
CHAIN = patch_chain(GENESIS, 2)
S, C, ST = ReleaseStage.SHADOW, ReleaseStage.CANARY, ReleaseStage.STABLE


def builder() -> OracleBuilder:
    library = PatchLibrary()
    for patch, _ in CHAIN:
        library.add(patch.to_event("t"))
    return OracleBuilder(GENESIS, library)


def test_promote_moves_the_candidate_one_stage_on() -> None:
    first = staged(CHAIN[0][0])
    state = fold_all([first])
    event = commands.promote(state, actor="releaser", metrics={"samples": 3.0})
    assert (event.from_stage, event.to_stage, event.automatic) == (S, C, False)
    event = commands.promote(fold_all([event], state), actor="releaser", metrics={})
    assert (event.from_stage, event.to_stage) == (C, ST)
    with pytest.raises(commands.ReleaseCommandError, match="no candidate"):
        commands.promote(ReleaseState(), actor="r", metrics={})


def test_rollback_of_the_candidate_restores_stable_or_the_bootstrap() -> None:
    first = staged(CHAIN[0][0])
    event = commands.rollback(fold_all([first]), builder(), actor="r", reason="why")
    assert (event.restored_version, event.restored_digest) == (1, GENESIS.digest)
    assert fold_all([first, event]).candidate is None


def test_rollback_of_stable_restores_the_patch_base() -> None:
    first, second = staged(CHAIN[0][0]), staged(CHAIN[1][0])
    state = fold_all([first, promoted(first, ST, S), second, promoted(second, ST, S)])
    event = commands.rollback(state, builder(), actor="r", reason="bad", stable=True)
    assert (event.from_stage, event.restored_digest) == (ST, CHAIN[0][1].digest)
    after = fold_all([event], state)
    assert after.stable is not None and after.stable.digest == CHAIN[0][1].digest
    with pytest.raises(commands.ReleaseCommandError, match="bootstrap"):
        commands.rollback(ReleaseState(), builder(), actor="r", reason="x", stable=True)
