"""Operators of the review console: who may log in, and the session that proves it.

Rules:

* Operators live in one JSON file (default ``<state_dir>/console/operators.json``, mode 0600):
  ``{"version": 1, "operators": {NAME: {"salt", "hash", "n", "r", "p", "keys"}}}``; ``keys``
  (optional) lists the key ids the operator may sign patches with (empty: any approver key).
  Passwords are hashed with scrypt (:data:`SCRYPT_N`, r=8, p=1, 16-byte salt, 32-byte hash) and
  compared in constant time; an unknown name costs the same hash as a known one.
* A session is a cookie ``<payload>.<hmac>``: base64url JSON ``{"op", "exp", "csrf"}`` signed with
  HMAC-SHA256 under a secret kept in ``<state_dir>/console/session.key`` (32 random bytes, mode
  0600, drawn the first time the console starts), so sessions survive a server restart; deleting
  the file ends every session at the next start. It is HttpOnly, SameSite=Strict, scoped to
  ``/console`` and expires after :data:`SESSION_TTL_S`; a cookie whose signature, format or
  expiry is wrong is no session.
* Every state-changing request carries the session's CSRF token (header ``X-CSRF-Token`` or form
  field ``csrf``), compared in constant time, on top of SameSite=Strict.
* Failed logins are throttled per operator name: after :data:`MAX_FAILURES` failures within
  :data:`FAILURE_WINDOW_S`, that name is refused until the oldest failure leaves the window
  (:class:`NameLocked`). The limits per client address and across names, and the executor the
  hashing runs on, are in :mod:`.login`.
* Failures are :class:`ConsoleAuthError` (a security failure, never a transport one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import InvalidInputError, UntrustedError

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
HASH_BYTES = 32
SALT_BYTES = 16
MIN_PASSWORD = 8
SESSION_TTL_S = 8 * 3600
SESSION_KEY_BYTES = 32
COOKIE = "flywheel_console"
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
MAX_TRACKED = 100_000
OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
KEY_ID = re.compile(r"^[0-9a-f]{64}$")


class ConsoleAuthError(UntrustedError):
    """Wrong password, no or bad session, or a missing or wrong CSRF token."""


def operators_path(settings: Settings) -> Path:
    return settings.state_dir / "console" / "operators.json"


def session_key_path(settings: Settings) -> Path:
    return settings.state_dir / "console" / "session.key"


def session_secret(path: Path) -> bytes:
    """The secret that signs session cookies, kept in ``path`` (made, mode 0600, when missing)."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    except OSError as exc:
        raise InvalidInputError(f"cannot read the console session key {path}: {exc}") from exc
    if len(secret) >= SESSION_KEY_BYTES:
        return secret
    secret = secrets.token_bytes(SESSION_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(secret)
    except OSError as exc:
        raise InvalidInputError(f"cannot write the console session key {path}: {exc}") from exc
    return secret


@dataclass(frozen=True)
class PasswordHash:
    salt: bytes
    digest: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def make(cls, password: str, salt: bytes | None = None) -> PasswordHash:
        salt = salt if salt is not None else os.urandom(SALT_BYTES)
        return cls(salt, _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))

    def matches(self, password: str) -> bool:
        return hmac.compare_digest(
            _scrypt(password, self.salt, self.n, self.r, self.p), self.digest
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "salt": base64.b64encode(self.salt).decode(),
            "hash": base64.b64encode(self.digest).decode(),
            "n": self.n,
            "r": self.r,
            "p": self.p,
        }

    @classmethod
    def from_json(cls, data: Any) -> PasswordHash:
        try:
            return cls(
                base64.b64decode(data["salt"], validate=True),
                base64.b64decode(data["hash"], validate=True),
                int(data["n"]),
                int(data["r"]),
                int(data["p"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise InvalidInputError(f"malformed operator entry: {exc}") from None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=HASH_BYTES
    )


_DUMMY = PasswordHash.make("no such operator", salt=b"\0" * SALT_BYTES)


class Operators:
    """The operators file: read it, add or replace an operator, check a password."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _entries(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            document = json.loads(self.path.read_text())
            entries = document["operators"]
            if not isinstance(entries, dict):
                raise TypeError("operators is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{self.path}: not an operators file ({exc})") from None
        return {str(name): entry for name, entry in entries.items()}

    def load(self) -> dict[str, PasswordHash]:
        return {name: PasswordHash.from_json(entry) for name, entry in self._entries().items()}

    def keys_of(self, name: str) -> tuple[str, ...]:
        """The key ids ``name`` may sign with; empty: any approver key."""
        entry = self._entries().get(name)
        keys = entry.get("keys", []) if isinstance(entry, dict) else []
        if not isinstance(keys, list) or not all(
            isinstance(k, str) and KEY_ID.match(k) for k in keys
        ):
            raise InvalidInputError(f"{self.path}: operator {name}: keys is not a list of key ids")
        return tuple(keys)

    def add(self, name: str, password: str, keys: Sequence[str] | None = None) -> None:
        """Add ``name`` (or replace its password, and its keys when ``keys`` is given);
        InvalidInputError on a bad name, password or key id."""
        if not OPERATOR_NAME.match(name):
            raise InvalidInputError(f"{name!r} is not an operator name (letters, digits, _ . @ -)")
        if len(password) < MIN_PASSWORD:
            raise InvalidInputError(f"the password needs at least {MIN_PASSWORD} characters")
        bad = [k for k in keys or () if not KEY_ID.match(k)]
        if bad:
            raise InvalidInputError(f"{bad[0]!r} is not a key id (64 hex digits)")
        entries = self._entries()
        kept = self.keys_of(name) if keys is None and name in entries else tuple(keys or ())
        entries[name] = {**PasswordHash.make(password).to_json(), "keys": list(kept)}
        document = {"version": 1, "operators": entries}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(document, indent=2) + "\n")
        temporary.replace(self.path)

    def check(self, name: str, password: str) -> str:
        """``name`` if the password is right; ConsoleAuthError otherwise (same cost either way)."""
        entry = self.load().get(name)
        ok = (entry or _DUMMY).matches(password)
        if entry is None or not ok:
            raise ConsoleAuthError("unknown operator or wrong password")
        return name


class NameLocked(ConsoleAuthError):
    """Too many recent failed logins for this operator name."""


class FailureWindow:
    """Failures per key within a sliding window; forgets keys whose last failure left it (oldest
    first), and the oldest beyond :data:`MAX_TRACKED` keys. Not thread-safe on its own."""

    def __init__(self, limit: int, window_s: float = FAILURE_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, key: str, now: float) -> float:
        """0 when ``key`` may try; else the seconds until its oldest failure leaves the window."""
        recent = self._failures.get(key)
        if recent is None:
            return 0.0
        while recent and now - recent[0] >= self.window_s:
            recent.popleft()
        if len(recent) < self.limit:
            return 0.0
        return recent[0] + self.window_s - now

    def failed(self, key: str, now: float) -> None:
        self._failures.setdefault(key, deque()).append(now)
        self._failures.move_to_end(key)
        while self._failures:
            oldest_key, oldest = next(iter(self._failures.items()))
            if now - oldest[-1] < self.window_s and len(self._failures) <= MAX_TRACKED:
                break
            del self._failures[oldest_key]

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class LoginThrottle:
    """Counts failed logins per name; refuses a name with too many recent failures."""

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self._window = FailureWindow(limit, window_s)
        self._lock = threading.Lock()

    def check(self, name: str, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        with self._lock:
            if self._window.wait_s(name, moment) > 0:
                raise NameLocked("too many failed logins for this operator; try later")

    def failed(self, name: str, now: float | None = None) -> None:
        with self._lock:
            self._window.failed(name, time.monotonic() if now is None else now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._window.forget(name)

    def __len__(self) -> int:
        with self._lock:
            return len(self._window)


@dataclass(frozen=True)
class Session:
    operator: str
    expires: int
    csrf: str


class Sessions:
    """Signs and checks session cookies with a secret of its own."""

    def __init__(self, secret: bytes | None = None, ttl_s: int = SESSION_TTL_S) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.ttl_s = ttl_s

    def issue(self, operator: str, now: float | None = None) -> tuple[Session, str]:
        moment = time.time() if now is None else now
        session = Session(operator, int(moment) + self.ttl_s, secrets.token_urlsafe(24))
        payload = json.dumps({"op": operator, "exp": session.expires, "csrf": session.csrf})
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return session, f"{encoded}.{self._mac(encoded)}"

    def read(self, cookie: str | None, now: float | None = None) -> Session:
        """The session of a cookie; ConsoleAuthError when it is missing, forged or expired."""
        if not cookie or cookie.count(".") != 1:
            raise ConsoleAuthError("not logged in")
        encoded, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(encoded)):
            raise ConsoleAuthError("the session cookie is not valid")
        try:
            data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            session = Session(str(data["op"]), int(data["exp"]), str(data["csrf"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ConsoleAuthError("the session cookie is not valid") from None
        if (time.time() if now is None else now) >= session.expires:
            raise ConsoleAuthError("the session has expired; log in again")
        return session

    def _mac(self, encoded: str) -> str:
        return hmac.new(self._secret, encoded.encode(), hashlib.sha256).hexdigest()


def check_csrf(session: Session, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, session.csrf):
        raise ConsoleAuthError("missing or wrong CSRF token")
