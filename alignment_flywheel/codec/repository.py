"""The schema repository: the current contract and every released version of each event.

Layout of a schemas directory (see ``schemas/README.md``)::

    <fullname>.avsc                 the current source of one named type, e.g.
                                    alignment_flywheel.Envelope.avsc (fastavro FlatDictRepository:
                                    references by full name are loaded from the same directory)
    history/<Event>/v<N>.avsc       released version N of an event, frozen and expanded
                                    (standalone: every named type defined at its first use)

An *event* is a top-level record whose first field is ``envelope`` of type
``alignment_flywheel.Envelope``; every other file holds a shared type. Versions are numbered from 1
without gaps. Each version is identified on the wire by the CRC-64-AVRO (Rabin) fingerprint of its
Parsing Canonical Form, as 8 little-endian bytes (Avro specification, "Schema Fingerprints").

Nothing is read at import time; :class:`SchemaRepository` reads the directory in its constructor and
raises :class:`~alignment_flywheel.errors.SchemaError`, naming the file, on anything invalid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint, load_schema, parse_schema, to_parsing_canonical_form

from alignment_flywheel.errors import SchemaError
from alignment_flywheel.resources import SCHEMAS_DIR

NAMESPACE = "alignment_flywheel"
ENVELOPE = f"{NAMESPACE}.Envelope"
HISTORY_DIR = "history"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")
_KEY_ORDER = (
    "name",
    "type",
    "logicalType",
    "doc",
    "symbols",
    "items",
    "values",
    "default",
    "fields",
)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one event schema."""

    event: str
    """Short name of the event, e.g. ``"ProposalSubmitted"``."""
    version: int | None
    """The released version number; ``None`` for a current source that is not frozen yet."""
    schema: dict[str, Any]
    """The expanded schema, as parsed JSON."""
    canonical_form: str
    """The Parsing Canonical Form of the schema."""
    fingerprint: bytes
    """CRC-64-AVRO of the canonical form: 8 bytes, little-endian, as framed on the wire."""

    @property
    def fullname(self) -> str:
        return str(self.schema["name"])

    @property
    def label(self) -> str:
        """``"ProposalSubmitted v2"``, or ``"ProposalSubmitted (current)"`` when not frozen."""
        suffix = f"v{self.version}" if self.version is not None else "(current)"
        return f"{self.event} {suffix}"


def make_version(event: str, version: int | None, schema: dict[str, Any]) -> SchemaVersion:
    """Compute the canonical form and fingerprint of an expanded schema."""
    canonical = to_parsing_canonical_form(schema)
    digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return SchemaVersion(event, version, schema, canonical, digest)


def short_name(fullname: str) -> str:
    return fullname.rpartition(".")[2]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SchemaError(f"{path}: cannot read JSON: {exc}") from exc


def _declared_fullname(raw: Any, path: Path) -> str:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SchemaError(f"{path}: not a named Avro type (a JSON object with a 'name')")
    name = str(raw["name"])
    namespace = raw.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _is_event(raw: dict[str, Any]) -> bool:
    fields = raw.get("fields")
    if raw.get("type") != "record" or not isinstance(fields, list) or not fields:
        return False
    first = fields[0]
    envelope_types = (ENVELOPE, short_name(ENVELOPE))
    return (
        isinstance(first, dict)
        and first.get("name") == "envelope"
        and (first.get("type") in envelope_types)
    )


def _expand(path: Path) -> dict[str, Any]:
    try:
        schema = load_schema(str(path), _write_hint=False)
    except Exception as exc:
        raise SchemaError(f"{path}: invalid schema: {type(exc).__name__}: {exc}") from exc
    if not isinstance(schema, dict):
        raise SchemaError(f"{path}: not a named Avro type")
    return schema


def load_sources(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, dict[str, Any]]:
    """Every event's current schema, expanded, by short name. Every ``*.avsc`` file is validated.

    Each file is read and its name checked first, so a broken shared type is reported as itself,
    not as a failure of the events that refer to it.
    """
    paths = sorted(schemas_dir.glob("*.avsc"))
    if not paths:
        raise SchemaError(f"{schemas_dir}: no *.avsc schema files")
    raws = {path: _read_json(path) for path in paths}
    for path, raw in raws.items():
        fullname = _declared_fullname(raw, path)
        if path.name != f"{fullname}.avsc":
            raise SchemaError(f"{path}: defines {fullname}, so the file must be {fullname}.avsc")
    events: dict[str, dict[str, Any]] = {}
    for path, raw in raws.items():
        expanded = _expand(path)
        if _is_event(raw):
            events[short_name(str(expanded["name"]))] = expanded
    return events


def load_history(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, list[dict[str, Any]]]:
    """Every event's released versions, oldest first (index 0 is v1), by short name."""
    root = schemas_dir / HISTORY_DIR
    history: dict[str, list[dict[str, Any]]] = {}
    if not root.is_dir():
        return history
    for event_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        history[event_dir.name] = _load_event_history(event_dir)
    return history


def _load_event_history(event_dir: Path) -> list[dict[str, Any]]:
    numbered: dict[int, Path] = {}
    for path in event_dir.iterdir():
        match = _VERSION_FILE.fullmatch(path.name)
        if match is None:
            raise SchemaError(f"{path}: snapshot files must be named v<N>.avsc")
        numbered[int(match.group(1))] = path
    found = sorted(numbered)
    if found != list(range(1, len(numbered) + 1)):
        raise SchemaError(f"{event_dir}: versions must run from v1 without gaps, found {found}")
    return [_load_snapshot(event_dir.name, numbered[n]) for n in sorted(numbered)]


def _load_snapshot(event: str, path: Path) -> dict[str, Any]:
    try:
        schema = parse_schema(_read_json(path), _write_hint=False)
    except SchemaError:
        raise
    except Exception as exc:
        raise SchemaError(f"{path}: invalid snapshot: {type(exc).__name__}: {exc}") from exc
    if not isinstance(schema, dict) or short_name(str(schema.get("name"))) != event:
        raise SchemaError(f"{path}: a snapshot of {event} must define the record {event}")
    return schema


def snapshot_text(schema: dict[str, Any]) -> str:
    """The text of a snapshot file: indented JSON, keys in a readable order."""
    return json.dumps(_ordered(schema), indent=2, ensure_ascii=False) + "\n"


def _ordered(node: Any) -> Any:
    if isinstance(node, list):
        return [_ordered(item) for item in node]
    if not isinstance(node, dict):
        return node
    rank = {key: i for i, key in enumerate(_KEY_ORDER)}
    keys = sorted(node, key=lambda k: (rank.get(k, len(rank)), k))
    return {key: _ordered(node[key]) for key in keys}


class SchemaRepository:
    """The current schema and the released versions of every event, read from a directory."""

    def __init__(self, schemas_dir: Path = SCHEMAS_DIR) -> None:
        self.schemas_dir = Path(schemas_dir)
        sources = load_sources(self.schemas_dir)
        history = load_history(self.schemas_dir)
        self._history: dict[str, tuple[SchemaVersion, ...]] = {
            event: tuple(
                make_version(event, i + 1, s) for i, s in enumerate(history.get(event, []))
            )
            for event in sources
        }
        self._current = {event: self._current_version(event, s) for event, s in sources.items()}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for version in self.all_versions():
            self._by_fingerprint.setdefault(version.fingerprint, version)

    def _current_version(self, event: str, schema: dict[str, Any]) -> SchemaVersion:
        kept = self._history[event]
        if kept and kept[-1].schema == schema:
            return kept[-1]
        return make_version(event, None, schema)

    @property
    def events(self) -> tuple[str, ...]:
        """Short names of every event, sorted."""
        return tuple(sorted(self._current))

    def event_name(self, name: str) -> str:
        """The short name for a short or full event name. Raises SchemaError if unknown."""
        event = short_name(name)
        if event not in self._current or name not in (event, f"{NAMESPACE}.{event}"):
            raise SchemaError(f"unknown event type {name!r}")
        return event

    def current(self, event: str) -> SchemaVersion:
        """The current schema of an event (short or full name)."""
        return self._current[self.event_name(event)]

    def history(self, event: str) -> tuple[SchemaVersion, ...]:
        """The released versions of an event, oldest first."""
        return self._history[self.event_name(event)]

    def all_versions(self) -> tuple[SchemaVersion, ...]:
        """Every released version and every current schema; the current one first per event."""
        found: list[SchemaVersion] = []
        for event in self.events:
            found.append(self._current[event])
            found.extend(v for v in self._history[event] if v is not self._current[event])
        return tuple(found)

    def by_fingerprint(self, fingerprint_bytes: bytes) -> SchemaVersion | None:
        """The version whose canonical form has this fingerprint, if any."""
        return self._by_fingerprint.get(fingerprint_bytes)
