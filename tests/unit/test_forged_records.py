"""Records that do not verify change nothing: a forged approval does not spoil a properly approved
patch, and neither a forged approval nor an unsigned rejection takes a released patch away from a
restarted follower (the seen cases of the trust-root task)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from alignment_flywheel.config import load_settings
from alignment_flywheel.events import (
    Event,
    PatchApproved,
    PatchRejected,
    PatchRejectionReason,
    ReleaseStage,
    new_envelope,
)
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary
from alignment_flywheel.release.trusted import ReleaseGate, chain_check
from tests.support.releases import patch_chain, promoted, staged
from tests.support.signing import BASE, NOW, Keyring, approvals, make_patch

ST, S = ReleaseStage.STABLE, ReleaseStage.SHADOW


def forged_approval(patch: Patch) -> PatchApproved:
    """An approval no private key made: an unknown key id and 64 junk bytes."""
    return PatchApproved(
        envelope=new_envelope("mallory", str(patch.patch_id)),
        patch_id=patch.patch_id,
        key_id=hashlib.sha256(os.urandom(32)).hexdigest(),
        role="approver",
        signature=os.urandom(64),
    )


def unsigned_rejection(patch: Patch) -> PatchRejected:
    return PatchRejected(
        envelope=new_envelope("mallory", str(patch.patch_id)),
        patch_id=patch.patch_id,
        reason=PatchRejectionReason.BAD_SIGNATURE,
        security=True,
        detail="forged",
        rejected_by="release-controller",
    )


def test_a_forged_approval_does_not_spoil_a_properly_approved_patch() -> None:
    ring = Keyring()
    root = ring.root().root
    patch = make_patch()
    signed = [*approvals(ring, patch), forged_approval(patch)]
    verified = PatchVerifier(root, OracleHead(BASE.version, BASE.digest)).verify(patch, signed, NOW)
    assert len(verified.signers["approver"]) == 2
    gate = ReleaseGate(root, "controller")
    assert gate(patch, signed) is True
    assert gate.drain() == []


def released_library(ring: Keyring, patch: Patch, *extra: Event) -> PatchLibrary:
    library = PatchLibrary()
    for event in (patch.to_event("refinement"), *approvals(ring, patch), *extra):
        library.add(event)
    return library


def test_forged_records_after_release_do_not_break_the_rebuild() -> None:
    ring = Keyring()
    check = chain_check(ring.root().root)
    patch = make_patch()
    library = released_library(ring, patch, forged_approval(patch), unsigned_rejection(patch))
    assert OracleBuilder(BASE, library, check).artifact_for(patch.target_digest).version == 2


def restarted(tmp_path: Path, ring: Keyring, events: Iterable[Event]) -> ReleaseFollower:
    """A follower that read ``events`` from the log, as ``start`` does, then deployed once."""
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:9")
    follower = ReleaseFollower(
        settings,
        BASE,
        topics=ReleaseTopics("patches", "releases"),
        check=chain_check(ring.root().root),
    )
    for event in events:
        follower._apply(event)
    follower._redeploy()
    return follower


def test_a_restarted_follower_enforces_the_release_despite_forged_records(tmp_path: Path) -> None:
    ring = Keyring()
    patch = make_patch()
    release = staged(patch)
    log: list[Event] = [
        patch.to_event("refinement"),
        *approvals(ring, patch),
        release,
        promoted(release, ST, S),
        forged_approval(patch),
        unsigned_rejection(patch),
    ]
    follower = restarted(tmp_path, ring, log)
    assert follower.deployment.stable.digest == patch.target_digest
    assert follower.deployment.stable.version == 2


def test_an_unverifiable_release_leaves_a_restarted_follower_on_its_last_verified_one(
    tmp_path: Path,
) -> None:
    ring = Keyring()
    (good, _), (bad, _) = patch_chain(BASE, 2)
    first, second = staged(good), staged(bad)
    log: list[Event] = [
        good.to_event("refinement"),
        *approvals(ring, good),
        bad.to_event("mallory"),  # never signed
        first,
        promoted(first, ST, S),
        second,
        promoted(second, ST, S),
    ]
    follower = restarted(tmp_path, ring, log)
    assert follower.deployment.stable.digest == good.target_digest
    status = follower.status
    assert status.degraded and status.reason is not None and "v3" in status.reason
    assert status.enforced.digest == good.target_digest
    assert status.released is not None and status.released.digest == bad.target_digest
