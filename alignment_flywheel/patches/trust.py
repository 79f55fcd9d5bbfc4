"""The trust root: which keys exist, which roles they hold, how many must sign, until when.

The document (signed as the payload of a DSSE envelope of type :data:`TRUST_PAYLOAD_TYPE`)::

    {"version": 1, "expires": "2027-01-01T00:00:00Z",
     "keys": {"<keyid>": {"public_key": "<64 hex>", "name": "alice"}},
     "roles": {"root": {"keyids": [...], "threshold": 1}, "author": {...},
               "approver": {...}, "releaser": {...}}}

Rules (the TUF root rules, python-tuf's ``TrustedMetadataSet`` order):

* Every role is present, names at least one key, and has a threshold m with 1 <= m <= n; every
  key id is the SHA-256 of its public key; roles name only listed keys.
* A root is *self-signed* when at least its own root threshold of distinct root keys signed it
  validly. Bootstrap (:func:`bootstrap`) trusts a self-signed, unexpired root read from a file.
* Rotation (:func:`rotate`), in this order: the new envelope parses and is a trust root
  (:class:`MalformedError`); it is signed by the *trusted* root's root threshold
  (:class:`RotationNotAuthorizedError`); it is signed by its *own* root threshold
  (:class:`ThresholdNotMetError`); its version is exactly the trusted version + 1
  (:class:`RootVersionError`); it has not expired (:class:`ExpiredRootError`). Only then does it
  replace the trusted root.
* On the trust topic the root is a ``TrustRootPublished`` keyed ``"root"``; the envelope is its
  ``signed_root`` text and is verified exactly like a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AwareDatetime, Field, StringConstraints, ValidationError, model_validator

from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import TrustRootPublished, new_envelope
from alignment_flywheel.oracle.artifact import Spec
from alignment_flywheel.patches.errors import (
    ExpiredRootError,
    MalformedError,
    RootVersionError,
    RotationNotAuthorizedError,
    ThresholdNotMetError,
)
from alignment_flywheel.patches.signing import (
    MAX_ENVELOPE_BYTES,
    Envelope,
    KeyId,
    key_id,
    parse_envelope,
    public_from_hex,
    seal,
    signature_valid,
)

TRUST_PAYLOAD_TYPE = "application/vnd.alignment-flywheel.trust-root+json"
TRUST_TOPIC = "flywheel.trust"
TRUST_KEY = "root"
Role = Literal["root", "author", "approver", "releaser"]
ROLES: tuple[Role, ...] = ("root", "author", "approver", "releaser")


class KeyEntry(Spec):
    public_key: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RoleSpec(Spec):
    keyids: Annotated[tuple[KeyId, ...], Field(min_length=1)]
    threshold: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _m_of_n(self) -> RoleSpec:
        if len(set(self.keyids)) != len(self.keyids):
            raise ValueError("keyids repeat a key")
        if self.threshold > len(self.keyids):
            raise ValueError(f"threshold {self.threshold} exceeds {len(self.keyids)} key(s)")
        return self


class TrustRoot(Spec):
    version: Annotated[int, Field(ge=1, le=2**63 - 1)]
    expires: AwareDatetime
    keys: dict[KeyId, KeyEntry]
    roles: dict[Role, RoleSpec]

    @model_validator(mode="after")
    def _consistent(self) -> TrustRoot:
        missing = [role for role in ROLES if role not in self.roles]
        if missing:
            raise ValueError(f"missing role(s): {', '.join(missing)}")
        for keyid, entry in self.keys.items():
            if key_id(public_from_hex(entry.public_key)) != keyid:
                raise ValueError(f"key {entry.name}: id {keyid[:12]} is not its SHA-256")
        for role, spec in self.roles.items():
            unknown = [k[:12] for k in spec.keyids if k not in self.keys]
            if unknown:
                raise ValueError(f"role {role} names unknown key(s) {', '.join(unknown)}")
        return self

    def roles_of(self, keyid: str) -> tuple[Role, ...]:
        return tuple(role for role in ROLES if keyid in self.roles[role].keyids)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def body(self) -> bytes:
        """The signed bytes: RFC 8785 canonical JSON of the document."""
        return rfc8785.dumps(self.model_dump(mode="json"))


@dataclass(frozen=True)
class SignedRoot:
    """A trust root and the envelope that carries it (its signatures)."""

    root: TrustRoot
    envelope: Envelope

    @property
    def version(self) -> int:
        return self.root.version

    def text(self) -> str:
        return self.envelope.dumps()


def sign_root(root: TrustRoot, signers: Iterable[Ed25519PrivateKey]) -> SignedRoot:
    """``root`` in an envelope signed by ``signers`` (no threshold check here)."""
    return SignedRoot(root, seal(TRUST_PAYLOAD_TYPE, root.body(), signers))


def count_signers(envelope: Envelope, by: TrustRoot, role: Role = "root") -> int:
    """Distinct keys of ``by``'s ``role`` with a valid signature on the envelope."""
    wanted = set(by.roles[role].keyids)
    body, valid = envelope.body, set()
    for entry in envelope.signatures:
        if entry.keyid not in wanted or entry.keyid in valid:
            continue
        public = public_from_hex(by.keys[entry.keyid].public_key)
        if signature_valid(public, entry.signature, envelope.payloadType, body):
            valid.add(entry.keyid)
    return len(valid)


def read_root(text: bytes | str, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> SignedRoot:
    """Parse an envelope and its trust root; MalformedError (no signature is checked)."""
    envelope = parse_envelope(text, max_bytes=max_bytes)
    if envelope.payloadType != TRUST_PAYLOAD_TYPE:
        raise MalformedError(f"payload type {envelope.payloadType!r} is not a trust root")
    try:
        root = TrustRoot.model_validate(json.loads(envelope.body))
    except (ValueError, ValidationError, MalformedError) as exc:
        raise MalformedError(f"invalid trust root: {exc}") from None
    return SignedRoot(root, envelope)


def check_self_signed(signed: SignedRoot) -> None:
    """ThresholdNotMetError unless the root's own root threshold signed it."""
    _require(signed, signed.root, ThresholdNotMetError, "its own")


def bootstrap(text: bytes | str, now: datetime) -> SignedRoot:
    """The first trusted root: parsed, self-signed, not expired."""
    signed = read_root(text)
    check_self_signed(signed)
    if signed.root.expired(now):
        raise ExpiredRootError(f"trust root v{signed.version} expired at {signed.root.expires}")
    return signed


def rotate(
    trusted: SignedRoot, text: bytes | str, now: datetime, *, check_expiry: bool = True
) -> SignedRoot:
    """The next root if it passes every rotation rule (module docstring), in order."""
    new = read_root(text)
    _require(new, trusted.root, RotationNotAuthorizedError, f"the trusted v{trusted.version}")
    check_self_signed(new)
    if new.version != trusted.version + 1:
        raise RootVersionError(
            f"trust root v{new.version} does not follow the trusted v{trusted.version}"
        )
    if check_expiry and new.root.expired(now):
        raise ExpiredRootError(f"trust root v{new.version} expired at {new.root.expires}")
    return new


def _require(
    signed: SignedRoot, by: TrustRoot, error: type[ThresholdNotMetError], whose: str
) -> None:
    have, need = count_signers(signed.envelope, by), by.roles["root"].threshold
    if have < need:
        raise error(
            f"trust root v{signed.version}: {have} of {need} signature(s) of {whose} root role"
        )


def build_root(
    *,
    version: int,
    expires: datetime,
    keys: Mapping[str, str],
    roles: Mapping[Role, Sequence[str]],
    thresholds: Mapping[Role, int],
) -> TrustRoot:
    """A root from key names to public hex and role -> key names; InvalidInputError if invalid."""
    ids = {name: key_id(public_from_hex(public)) for name, public in keys.items()}
    try:
        return TrustRoot(
            version=version,
            expires=expires,
            keys={ids[n]: KeyEntry(public_key=p, name=n) for n, p in keys.items()},
            roles={
                role: RoleSpec(
                    keyids=tuple(ids[n] for n in roles.get(role, ())),
                    threshold=thresholds.get(role, 1),
                )
                for role in ROLES
            },
        )
    except ValidationError as exc:
        raise InvalidInputError(f"invalid trust root: {exc}") from None


def save_root(path: Path, signed: SignedRoot) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(signed.text() + "\n")
    temporary.replace(path)


def load_root_file(path: Path, now: datetime) -> SignedRoot:
    """Bootstrap from a file; InvalidInputError if it cannot be read."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"trust root {path}: {exc.strerror or exc}") from None
    return bootstrap(text, now)


def trust_event(signed: SignedRoot, producer: str) -> TrustRootPublished:
    return TrustRootPublished(
        envelope=new_envelope(producer, TRUST_KEY),
        version=signed.version,
        expires=signed.root.expires,
        signed_root=signed.text(),
    )


def follow(trusted: SignedRoot, events: Iterable[TrustRootPublished], now: datetime) -> SignedRoot:
    """The trusted root after the published ones, in version order (older ones skipped).

    As in TUF, an intermediate root may have expired; the final one must not have.
    """
    for event in sorted(events, key=lambda e: e.version):
        if event.version > trusted.version:
            trusted = rotate(trusted, event.signed_root, now, check_expiry=False)
    if trusted.root.expired(now):
        raise ExpiredRootError(f"trust root v{trusted.version} expired at {trusted.root.expires}")
    return trusted
