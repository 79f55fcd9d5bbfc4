"""Patch verification: the happy path; every attack of issue 4 either refuses the patch with its
own error and reason (counted, recorded as PatchRejected, the oracle unchanged) or, for approvals
that do not count, is ignored and recorded as a security event: only thresholds, base and version,
and freshness refuse a patch."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from alignment_flywheel.events import PatchApproved, PatchRejectionReason
from alignment_flywheel.patches import Patch, apply_patch
from alignment_flywheel.patches.approvals import approve, export_envelope
from alignment_flywheel.patches.errors import (
    BaseMismatchError,
    ExpiredPatchError,
    ExpiredRootError,
    MalformedError,
    OversizedEnvelopeError,
    PatchSecurityError,
    ReplayError,
    RollbackError,
    ThresholdNotMetError,
    UnknownKeyError,
)
from alignment_flywheel.patches.trust import Ignored
from alignment_flywheel.patches.verify import (
    OracleHead,
    PatchVerifier,
    human_rejection,
    rejection_event,
)
from tests.support.signing import BASE, NOW, Keyring, approvals, make_patch

HEAD = OracleHead(BASE.version, BASE.digest)


def verifier(ring: Keyring, **root: object) -> PatchVerifier:
    return PatchVerifier(ring.root(**root).root, HEAD)  # type: ignore[arg-type]


def test_a_properly_signed_patch_verifies_and_then_applies() -> None:
    ring = Keyring()
    check = verifier(ring)
    patch = make_patch()
    verified = check.verify(patch, approvals(ring, patch), NOW)
    assert verified.patch == patch
    assert len(verified.signers["approver"]) == 2 and len(verified.signers["author"]) == 1
    applied = apply_patch(BASE, verified.patch)
    check.advance(OracleHead(applied.version, applied.digest))
    assert check.head.version == 2 and check.counter.total == 0


def test_the_same_key_twice_counts_once() -> None:
    ring = Keyring()
    patch = make_patch()
    twice = [("refinement", "author"), ("alice", "approver"), ("alice", "approver")]
    with pytest.raises(ThresholdNotMetError, match="1 of 2 approver"):
        verifier(ring).verify(patch, approvals(ring, patch, twice), NOW)


Attack = Callable[[Keyring], tuple[PatchVerifier, Patch, list[PatchApproved]]]


def tampered_body(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    """Bob signed another body under the same patch id: his approval counts for nothing."""
    patch = make_patch()
    other = patch.model_copy(update={"rationale": "something else"})
    signed = approvals(ring, patch)[:2] + approvals(ring, other, [("bob", "approver")])
    return verifier(ring), patch, signed


def unknown_key(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    signers = [("refinement", "author"), ("alice", "approver"), ("mallory", "approver")]
    return verifier(ring), patch, approvals(ring, patch, signers)


def wrong_role(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    signers = [("refinement", "author"), ("alice", "approver"), ("refinement", "approver")]
    return verifier(ring), patch, approvals(ring, patch, signers)


def under_threshold(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    signers = [("refinement", "author"), ("alice", "approver")]
    return verifier(ring), patch, approvals(ring, patch, signers)


def no_author(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    return (
        verifier(ring),
        patch,
        approvals(ring, patch, [("alice", "approver"), ("bob", "approver")]),
    )


def older_version(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    check = verifier(ring)
    check.advance(OracleHead(5, BASE.digest))
    patch = make_patch().model_copy(update={"base_version": 5, "target_version": 3})
    return check, patch, approvals(ring, patch)


def equal_version(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    check = verifier(ring)
    check.advance(OracleHead(2, BASE.digest))
    patch = make_patch().model_copy(update={"base_version": 2, "target_version": 2})
    return check, patch, approvals(ring, patch)


def stale_base(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    check = verifier(ring)
    check.advance(OracleHead(2, patch.target_digest))  # the oracle moved on
    return check, patch, approvals(ring, patch)


def expired_root(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    return verifier(ring, expires=NOW - timedelta(seconds=1)), patch, approvals(ring, patch)


def expired_patch(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch(expires=NOW - timedelta(hours=1))
    return verifier(ring), patch, approvals(ring, patch)


def approval_of_another_patch(ring: Keyring) -> tuple[PatchVerifier, Patch, list[PatchApproved]]:
    patch = make_patch()
    signed = approvals(ring, patch)
    signed[1] = signed[1].model_copy(update={"patch_id": uuid.uuid4()})
    return verifier(ring), patch, signed


ATTACKS: list[tuple[Attack, type[PatchSecurityError], PatchRejectionReason]] = [
    (under_threshold, ThresholdNotMetError, PatchRejectionReason.THRESHOLD_NOT_MET),
    (no_author, ThresholdNotMetError, PatchRejectionReason.THRESHOLD_NOT_MET),
    (older_version, RollbackError, PatchRejectionReason.VERSION_NOT_INCREASING),
    (equal_version, ReplayError, PatchRejectionReason.VERSION_NOT_INCREASING),
    (stale_base, BaseMismatchError, PatchRejectionReason.BASE_MISMATCH),
    (expired_root, ExpiredRootError, PatchRejectionReason.EXPIRED),
    (expired_patch, ExpiredPatchError, PatchRejectionReason.EXPIRED),
]
IGNORED: list[tuple[Attack, Ignored]] = [
    (tampered_body, Ignored.BAD_SIGNATURE),
    (unknown_key, Ignored.UNKNOWN_KEY),
    (wrong_role, Ignored.WRONG_ROLE),
    (approval_of_another_patch, Ignored.OTHER_PATCH),
]


@pytest.mark.parametrize(
    ("attack", "error", "reason"), ATTACKS, ids=[a[0].__name__ for a in ATTACKS]
)
def test_each_attack_is_rejected_counted_recorded_and_changes_nothing(
    attack: Attack, error: type[PatchSecurityError], reason: PatchRejectionReason
) -> None:
    ring = Keyring()
    check, patch, signed = attack(ring)
    head, root, digest = check.head, check.root, BASE.digest
    with pytest.raises(error) as caught:
        check.verify(patch, signed, NOW)
    assert caught.value.reason is reason
    assert check.counter[reason] == 1 and check.counter.total == 1
    assert check.counter.snapshot() == {reason.value: 1}
    assert check.head == head and check.root is root and BASE.digest == digest
    event = rejection_event(patch.patch_id, caught.value, rejected_by="verifier")
    assert (event.reason, event.security, event.patch_id) == (reason, True, patch.patch_id)
    assert type(caught.value).__name__ in event.detail


@pytest.mark.parametrize(("attack", "why"), IGNORED, ids=[a[0].__name__ for a in IGNORED])
def test_an_approval_that_does_not_count_is_ignored_and_recorded_never_fatal(
    attack: Attack, why: Ignored
) -> None:
    ring = Keyring()
    check, patch, signed = attack(ring)
    with pytest.raises(ThresholdNotMetError):  # the bad approval was one of the two needed
        check.verify(patch, signed, NOW)
    assert check.ignored[why] >= 1 and check.ignored.total == check.ignored[why]
    assert check.counter.snapshot() == {"THRESHOLD_NOT_MET": 1}
    carol = approvals(ring, patch, [("carol", "approver")])
    verified = check.verify(patch, [*signed, *carol], NOW)  # one more valid approval is enough
    assert len(verified.signers["approver"]) == 2
    check.verify(patch, [*signed, *carol], NOW)
    assert check.ignored.total == check.ignored[why], "each ignored approval is counted once"


def test_checks_run_in_the_documented_order() -> None:
    ring = Keyring()
    patch = make_patch(expires=NOW - timedelta(hours=1))
    bad = [approve(patch, ring["mallory"], role="approver", producer="t")]
    check = verifier(ring, expires=NOW - timedelta(days=1))
    check.advance(OracleHead(2, patch.target_digest))
    with pytest.raises(BaseMismatchError):  # base first, before signatures and expiry
        check.verify(patch, bad, NOW)
    assert check.ignored.total == 0, "no signature is looked at before the base and version"
    check.advance(HEAD)
    with pytest.raises(ThresholdNotMetError):  # counting, then thresholds, before expiry
        check.verify(patch, bad, NOW)
    assert check.ignored.snapshot() == {"approval UNKNOWN_KEY": 1}
    with pytest.raises(ExpiredRootError):  # the root's expiry before the patch's
        check.verify(patch, [*bad, *approvals(ring, patch)], NOW)
    assert check.counter.snapshot() == {
        "BASE_MISMATCH": 1,
        "EXPIRED": 1,
        "THRESHOLD_NOT_MET": 1,
    }


def test_the_strict_check_still_names_the_first_bad_approval() -> None:
    """``check_signatures`` is for tools that judge approvals one by one (``patch approve``)."""
    ring = Keyring()
    patch = make_patch()
    mallory = approvals(ring, patch, [("mallory", "approver")])
    with pytest.raises(UnknownKeyError):
        verifier(ring).check_signatures(patch, [*approvals(ring, patch), *mallory])


def test_a_human_rejection_is_not_a_security_event() -> None:
    event = human_rejection(uuid.uuid4(), "too broad", rejected_by="alice")
    assert event.reason is PatchRejectionReason.HUMAN_REJECTED and event.security is False
    assert event.detail == "too broad"


def test_an_exported_envelope_verifies() -> None:
    ring = Keyring()
    patch = make_patch()
    text = export_envelope(patch, approvals(ring, patch)).dumps()
    assert verifier(ring).verify_envelope(text, NOW).patch == patch


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda text: text + " " * 2_000, OversizedEnvelopeError),
        (lambda text: text[:-1], MalformedError),
        (lambda text: text.replace('"payloadType"', '"payloadtype"'), MalformedError),
    ],
    ids=["oversized", "truncated", "renamed-field"],
)
def test_an_oversized_or_malformed_envelope_is_rejected_and_counted(
    mangle: Callable[[str], str], error: type[PatchSecurityError]
) -> None:
    ring = Keyring()
    check = verifier(ring)
    patch = make_patch()
    text = export_envelope(patch, approvals(ring, patch)).dumps()
    with pytest.raises(error) as caught:
        check.verify_envelope(mangle(text), NOW, max_bytes=len(text) + 100)
    assert caught.value.reason is PatchRejectionReason.MALFORMED
    assert check.counter.snapshot() == {"MALFORMED": 1} and check.head == HEAD
