"""Patch approvals and stable rollbacks signed in the operator's browser: what to sign, and
checking what came back.

Rules:

* The private key never reaches the server. The page asks for :func:`signing_request`: the exact
  bytes to sign, ``PAE(PAYLOAD_TYPE, patch_body(patch))`` in base64 (the same bytes
  ``flywheel patch approve`` signs), and the SHA-256 of the patch body so the page can show
  what it signs. The browser signs them with WebCrypto Ed25519 and posts the raw signature.
* :func:`browser_approval` accepts a signature only if it verifies, over those bytes recomputed
  from the patch on the topic, under a key the trust root gives the ``approver`` role (the
  verifier's signature and role checks, then its freshness check). The approval is a
  ``PatchApproved`` in role ``approver`` whose envelope producer is ``console:<operator>``.
* A rollback is signed the same way over ``PAE(ROLLBACK_PAYLOAD_TYPE, rollback_body(event))``
  (:func:`rollback_signing_request`, the bytes ``flywheel release rollback --key`` signs). Its
  body excludes the envelope, so the server rebuilds the same bytes from (release state,
  reason, stable) when the signatures come back.
* :func:`signed_rollback` attaches the posted ``{key_id, signature}`` pairs as ``KeySignature`` s
  only if each verifies, over the rebuilt body, under that key holding the ``releaser`` role in
  the trust root; a key may sign once. With a trust root, a rollback of the stable version needs
  the releaser threshold of such signatures (:func:`rollback_signatures_needed`), since followers
  that verify ignore it otherwise; a candidate rollback needs none. Without a trust root (a
  development set-up) rollbacks stay unsigned and a posted signature is refused, as nothing can
  check it.
* A signature that fails is :class:`ConsoleSignatureError` (a security failure); too few
  signatures is :class:`~alignment_flywheel.errors.InvalidInputError`. Either way nothing is
  published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alignment_flywheel.errors import InvalidInputError, UntrustedError
from alignment_flywheel.events import PatchApproved, ReleaseRolledBack, ReleaseStage, new_envelope
from alignment_flywheel.events.governance import KeySignature
from alignment_flywheel.patches.errors import PatchSecurityError
from alignment_flywheel.patches.model import PAYLOAD_TYPE, Patch, patch_body
from alignment_flywheel.patches.signing import pae, public_from_hex, signature_valid
from alignment_flywheel.patches.trust import Role, TrustRoot, check_key
from alignment_flywheel.patches.verify import REJECTER_ROLE, OracleHead, PatchVerifier
from alignment_flywheel.release.trusted import ROLLBACK_PAYLOAD_TYPE, rollback_body

SIGNATURE_BYTES = 64
SIGNING_ROLE: Role = "approver"
ROLLBACK_ROLE: Role = REJECTER_ROLE


class ConsoleSignatureError(UntrustedError):
    """The signature posted by the page does not verify under an approver key."""


def signing_request(patch: Patch) -> dict[str, Any]:
    """What the page signs: the DSSE pre-authentication encoding of the patch body."""
    body = patch_body(patch)
    return {
        "patch_id": str(patch.patch_id),
        "payload_type": PAYLOAD_TYPE,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "pae": base64.b64encode(pae(PAYLOAD_TYPE, body)).decode(),
    }


def decode_signature(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ConsoleSignatureError("the signature is not base64") from None
    if len(raw) != SIGNATURE_BYTES:
        raise ConsoleSignatureError(f"an Ed25519 signature has {SIGNATURE_BYTES} bytes")
    return raw


def signer_of(root: TrustRoot, patch: Patch, signature: bytes) -> str:
    """The key id of the approver key whose signature of ``patch`` this is."""
    body = patch_body(patch)
    for keyid in root.roles[SIGNING_ROLE].keyids:
        public = public_from_hex(root.keys[keyid].public_key)
        if signature_valid(public, signature, PAYLOAD_TYPE, body):
            return keyid
    raise ConsoleSignatureError(
        f"the signature does not verify under any approver key of trust root v{root.version}"
    )


def browser_approval(
    root: TrustRoot, patch: Patch, signature_b64: str, *, operator: str, now: datetime
) -> PatchApproved:
    """The ``PatchApproved`` for a browser signature, checked like the patch verifier does."""
    signature = decode_signature(signature_b64)
    keyid = signer_of(root, patch, signature)
    approval = PatchApproved(
        envelope=new_envelope(f"console:{operator}", str(patch.patch_id)),
        patch_id=patch.patch_id,
        key_id=keyid,
        role=SIGNING_ROLE,
        signature=signature,
        automatic=False,
        operator=operator,
    )
    verifier = PatchVerifier(root, OracleHead(patch.base_version, patch.base_digest))
    verifier.check_signatures(patch, [approval])
    verifier.check_freshness(patch, now)
    return approval


@dataclass(frozen=True)
class BrowserSignature:
    """One signature the page posted: the key id it claims and the base64 signature."""

    key_id: str
    signature: str


def rollback_signatures_needed(root: TrustRoot | None, event: ReleaseRolledBack) -> int:
    """How many releaser signatures ``event`` needs: the releaser threshold for a rollback of the
    stable version under a trust root, none otherwise."""
    if root is None or event.from_stage is not ReleaseStage.STABLE:
        return 0
    return root.roles[ROLLBACK_ROLE].threshold


def rollback_signing_request(event: ReleaseRolledBack, needed: int) -> dict[str, Any]:
    """What the page signs for ``event``, and a summary of it to show the operator."""
    body = rollback_body(event)
    return {
        "release_id": str(event.release_id),
        "version": event.version,
        "from_stage": event.from_stage.value,
        "restored_version": event.restored_version,
        "payload_type": ROLLBACK_PAYLOAD_TYPE,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "pae": base64.b64encode(pae(ROLLBACK_PAYLOAD_TYPE, body)).decode(),
        "signatures_needed": needed,
    }


def rollback_signature(
    root: TrustRoot, event: ReleaseRolledBack, posted: BrowserSignature
) -> KeySignature:
    """``posted`` as a ``KeySignature`` of ``event``, if it verifies under a releaser key."""
    signature = decode_signature(posted.signature)
    try:
        check_key(
            root,
            posted.key_id,
            signature,
            role=ROLLBACK_ROLE,
            payload_type=ROLLBACK_PAYLOAD_TYPE,
            body=rollback_body(event),
        )
    except PatchSecurityError as exc:
        raise ConsoleSignatureError(f"rollback signature refused: {exc}") from None
    return KeySignature(key_id=posted.key_id, signature=signature)


def signed_rollback(
    root: TrustRoot | None, event: ReleaseRolledBack, posted: Sequence[BrowserSignature]
) -> ReleaseRolledBack:
    """``event`` carrying the posted signatures, each checked; refused when a stable rollback
    has fewer than the releaser threshold (see the module rules)."""
    if root is None:
        if posted:
            raise InvalidInputError(
                "there is no trust root to check a rollback signature against (flywheel trust init)"
            )
        return event
    checked = [rollback_signature(root, event, entry) for entry in posted]
    keys = {entry.key_id for entry in checked}
    if len(keys) != len(checked):
        raise InvalidInputError("a key signed the rollback more than once")
    needed = rollback_signatures_needed(root, event)
    if len(keys) < needed:
        raise InvalidInputError(
            f"a rollback of the stable version needs {needed} releaser signature(s) (it has "
            f"{len(keys)}): sign it with a releaser's key, or followers that verify ignore it"
        )
    return event.model_copy(update={"signatures": tuple(checked)})
