"""Patch approvals: signing a patch, the ``PatchApproved`` event, and DSSE envelope files.

Rules:

* An approval is Ed25519 over ``PAE(PAYLOAD_TYPE, patch_body(patch))`` by one key, claiming one
  role; it travels as ``PatchApproved`` (key id, role, raw signature bytes), keyed by patch id.
* :func:`export_envelope` puts the patch body and every approval's signature into one envelope.
  :func:`import_envelope` reads it back (strictly, see :mod:`.signing`): the patch from the
  payload, and one ``PatchApproved`` per signature with the role the trust root gives that key;
  a key holding several patch roles (or none) gets a placeholder role, so its signature does not
  count (WRONG_ROLE, UNKNOWN_KEY). Importing verifies nothing: pass the result to
  :class:`~.verify.PatchVerifier`.
* A rejection is signed like an approval but over its own payload type,
  :data:`REJECTION_PAYLOAD_TYPE`, and its own body (:func:`rejection_body`: the RFC 8785 JSON of
  the patch id, reason, security flag, detail and rejecting identity), so an approval can never be
  replayed as a rejection nor the reverse. :func:`sign_rejection` adds signatures to a
  ``PatchRejected``; whether they count is :func:`~.verify.rejection_counts`'s decision.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from alignment_flywheel.events import PatchApproved, PatchProposed, PatchRejected, new_envelope
from alignment_flywheel.events.governance import KeySignature
from alignment_flywheel.events.ids import emitted_event_id
from alignment_flywheel.patches.errors import MalformedError
from alignment_flywheel.patches.model import PAYLOAD_TYPE, Patch, patch_body
from alignment_flywheel.patches.operations import PatchApplyError, parse_operations
from alignment_flywheel.patches.signing import (
    MAX_ENVELOPE_BYTES,
    DsseEnvelope,
    Signature,
    key_id,
    parse_envelope,
    sign,
)
from alignment_flywheel.patches.trust import TrustRoot

PATCH_ROLES = ("author", "approver", "releaser")
REJECTION_PAYLOAD_TYPE = "application/vnd.alignment-flywheel.patch-rejection+json"


def approve(
    patch: Patch,
    private: Ed25519PrivateKey,
    *,
    role: str,
    producer: str,
    automatic: bool = False,
    operator: str | None = None,
) -> PatchApproved:
    """``private``'s signature of ``patch`` in ``role``, as a ``PatchApproved`` event;
    ``operator`` names the person who signed off (None for an automated signer)."""
    signer = key_id(private.public_key())
    approval = emitted_event_id(f"{patch.patch_id}/{role}/{signer}", "approval")
    return PatchApproved(
        envelope=new_envelope(producer, str(patch.patch_id)).model_copy(
            update={"event_id": approval}
        ),
        patch_id=patch.patch_id,
        key_id=signer,
        role=role,
        signature=sign(private, PAYLOAD_TYPE, patch_body(patch)),
        automatic=automatic,
        operator=operator,
    )


def patch_from_event(event: PatchProposed) -> Patch:
    """The patch of a ``PatchProposed``; MalformedError if its operations do not parse."""
    try:
        return Patch.from_event(event)
    except (PatchApplyError, ValidationError) as exc:
        raise MalformedError(f"patch {event.patch_id}: {exc}") from None


def export_envelope(patch: Patch, approvals: Iterable[PatchApproved]) -> DsseEnvelope:
    """One envelope with the patch body and the signature of every approval of it."""
    entries: dict[str, Signature] = {}
    for approval in approvals:
        if approval.patch_id == patch.patch_id:
            entries.setdefault(
                approval.key_id,
                Signature(keyid=approval.key_id, sig=base64.b64encode(approval.signature).decode()),
            )
    if not entries:
        raise MalformedError(f"patch {patch.patch_id} has no approval to export")
    return DsseEnvelope(
        payloadType=PAYLOAD_TYPE,
        payload=base64.b64encode(patch_body(patch)).decode(),
        signatures=list(entries.values()),
    )


def import_envelope(
    data: bytes | str,
    root: TrustRoot,
    *,
    producer: str,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> tuple[Patch, list[PatchApproved]]:
    """The patch and its approvals from an envelope file (nothing verified yet)."""
    envelope = parse_envelope(data, max_bytes=max_bytes)
    if envelope.payloadType != PAYLOAD_TYPE:
        raise MalformedError(f"payload type {envelope.payloadType!r} is not a patch")
    patch = _patch_of(envelope.body)
    approvals = [
        PatchApproved(
            envelope=new_envelope(producer, str(patch.patch_id)),
            patch_id=patch.patch_id,
            key_id=entry.keyid,
            role=_role_of(root, entry.keyid),
            signature=entry.signature,
        )
        for entry in envelope.signatures
    ]
    return patch, approvals


def _patch_of(body: bytes) -> Patch:
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the payload is not a JSON object")
        document["operations"] = parse_operations(document.get("operations"))
        patch = Patch.model_validate(document)
    except (ValueError, ValidationError, PatchApplyError) as exc:
        raise MalformedError(f"envelope payload is not a patch: {exc}") from None
    if patch_body(patch) != body:
        raise MalformedError("envelope payload is not the canonical body of its patch")
    return patch


def _role_of(root: TrustRoot, keyid: str) -> str:
    roles = [role for role in root.roles_of(keyid) if role in PATCH_ROLES]
    # placeholders: the verifier ignores an unknown key (UNKNOWN_KEY) or one whose role is
    # ambiguous (WRONG_ROLE), and counts the other signatures
    if len(roles) > 1:
        return "ambiguous"
    return roles[0] if roles else "unknown"


def rejection_body(event: PatchRejected) -> bytes:
    """The signed bytes of a rejection: RFC 8785 JSON of what it decides, not of its envelope."""
    return rfc8785.dumps(
        {
            "patch_id": str(event.patch_id),
            "reason": event.reason.value,
            "security": event.security,
            "detail": event.detail,
            "rejected_by": event.rejected_by,
        }
    )


def key_signatures(
    keys: Iterable[Ed25519PrivateKey], payload_type: str, body: bytes
) -> tuple[KeySignature, ...]:
    """One signature of ``body`` (under ``payload_type``) by each key, named by its key id."""
    return tuple(
        KeySignature(
            key_id=key_id(private.public_key()), signature=sign(private, payload_type, body)
        )
        for private in keys
    )


def sign_rejection(event: PatchRejected, keys: Iterable[Ed25519PrivateKey]) -> PatchRejected:
    """``event`` with a signature of each key added (kept signatures first)."""
    added = key_signatures(keys, REJECTION_PAYLOAD_TYPE, rejection_body(event))
    return event.model_copy(update={"signatures": (*event.signatures, *added)})
