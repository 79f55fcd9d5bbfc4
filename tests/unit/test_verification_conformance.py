"""The verification cases in tests/conformance/verification/: which approvals count toward a
patch's thresholds, and which rejections take a released patch out of its chain."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.events import PatchApproved, PatchRejected
from alignment_flywheel.events.governance import KeySignature
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.approvals import approve, sign_rejection
from alignment_flywheel.patches.errors import PatchSecurityError
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.patches.trust import Ignored, Role, TrustRoot
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier, human_rejection
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary, RebuildError
from alignment_flywheel.release.trusted import chain_check
from tests.support.signing import BASE, DEFAULT_ROLES, NOW, Keyring, approvals, make_patch

CASES = Path(__file__).parents[1] / "conformance" / "verification"
OUTSIDE = "mallory"
"""A key no trust root of these cases lists."""


def _cases(name: str) -> list[Any]:
    cases = yaml.safe_load((CASES / name).read_text())
    return [pytest.param(case, id=case["name"]) for case in cases]


def _root(ring: Keyring, case: dict[str, Any]) -> TrustRoot:
    roles: dict[Role, list[str]] = {role: list(keys) for role, keys in DEFAULT_ROLES.items()}
    roles["releaser"] = case.get("releasers", roles["releaser"])
    thresholds = {"root": 2, "approver": 2, **case.get("thresholds", {})}
    return ring.root(roles=roles, thresholds=thresholds).root  # type: ignore[arg-type]


def _spec(text: str) -> tuple[str, str, str | None]:
    """``KEY as ROLE`` or ``KEY as ROLE: FAULT``."""
    signer, _, fault = text.partition(":")
    key, _, role = signer.partition(" as ")
    return key.strip(), role.strip(), fault.strip() or None


def _approval(ring: Keyring, patch: Patch, text: str) -> PatchApproved:
    key, role, fault = _spec(text)
    if fault == "another body":
        other = patch.model_copy(update={"rationale": "another body"})
        return approvals(ring, other, [(key, role)])[0]
    signed = approve(patch, ring[key], role=role, producer="conformance")
    if fault == "junk signature":
        return signed.model_copy(update={"signature": os.urandom(64)})
    if fault == "another patch":
        return signed.model_copy(update={"patch_id": uuid.uuid4()})
    assert fault is None, f"unknown fault {fault!r}"
    return signed


def _patch(case: dict[str, Any]) -> tuple[Patch, OracleHead]:
    options = case.get("patch", {})
    if options.get("expired"):
        patch = make_patch(expires=NOW.replace(year=NOW.year - 1))
    else:
        patch = make_patch()
    head = OracleHead(BASE.version, BASE.digest)
    if options.get("stale_base"):
        head = OracleHead(BASE.version, patch.target_digest)
    return patch, head


@pytest.mark.parametrize("case", _cases("approvals.yaml"))
def test_approvals(case: dict[str, Any]) -> None:
    ring = Keyring()
    root = _root(ring, case)
    patch, head = _patch(case)
    signed = [_approval(ring, patch, text) for text in case["approvals"]]
    verifier = PatchVerifier(root, head)
    try:
        verified = verifier.verify(patch, signed, NOW)
        outcome = "accepted"
        counted = dict(verified.signers)
    except PatchSecurityError as exc:
        outcome = exc.reason.value
        counted = PatchVerifier(root, head).count_approvals(patch, signed)
    assert outcome == case["outcome"]
    if "counted" in case:
        names = {key_id(ring[n].public_key()): n for n in ring.keys}
        found = {role: sorted(names[k] for k in keys) for role, keys in counted.items() if keys}
        assert found == {role: sorted(keys) for role, keys in case["counted"].items()}
    if outcome not in ("BASE_MISMATCH", "VERSION_NOT_INCREASING"):
        assert _ignored(verifier.ignored.counts) == case.get("ignored", {})


def _ignored(counts: Any) -> dict[str, int]:
    by_reason: dict[str, int] = {}
    for (_, why), count in counts.items():
        by_reason[Ignored(why).value] = by_reason.get(Ignored(why).value, 0) + count
    return by_reason


def _rejection(ring: Keyring, patch: Patch, signers: list[str]) -> PatchRejected:
    event = human_rejection(patch.patch_id, "withdrawn", rejected_by="conformance")
    for text in signers:
        key, _, fault = (part.strip() for part in text.partition(":"))
        if fault == "another body":
            other = human_rejection(patch.patch_id, "something else", rejected_by="conformance")
            entry = sign_rejection(other, [ring[key]]).signatures[0]
        else:
            entry = sign_rejection(event, [ring[key]]).signatures[-1]
            if fault == "junk signature":
                entry = KeySignature(key_id=entry.key_id, signature=os.urandom(64))
        event = event.model_copy(update={"signatures": (*event.signatures, entry)})
    return event


@pytest.mark.parametrize("case", _cases("rejections.yaml"))
def test_rejections(case: dict[str, Any]) -> None:
    ring = Keyring()
    root = _root(ring, case)
    patch = make_patch()
    rejection = _rejection(ring, patch, case["signed_by"])
    check = None if case.get("trust") == "none" else chain_check(root)
    library = PatchLibrary(check)
    for event in (patch.to_event("t"), *approvals(ring, patch), rejection):
        library.add(event)
    try:
        OracleBuilder(BASE, library, check).artifact_for(patch.target_digest)
        outcome = "released"
    except RebuildError:
        outcome = "withdrawn"
    assert outcome == case["outcome"]
    assert (patch.patch_id in library.rejected) is (outcome == "withdrawn")
    if check is not None:
        assert _ignored(check.ignored.counts) == case.get("ignored", {})


def test_there_are_cases_for_every_reason_an_approval_is_ignored() -> None:
    cases = [p.values[0] for p in _cases("approvals.yaml") + _cases("rejections.yaml")]
    reasons = {reason for case in cases for reason in case.get("ignored", {})}
    assert reasons == {reason.value for reason in Ignored}
    assert all(OUTSIDE not in keys for keys in DEFAULT_ROLES.values())
