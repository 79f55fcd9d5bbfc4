"""API tokens of the HTTP ingest endpoint: who may propose and who may report incidents.

Rules:

* Tokens live in one JSON file (``settings.effective_http_tokens_path``, by default
  ``<state_dir>/http/tokens.json``, mode 0600): ``{"version": 1, "tokens": {NAME: {"sha256",
  "proposer", "reporter", "created"}}}``. NAME is the caller's identity; ``proposer`` (a proposer
  id, or null) lets the token submit proposals as that proposer and only as it; ``reporter``
  lets it report incidents, which then carry NAME as their reporter. A token has at least one
  kind.
* A token is ``fwt_`` and 43 characters of ``secrets.token_urlsafe(32)`` (256 random bits). It is
  shown once, when it is made; the file keeps only its SHA-256 (a salted slow hash buys nothing
  for a random secret of that size, and every request checks one). A request's token is found by
  the SHA-256 of what it presents.
* One token per name: :meth:`TokenStore.issue` refuses an existing name unless ``rotate`` (the old
  token stops working); :meth:`TokenStore.revoke` removes the name.
* A running server sees changes to the file without a restart: before each lookup it compares the
  file's inode, size and modification time with what it read last (one ``stat``). A file that has
  gone or cannot be read any more fails closed: no token is accepted, and the error is logged.
  :meth:`TokenStore.load` (called when the server starts) raises :class:`ConfigError` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alignment_flywheel.errors import ConfigError, InvalidInputError

log = logging.getLogger(__name__)

PREFIX = "fwt_"
SECRET_BYTES = 32
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_Stamp = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a token belongs to and what it may do."""

    name: str
    proposer: str | None
    reporter: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _caller(name: str, entry: Any) -> tuple[str, Caller]:
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise TypeError(f"token {name!r} has no sha256")
    proposer = entry.get("proposer")
    if proposer is not None and not isinstance(proposer, str):
        raise TypeError(f"token {name!r}: proposer is not a string")
    return entry["sha256"], Caller(name, proposer, entry.get("reporter") is True)


class TokenStore:
    """The tokens file: issue, revoke, list, and find the caller of a token. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._callers: dict[str, Caller] = {}

    # --- reading ---------------------------------------------------------------------------------

    def _entries(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            document = json.loads(self.path.read_text())
            entries = document["tokens"]
            if not isinstance(entries, dict):
                raise TypeError("tokens is not an object")
            for name, entry in entries.items():
                _caller(name, entry)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not a tokens file ({exc})") from None
        return {str(name): entry for name, entry in entries.items()}

    def load(self) -> int:
        """Read the file now; the number of tokens. ConfigError if it is missing or unreadable."""
        if not self.path.is_file():
            raise ConfigError(f"no API tokens at {self.path}")
        with self._lock:
            self._read()
        return len(self._callers)

    def _read(self) -> None:
        stamp = self._current_stamp()
        entries = self._entries()
        self._callers = dict(_caller(name, entry) for name, entry in entries.items())
        self._stamp = stamp

    def _current_stamp(self) -> _Stamp | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return (status.st_ino, status.st_size, status.st_mtime_ns)

    def caller(self, token: str) -> Caller | None:
        """Whose ``token`` is; None for an unknown, revoked or malformed one."""
        if not token.startswith(PREFIX):
            return None
        with self._lock:
            if self._current_stamp() != self._stamp or self._stamp is None:
                self._refresh()
            return self._callers.get(_digest(token))

    def _refresh(self) -> None:
        try:
            self._read()
        except ConfigError as exc:
            log.error("API tokens refused until the file is fixed: %s", exc)
            self._callers, self._stamp = {}, None

    def listing(self) -> list[tuple[Caller, str]]:
        """Every token's caller and when it was made (never the secret)."""
        entries = self._entries()
        return [
            (_caller(name, entry)[1], str(entry.get("created", "?")))
            for name, entry in sorted(entries.items())
        ]

    # --- writing ---------------------------------------------------------------------------------

    def issue(
        self,
        name: str,
        *,
        proposer: str | None = None,
        reporter: bool = False,
        rotate: bool = False,
    ) -> str:
        """A new token for ``name``; the secret is returned once and never stored."""
        if not NAME.match(name):
            raise InvalidInputError(f"{name!r} is not a token name (letters, digits, _ . @ -)")
        if proposer is None and not reporter:
            raise InvalidInputError("a token needs a kind: --proposer ID or --reporter")
        if proposer is not None and not proposer.strip():
            raise InvalidInputError("the proposer id must not be empty")
        entries = self._entries()
        if name in entries and not rotate:
            raise InvalidInputError(f"a token named {name!r} exists; --rotate replaces it")
        token = PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        entries[name] = {
            "sha256": _digest(token),
            "proposer": proposer,
            "reporter": reporter,
            "created": created,
        }
        self._write(entries)
        return token

    def revoke(self, name: str) -> bool:
        """Remove ``name``'s token; False if there was none."""
        entries = self._entries()
        if entries.pop(name, None) is None:
            return False
        self._write(entries)
        return True

    def _write(self, entries: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps({"version": 1, "tokens": entries}, indent=2) + "\n")
        temporary.replace(self.path)
