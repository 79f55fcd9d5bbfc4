"""Named Ed25519 keys on disk: ``<keys_dir>/NAME.key`` (private) and ``NAME.pub`` (public).

Rules:

* The private key is PKCS#8 PEM, encrypted with the passphrase when one is given, written with
  mode 0600 in a directory of mode 0700, and never overwritten.
* The public key is SubjectPublicKeyInfo PEM. A directory may hold only the ``.pub`` of someone
  else's key: enough to name it in a trust root, not to sign.
* Any problem reading a key (missing, not Ed25519, wrong or missing passphrase) is a
  :class:`KeyFileError` naming the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from alignment_flywheel.patches.errors import KeyFileError
from alignment_flywheel.patches.signing import key_id, public_hex

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


@dataclass(frozen=True)
class KeyInfo:
    """What ``keys list`` shows about a key."""

    name: str
    key_id: str
    public_key: str
    has_private: bool


def check_name(name: str) -> str:
    if not KEY_NAME.match(name):
        raise KeyFileError(f"{name!r} is not a key name (letters, digits, _ . @ -; 64 at most)")
    return name


def save_private(path: Path, private: Ed25519PrivateKey, passphrase: bytes | None = None) -> None:
    """Write ``private`` as PEM with mode 0600; KeyFileError if the file exists."""
    encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    _write_new(path, pem, 0o600)


def save_public(path: Path, public: Ed25519PublicKey) -> None:
    _write_new(path, public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), 0o644)


def load_private(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The private key in ``path``; KeyFileError on any problem."""
    data = _read(path)
    try:
        key = load_pem_private_key(data, password=passphrase or None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: cannot load the private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path)
    try:
        key = load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: cannot load the public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def is_encrypted(path: Path) -> bool:
    return b"ENCRYPTED" in _read(path)


class KeyStore:
    """The named keys in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def private_path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{PRIVATE_SUFFIX}"

    def public_path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{PUBLIC_SUFFIX}"

    def new(self, name: str, passphrase: bytes | None = None) -> Ed25519PrivateKey:
        """Generate and save a new key; KeyFileError if the name is taken."""
        private_path, public_path = self.private_path(name), self.public_path(name)
        if private_path.exists() or public_path.exists():
            raise KeyFileError(f"a key named {name!r} already exists in {self.directory}")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        save_private(private_path, private, passphrase)
        save_public(public_path, private.public_key())
        return private

    def private(self, name: str, passphrase: bytes | None = None) -> Ed25519PrivateKey:
        return load_private(self.private_path(name), passphrase)

    def needs_passphrase(self, name: str) -> bool:
        return is_encrypted(self.private_path(name))

    def public(self, name: str) -> Ed25519PublicKey:
        return load_public(self.public_path(name))

    def list(self) -> list[KeyInfo]:
        """Every key with a public file, by name."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"*{PUBLIC_SUFFIX}")):
            public = load_public(path)
            name = path.name.removesuffix(PUBLIC_SUFFIX)
            has_private = (self.directory / f"{name}{PRIVATE_SUFFIX}").is_file()
            found.append(KeyInfo(name, key_id(public), public_hex(public), has_private))
        return found


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; keys are never overwritten") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
