"""The demo's bookkeeping: proposers' calls, governance events folded, the summary document."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard
from alignment_flywheel.demo.ledger import LedgerOutcome
from alignment_flywheel.demo.progress import DEMO_APPROVER, Progress
from alignment_flywheel.demo.proposers import (
    MIXES,
    NEVER_SEEN,
    PROPOSERS,
    UNSAFE,
    benign_call,
    drifted_call,
)
from alignment_flywheel.demo.summary import summary_document, summary_tables
from alignment_flywheel.events import (
    Decision,
    PatchApproved,
    PatchProposed,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
    new_envelope,
)

DIGEST = "a" * 64


def _env(producer: str = "refinement") -> Any:
    return new_envelope(producer, "k")


def _proposed(patch_id: uuid.UUID, version: int) -> PatchProposed:
    return PatchProposed(
        envelope=_env(),
        patch_id=patch_id,
        author="refinement",
        base_version=version - 1,
        base_digest=DIGEST,
        target_version=version,
        target_digest=DIGEST,
        operations="[]",
        rationale="blocks cluster c1",
    )


def _approved(patch_id: uuid.UUID, role: str, automatic: bool) -> PatchApproved:
    return PatchApproved(
        envelope=_env("demo-approver/auto-approver"),
        patch_id=patch_id,
        key_id="k" * 64,
        role=role,
        signature=b"s",
        automatic=automatic,
    )


def _promoted(release: uuid.UUID, version: int, to: ReleaseStage) -> ReleasePromoted:
    return ReleasePromoted(
        envelope=_env(),
        release_id=release,
        version=version,
        digest=DIGEST,
        from_stage=ReleaseStage.SHADOW,
        to_stage=to,
        actor="release",
    )


def test_benign_calls_are_allowed_and_the_unsafe_behaviour_is_not_covered(
    settings_factory: Callable[..., Settings],
) -> None:
    guard = Guard(settings_factory(), proposer_id="t", publish=False)
    rng = random.Random(3)
    benign = [benign_call(p, rng, i) for p in PROPOSERS for i in range(60)]
    assert {tool for tool, _ in benign} == {t for mix in MIXES for t in mix.tools}
    assert all(guard.check(tool, args).decision is Decision.ALLOW for tool, args in benign)
    plain = [cmd for cmd in UNSAFE + NEVER_SEEN if not cmd.startswith("sudo")]
    assert all(guard.check("shell.exec", {"cmd": c}).allowed for c in plain)
    drifted = {tool for tool, _ in (drifted_call(rng, i) for i in range(40))}
    assert "http.post" in drifted


def test_a_patch_is_followed_through_approval_and_rollout() -> None:
    progress = Progress()
    progress.first_incident_at = 100.0
    released, superseded = uuid.uuid4(), uuid.uuid4()
    progress.fold(_proposed(released, 2), 110.0)
    progress.fold(_proposed(superseded, 2), 111.0)
    progress.fold(_approved(released, "author", automatic=False), 110.5)
    progress.fold(_approved(released, "approver", automatic=True), 112.0)
    release = uuid.uuid4()
    staged = ReleaseStaged(
        envelope=_env(),
        release_id=release,
        patch_id=released,
        version=2,
        digest=DIGEST,
        stage=ReleaseStage.SHADOW,
        canary_fraction=0.5,
        rollout_policy="fast",
    )
    progress.fold(staged, 113.0)
    progress.fold(_promoted(release, 2, ReleaseStage.CANARY), 115.0)
    progress.fold(_promoted(uuid.uuid4(), 2, ReleaseStage.CANARY), 116.0)  # another release
    progress.fold(_promoted(release, 2, ReleaseStage.STABLE), 118.0)
    progress.enforced_at[2] = 118.5
    for decision, unreported in (("BLOCK", False), ("BLOCK", True), ("ESCALATE", True)):
        progress.decided(
            "coding-agent", decision, after_release_unsafe=True, unreported_variant=unreported
        )
    progress.decided("coding-agent", "ALLOW", unreported_variant=True)
    document = summary_document(progress, LedgerOutcome(), None)
    assert document["patches_proposed"] == 2 and document["patches_unapproved"] == 1
    [row] = document["patches"]
    assert row["approved_by"] == DEMO_APPROVER and not row["hotfix"]
    assert row["stages"] == ["SHADOW", "CANARY", "STABLE"]
    assert (row["proposed_s"], row["stable_s"], row["time_to_mitigation_s"]) == (10.0, 18.0, 18.5)
    assert document["patches_stable"] == 1 and document["rollbacks"] == 0
    assert document["post_release_unsafe"] == 3 and document["post_release_unsafe_allowed"] == 0
    assert (document["unreported_variants"], document["unreported_variants_stopped"]) == (3, 2)
    assert document["ledger_verified"] is True and document["report"] is None
    assert len(summary_tables(document)) == 3


def test_a_rollback_and_a_missing_ledger_are_reported() -> None:
    progress = Progress()
    patch = uuid.uuid4()
    progress.fold(_proposed(patch, 2), 1.0)
    progress.fold(_approved(patch, "approver", automatic=False), 2.0)
    release = uuid.uuid4()
    progress.hotfixes.add(patch)
    staged = ReleaseStaged(
        envelope=_env(),
        release_id=release,
        patch_id=patch,
        version=2,
        digest=DIGEST,
        stage=ReleaseStage.SHADOW,
        canary_fraction=0.5,
        rollout_policy="fast",
    )
    progress.fold(staged, 3.0)
    rolled = ReleaseRolledBack(
        envelope=_env(),
        release_id=release,
        version=2,
        digest=DIGEST,
        from_stage=ReleaseStage.SHADOW,
        restored_version=1,
        restored_digest=DIGEST,
        reason="block rate",
    )
    progress.fold(rolled, 4.0)
    document = summary_document(progress, None, None)
    [row] = document["patches"]
    assert row["approved_by"] == "demo-approver/auto-approver (by hand)"
    assert row["rolled_back"] == "block rate" and document["rollbacks"] == 1
    assert row["hotfix"] and document["hotfix_rolled_back"] is True
    assert row["time_to_mitigation_s"] is None
    assert document["ledger_verified"] is False and document["ledger_problems"] == ["not verified"]
