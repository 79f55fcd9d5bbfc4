"""Helpers for release tests: chains of patches and the release events that deploy them."""

from __future__ import annotations

import uuid

from alignment_flywheel.events import (
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
    new_envelope,
)
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from tests.support.oracles import rule


def patch_chain(base: OracleArtifact, count: int) -> list[tuple[Patch, OracleArtifact]]:
    """``count`` patches in a row from ``base``, each adding one blocking rule."""
    chain, current = [], base
    for i in range(count):
        operations = parse_operations(
            [{"op": "add_rule", "rule": rule(f"p{i}", f'args.cmd == "bad-{i}"', score=0.0)}]
        )
        patch, current = propose_patch(current, operations, author="test", rationale=f"{i}")
        chain.append((patch, current))
    return chain


def staged(
    patch: Patch, stage: ReleaseStage = ReleaseStage.SHADOW, fraction: float = 0.0
) -> ReleaseStaged:
    return ReleaseStaged(
        envelope=new_envelope("test", str(patch.patch_id)),
        release_id=patch.patch_id,
        patch_id=patch.patch_id,
        version=patch.target_version,
        digest=patch.target_digest,
        stage=stage,
        canary_fraction=fraction,
        rollout_policy="default",
    )


def promoted(event: ReleaseStaged, to: ReleaseStage, source: ReleaseStage) -> ReleasePromoted:
    return ReleasePromoted(
        envelope=new_envelope("test", str(event.release_id)),
        release_id=event.release_id,
        version=event.version,
        digest=event.digest,
        from_stage=source,
        to_stage=to,
        actor="test",
    )


def rolled_back(
    event: ReleaseStaged, source: ReleaseStage, restored: tuple[int, str]
) -> ReleaseRolledBack:
    return ReleaseRolledBack(
        envelope=new_envelope("test", str(event.release_id)),
        release_id=event.release_id,
        version=event.version,
        digest=event.digest,
        from_stage=source,
        restored_version=restored[0],
        restored_digest=restored[1],
        reason="test",
    )


def release_id() -> uuid.UUID:
    return uuid.uuid4()
