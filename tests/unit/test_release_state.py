"""The release state as a fold, and oracles rebuilt from the patch log."""

from __future__ import annotations

import pytest

from alignment_flywheel.events import (
    PatchRejected,
    PatchRejectionReason,
    ReleaseStage,
    new_envelope,
)
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary, RebuildError
from alignment_flywheel.release.state import Deployed, ReleaseState, fold_all
from tests.support.oracles import artifact_doc, rule
from tests.support.releases import patch_chain, promoted, rolled_back, staged

GENESIS = build_artifact(artifact_doc(rule("base", "false")))
CHAIN = patch_chain(GENESIS, 3)

S, C, ST = ReleaseStage.SHADOW, ReleaseStage.CANARY, ReleaseStage.STABLE


def test_staged_then_promoted_through_canary_to_stable() -> None:
    first = staged(CHAIN[0][0])
    state = fold_all([first])
    assert state.stable is None
    assert state.candidate is not None and state.candidate.stage is S
    state = fold_all([promoted(first, C, S)], state)
    assert state.candidate is not None and state.candidate.stage is C
    state = fold_all([promoted(first, ST, C)], state)
    assert state == ReleaseState(Deployed(first.release_id, 2, first.digest), None)


def test_a_rollback_withdraws_the_candidate_and_keeps_stable() -> None:
    first, second = staged(CHAIN[0][0]), staged(CHAIN[1][0])
    state = fold_all([first, promoted(first, ST, S), second])
    assert state.candidate is not None
    state = fold_all([rolled_back(second, S, (2, first.digest))], state)
    assert state.candidate is None
    assert state.stable is not None and state.stable.digest == first.digest


def test_a_stable_rollback_restores_the_earlier_version() -> None:
    first, second = staged(CHAIN[0][0]), staged(CHAIN[1][0])
    state = fold_all([first, promoted(first, ST, S), second, promoted(second, ST, S)])
    assert state.stable is not None and state.stable.version == 3
    state = fold_all([rolled_back(second, ST, (2, first.digest))], state)
    assert state.stable is not None and (state.stable.version, state.stable.digest) == (
        2,
        first.digest,
    )


def test_compaction_keeps_the_fold_right() -> None:
    """Compacted by release id: only the last event of each release survives, in offset order."""
    first, second = staged(CHAIN[0][0]), staged(CHAIN[1][0])
    compacted = [promoted(first, ST, C), second]
    state = fold_all(compacted)
    assert state.stable is not None and state.stable.digest == first.digest
    assert state.candidate is not None and state.candidate.digest == second.digest


def library() -> PatchLibrary:
    patches = PatchLibrary()
    for patch, _ in CHAIN:
        patches.add(patch.to_event("test"))
    return patches


def test_the_builder_reaches_every_digest_of_the_chain() -> None:
    builder = OracleBuilder(GENESIS, library())
    for _patch, artifact in reversed(CHAIN):
        rebuilt = builder.artifact_for(artifact.digest)
        assert (rebuilt.version, rebuilt.digest) == (artifact.version, artifact.digest)
    assert builder.artifact_for(GENESIS.digest) is GENESIS


def test_the_check_hook_sees_every_patch_of_a_new_chain() -> None:
    seen = []
    builder = OracleBuilder(GENESIS, library(), lambda patch, approvals: seen.append(patch))
    builder.artifact_for(CHAIN[-1][1].digest)
    assert [p.patch_id for p in seen] == [p.patch_id for p, _ in reversed(CHAIN)]


def test_unreachable_and_rejected_versions_are_errors() -> None:
    builder = OracleBuilder(GENESIS, library())
    with pytest.raises(RebuildError, match="no patch in the log produces"):
        builder.artifact_for("ab" * 32)
    patches = library()
    patch = CHAIN[1][0]
    patches.add(
        PatchRejected(
            envelope=new_envelope("test", str(patch.patch_id)),
            patch_id=patch.patch_id,
            reason=PatchRejectionReason.BAD_SIGNATURE,
            security=True,
            detail="test",
            rejected_by="test",
        )
    )
    with pytest.raises(RebuildError, match="was rejected"):
        OracleBuilder(GENESIS, patches).artifact_for(CHAIN[2][1].digest)
