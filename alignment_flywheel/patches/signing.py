"""Ed25519 signatures in DSSE envelopes: key ids, PAE, strict envelope parsing.

Rules:

* A key id is the hex SHA-256 of the raw 32-byte Ed25519 public key.
* What is signed is never the payload alone but its DSSE pre-authentication encoding,
  ``PAE(type, body) = b"DSSEv1 " + len(type) + b" " + type + b" " + len(body) + b" " + body``
  (lengths in ASCII decimal, of the UTF-8 type and of the body bytes), so a signature made for one
  payload type can never be replayed as another.
* A :class:`DsseEnvelope` is ``{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig"
  (base64)}]}``. :func:`parse_envelope` checks the size first (:class:`OversizedEnvelopeError`),
  then the JSON (no duplicate keys, no NaN), the exact set of fields and their types, strict
  base64 and the key id format (:class:`MalformedError`); nothing is verified cryptographically
  before all of that passes.
* A patch approval is Ed25519 over ``PAE(PAYLOAD_TYPE, patch_body(patch))``: the same bytes
  whether it travels as a ``PatchApproved`` event or inside an exported envelope.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from typing import Annotated, Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from alignment_flywheel.patches.errors import (
    MalformedError,
    OversizedEnvelopeError,
)

KEY_ID = r"^[0-9a-f]{64}$"
KeyId = Annotated[str, StringConstraints(pattern=KEY_ID)]
MAX_ENVELOPE_BYTES = 1_000_000
MAX_SIGNATURES = 64
PUBLIC_KEY_BYTES = 32


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(public)).hexdigest()


def public_hex(public: Ed25519PublicKey) -> str:
    return raw_public(public).hex()


def public_from_hex(text: str) -> Ed25519PublicKey:
    """The public key from 64 hex digits; MalformedError otherwise."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise MalformedError(f"public key {text[:16]!r}... is not hex") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise MalformedError(f"public key has {len(raw)} bytes, not {PUBLIC_KEY_BYTES}")
    return Ed25519PublicKey.from_public_bytes(raw)


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding of ``body`` under ``payload_type``."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


def sign(private: Ed25519PrivateKey, payload_type: str, body: bytes) -> bytes:
    """An Ed25519 signature over ``PAE(payload_type, body)``."""
    return private.sign(pae(payload_type, body))


def signature_valid(
    public: Ed25519PublicKey, signature: bytes, payload_type: str, body: bytes
) -> bool:
    """Whether ``signature`` is ``public``'s signature over ``PAE(payload_type, body)``."""
    try:
        public.verify(signature, pae(payload_type, body))
    except InvalidSignature:
        return False
    return True


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Signature(_Strict):
    keyid: KeyId
    sig: str

    @property
    def signature(self) -> bytes:
        return _b64decode(self.sig, "sig")


class DsseEnvelope(_Strict):
    """A DSSE envelope. Build with :func:`seal`; read with :func:`parse_envelope`."""

    payloadType: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    payload: str
    signatures: Annotated[list[Signature], Field(min_length=1, max_length=MAX_SIGNATURES)]

    @property
    def body(self) -> bytes:
        return _b64decode(self.payload, "payload")

    def dumps(self) -> str:
        """The envelope as canonical JSON text."""
        return rfc8785.dumps(self.model_dump(mode="json")).decode()


def signature_entry(private: Ed25519PrivateKey, payload_type: str, body: bytes) -> Signature:
    raw = sign(private, payload_type, body)
    return Signature(keyid=key_id(private.public_key()), sig=base64.b64encode(raw).decode())


def seal(payload_type: str, body: bytes, signers: Iterable[Ed25519PrivateKey]) -> DsseEnvelope:
    """An envelope of ``body`` signed by every key in ``signers`` (at least one)."""
    entries: dict[str, Signature] = {}
    for private in signers:
        entry = signature_entry(private, payload_type, body)
        entries.setdefault(entry.keyid, entry)
    return DsseEnvelope(
        payloadType=payload_type,
        payload=base64.b64encode(body).decode(),
        signatures=list(entries.values()),
    )


def parse_envelope(data: bytes | str, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> DsseEnvelope:
    """A strictly checked envelope; OversizedEnvelopeError or MalformedError before any crypto."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise OversizedEnvelopeError(f"envelope of {len(raw)} bytes exceeds {max_bytes}")
    document = _strict_json(raw)
    try:
        envelope = DsseEnvelope.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'envelope'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MalformedError(f"malformed envelope: {problems}") from None
    _ = envelope.body
    for entry in envelope.signatures:
        _ = entry.signature
    return envelope


def _strict_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedError(f"envelope is not strict JSON: {exc}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate key {name!r}")
        result[name] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _b64decode(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise MalformedError(f"envelope {field} is not strict base64") from None
