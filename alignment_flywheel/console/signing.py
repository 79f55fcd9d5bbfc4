"""Patch approvals signed in the operator's browser: what to sign, and checking what came back.

Rules:

* The private key never reaches the server. The page asks for :func:`signing_request`: the exact
  bytes to sign, ``PAE(PAYLOAD_TYPE, patch_body(patch))`` in base64 (the same bytes
  ``flywheel patch approve`` signs), and the SHA-256 of the patch body so the page can show
  what it signs. The browser signs them with WebCrypto Ed25519 and posts the raw signature.
* :func:`browser_approval` accepts a signature only if it verifies, over those bytes recomputed
  from the patch on the topic, under a key the trust root gives the ``approver`` role (the
  verifier's signature and role checks, then its freshness check). The approval is a
  ``PatchApproved`` in role ``approver`` whose envelope producer is ``console:<operator>``.
* A signature that fails is :class:`ConsoleSignatureError` (a security failure); nothing is
  published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any

from alignment_flywheel.errors import UntrustedError
from alignment_flywheel.events import PatchApproved, new_envelope
from alignment_flywheel.patches.model import PAYLOAD_TYPE, Patch, patch_body
from alignment_flywheel.patches.signing import pae, public_from_hex, signature_valid
from alignment_flywheel.patches.trust import Role, TrustRoot
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier

SIGNATURE_BYTES = 64
SIGNING_ROLE: Role = "approver"


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
    )
    verifier = PatchVerifier(root, OracleHead(patch.base_version, patch.base_digest))
    verifier.check_signatures(patch, [approval])
    verifier.check_freshness(patch, now)
    return approval
