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
* One signature counts for a role (:func:`check_key`, in this order) when its key is in the root
  (UNKNOWN_KEY), it verifies over ``PAE(payload type, body)`` (BAD_SIGNATURE) and the key holds
  the role (WRONG_ROLE). A signed record counts (:func:`signed_by_role`) when the role's threshold
  of distinct keys signed it; what does not count is ignored, never fatal, and recorded once in
  an :class:`IgnoredCounter` (by kind and :class:`Ignored` reason, and logged).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AwareDatetime, Field, StringConstraints, ValidationError, model_validator

from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import PatchRejectionReason, TrustRootPublished, new_envelope
from alignment_flywheel.events.governance import KeySignature
from alignment_flywheel.oracle.artifact import Spec
from alignment_flywheel.patches.errors import (
    BadSignatureError,
    ExpiredRootError,
    MalformedError,
    PatchSecurityError,
    RootVersionError,
    RotationNotAuthorizedError,
    ThresholdNotMetError,
    UnknownKeyError,
    WrongRoleError,
)
from alignment_flywheel.patches.signing import (
    MAX_ENVELOPE_BYTES,
    DsseEnvelope,
    KeyId,
    key_id,
    parse_envelope,
    public_from_hex,
    seal,
    signature_valid,
)
from alignment_flywheel.roles import topic_for

TRUST_PAYLOAD_TYPE = "application/vnd.alignment-flywheel.trust-root+json"
TRUST_TOPIC = topic_for("TrustRootPublished")
TRUST_KEY = "root"
Role = Literal["root", "author", "approver", "releaser"]
ROLES: tuple[Role, ...] = ("root", "author", "approver", "releaser")

log = logging.getLogger(__name__)


class Ignored(StrEnum):
    """Why a signature, or a signed decision, does not count."""

    OTHER_PATCH = "OTHER_PATCH"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    WRONG_ROLE = "WRONG_ROLE"
    DUPLICATE = "DUPLICATE"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"


IGNORED_BY_REASON = {
    PatchRejectionReason.MALFORMED: Ignored.OTHER_PATCH,
    PatchRejectionReason.UNKNOWN_KEY: Ignored.UNKNOWN_KEY,
    PatchRejectionReason.BAD_SIGNATURE: Ignored.BAD_SIGNATURE,
    PatchRejectionReason.WRONG_ROLE: Ignored.WRONG_ROLE,
}


@dataclass
class IgnoredCounter:
    """Security events: signatures and signed records that did not count, by kind and reason.

    Each distinct one is counted and logged once, however often it is checked again."""

    counts: Counter[tuple[str, Ignored]] = field(default_factory=Counter)
    _seen: set[bytes] = field(default_factory=set, repr=False)

    def record(self, kind: str, reason: Ignored, detail: str, *identity: object) -> None:
        fingerprint = hashlib.sha256(repr((kind, reason.value, identity)).encode()).digest()
        if fingerprint in self._seen:
            return
        self._seen.add(fingerprint)
        self.counts[(kind, reason)] += 1
        level = logging.INFO if reason is Ignored.DUPLICATE else logging.WARNING
        log.log(level, "security: %s ignored (%s): %s", kind, reason.value, detail)

    def __getitem__(self, reason: Ignored) -> int:
        return sum(count for (_, why), count in self.counts.items() if why is reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        return {f"{kind} {why.value}": n for (kind, why), n in sorted(self.counts.items())}


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
    envelope: DsseEnvelope

    @property
    def version(self) -> int:
        return self.root.version

    def text(self) -> str:
        return self.envelope.dumps()


def sign_root(root: TrustRoot, signers: Iterable[Ed25519PrivateKey]) -> SignedRoot:
    """``root`` in an envelope signed by ``signers`` (no threshold check here)."""
    return SignedRoot(root, seal(TRUST_PAYLOAD_TYPE, root.body(), signers))


def count_signers(envelope: DsseEnvelope, by: TrustRoot, role: Role = "root") -> int:
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


def check_key(
    root: TrustRoot, keyid: str, signature: bytes, *, role: str, payload_type: str, body: bytes
) -> None:
    """One signature, in this order: known key, valid signature, key holding ``role``."""
    short = keyid[:12]
    entry = root.keys.get(keyid)
    if entry is None:
        raise UnknownKeyError(f"key {short} is not in trust root v{root.version}")
    if not signature_valid(public_from_hex(entry.public_key), signature, payload_type, body):
        raise BadSignatureError(f"the signature of key {short} ({entry.name}) does not verify")
    if role not in root.roles_of(keyid):
        raise WrongRoleError(
            f"key {short} ({entry.name}) signed as {role!r} but holds "
            f"{', '.join(root.roles_of(keyid)) or 'no role'}"
        )


def signed_by_role(
    root: TrustRoot,
    role: Role,
    signed: tuple[str, bytes],
    signatures: Sequence[KeySignature],
    *,
    kind: str,
    subject: str,
    ignored: IgnoredCounter,
    identity: object,
) -> bool:
    """Whether ``role``'s threshold of distinct keys validly signed ``signed`` (payload type,
    body); the signatures that do not count, and a record short of the threshold
    (NOT_AUTHORIZED), are recorded in ``ignored`` as ``kind``."""
    payload_type, body = signed
    valid: set[str] = set()
    for entry in signatures:
        try:
            check_key(
                root, entry.key_id, entry.signature, role=role, payload_type=payload_type, body=body
            )
        except PatchSecurityError as exc:
            why = IGNORED_BY_REASON[exc.reason]
            ignored.record(kind, why, f"{subject}: {exc}", identity, entry.key_id)
            continue
        if entry.key_id in valid:
            detail = f"{subject}: key {entry.key_id[:12]} signed twice"
            ignored.record(kind, Ignored.DUPLICATE, detail, identity, entry.key_id)
        valid.add(entry.key_id)
    need = root.roles[role].threshold
    if len(valid) >= need:
        return True
    detail = f"{subject}: {len(valid)} of {need} valid {role} signature(s), so no effect"
    ignored.record(kind, Ignored.NOT_AUTHORIZED, detail, identity)
    return False


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
