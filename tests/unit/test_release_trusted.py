"""Verification where releases are made (the controller's gate) and followed (chain checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alignment_flywheel.events import PatchRejectionReason
from alignment_flywheel.patches.errors import ThresholdNotMetError
from alignment_flywheel.patches.trust import Ignored
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary
from alignment_flywheel.release.trusted import ReleaseGate, chain_check
from tests.support.signing import BASE, Keyring, approvals, make_patch


def test_the_gate_releases_a_fully_signed_patch_and_waits_for_signatures() -> None:
    ring = Keyring()
    gate = ReleaseGate(ring.root().root, "controller")
    patch = make_patch()
    assert (
        gate(patch, approvals(ring, patch, [("refinement", "author"), ("alice", "approver")]))
        is False
    )
    assert gate.drain() == []
    assert gate(patch, approvals(ring, patch)) is True


def test_a_forged_approval_is_ignored_and_the_patch_waits_for_valid_ones() -> None:
    ring, other = Keyring(), Keyring()
    gate = ReleaseGate(ring.root().root, "controller")
    patch = make_patch()
    forged = approvals(ring, patch)[:2] + approvals(other, patch, [("bob", "approver")])
    assert gate(patch, forged) is False, "one approver short: the patch waits"
    assert gate.drain() == [], "a forged approval is not a reason to reject"
    assert gate.verifier.ignored[Ignored.UNKNOWN_KEY] == 1
    assert gate(patch, [*forged, *approvals(ring, patch, [("carol", "approver")])]) is True


def test_a_patch_refused_for_good_is_rejected_once_unsigned() -> None:
    ring = Keyring()
    gate = ReleaseGate(ring.root().root, "controller")
    patch = make_patch(expires=datetime.now(UTC) - timedelta(hours=1))
    assert gate(patch, approvals(ring, patch)) is False
    assert gate(patch, approvals(ring, patch)) is False, "a refused patch stays refused"
    (rejection,) = gate.drain()
    assert rejection.patch_id == patch.patch_id and rejection.security
    assert rejection.reason is PatchRejectionReason.EXPIRED
    assert rejection.signatures == (), "informational: it takes nothing away"


def test_a_follower_refuses_a_chain_with_missing_or_bad_signatures() -> None:
    ring = Keyring()
    check = chain_check(ring.root().root)
    patch = make_patch()
    library = PatchLibrary()
    library.add(patch.to_event("t"))
    for approval in approvals(ring, patch, [("refinement", "author"), ("alice", "approver")]):
        library.add(approval)
    with pytest.raises(ThresholdNotMetError):
        OracleBuilder(BASE, library, check).artifact_for(patch.target_digest)
    tampered = patch.model_copy(update={"rationale": "something else"})
    with pytest.raises(ThresholdNotMetError):  # no signature counts for a tampered body
        check(tampered, approvals(ring, patch))
    assert check.ignored[Ignored.BAD_SIGNATURE] == 3
    library.add(approvals(ring, patch, [("bob", "approver")])[0])
    assert OracleBuilder(BASE, library, check).artifact_for(patch.target_digest).version == 2


def test_a_chain_uses_the_signed_one_of_several_patches_with_the_same_target() -> None:
    ring = Keyring()
    check = chain_check(ring.root().root)
    unsigned, signed = make_patch(), make_patch()
    assert unsigned.target_digest == signed.target_digest
    assert unsigned.patch_id != signed.patch_id
    library = PatchLibrary()
    for event in (unsigned.to_event("t"), signed.to_event("t"), *approvals(ring, signed)):
        library.add(event)
    assert OracleBuilder(BASE, library, check).artifact_for(signed.target_digest).version == 2
    bare = PatchLibrary()
    bare.add(unsigned.to_event("t"))
    with pytest.raises(ThresholdNotMetError):
        OracleBuilder(BASE, bare, check).artifact_for(unsigned.target_digest)
