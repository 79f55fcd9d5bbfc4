"""Helpers for release tests: chains of patches and the release events that deploy them."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alignment_flywheel.events import (
    Event,
    PatchApproved,
    PatchRejected,
    PatchRejectionReason,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
    new_envelope,
)
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.patches.trust import save_root
from tests.support.oracles import rule
from tests.support.signing import Keyring
from tests.support.workers import topic_options

DAY = timedelta(days=1)


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


def forged_votes(patch: Patch) -> list[Event]:
    """What anyone able to write the patches topic can append about ``patch`` with no private key:
    an approval under an unknown key id with 64 junk bytes as signature, and an unsigned
    rejection."""
    approval = PatchApproved(
        envelope=new_envelope("mallory", str(patch.patch_id)),
        patch_id=patch.patch_id,
        key_id=hashlib.sha256(os.urandom(32)).hexdigest(),
        role="approver",
        signature=os.urandom(64),
    )
    rejection = PatchRejected(
        envelope=new_envelope("mallory", str(patch.patch_id)),
        patch_id=patch.patch_id,
        reason=PatchRejectionReason.BAD_SIGNATURE,
        security=True,
        detail="forged",
        rejected_by="release-controller",
    )
    return [approval, rejection]


def controller_args(
    state_dir: Path,
    app_id: str,
    topics: Mapping[str, str],
    policy: Mapping[str, Any],
    ring: Keyring,
) -> list[str]:
    """``flywheel release run`` arguments for a controller with state ``state_dir``: the rollout
    ``policy`` is written there, and so is the trust root of ``ring`` (where the controller's
    settings look for it), so the controller releases patches ``ring`` approves."""
    save_root(state_dir / "trust" / "root.json", ring.root(expires=datetime.now(UTC) + DAY))
    path = state_dir / "rollout.json"
    path.write_text(json.dumps(policy))
    return ["release", "run", "--app-id", app_id, "--policy", str(path), *topic_options(topics)]
