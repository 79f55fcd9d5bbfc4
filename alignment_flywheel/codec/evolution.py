"""Schema evolution: checking the contract and freezing released versions.

The rules, for every event:

* every schema file is valid Avro, inside the subset the codec compiles;
* the current expanded schema equals the newest snapshot in ``history/<Event>/`` (a change must be
  frozen with ``flywheel schemas freeze`` before it is released);
* every kept version is both backward compatible (a reader of the newer version reads data of every
  older one) and forward compatible (a reader of an older version reads data of every newer one)
  with every earlier kept version. Compatibility is decided by the Avro reference implementation,
  :class:`avro.compatibility.ReaderWriterCompatibilityChecker`.

Freezing writes ``v<N+1>.avsc`` for each event whose current schema differs from its newest
snapshot, and only when every such change is compatible; otherwise nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from alignment_flywheel.codec.compiler import compile_schema
from alignment_flywheel.codec.repository import (
    HISTORY_DIR,
    SchemaVersion,
    load_history,
    load_sources,
    make_version,
    snapshot_text,
)
from alignment_flywheel.errors import SchemaCompatibilityError, SchemaError
from alignment_flywheel.resources import SCHEMAS_DIR


@dataclass(frozen=True)
class SchemaProblem:
    """One reason the contract is not in order."""

    subject: str
    """The event (or file) concerned."""
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def compatibility_problems(reader: dict[str, Any], writer: dict[str, Any]) -> list[str]:
    """Why a reader with schema ``reader`` cannot read data written with ``writer``.

    Empty when it can.
    """
    try:
        parsed_reader = avro.schema.parse(json.dumps(reader))
        parsed_writer = avro.schema.parse(json.dumps(writer))
    except Exception as exc:
        raise SchemaError(f"the avro library rejects the schema: {exc}") from exc
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(parsed_reader, parsed_writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted({kind.value for kind in result.incompatibilities}))
    where = ", ".join(sorted(result.locations))
    return [f"{kinds} at {where}: {'; '.join(sorted(result.messages))}"]


def mutual_problems(newer: SchemaVersion, older: SchemaVersion) -> list[str]:
    """Backward and forward incompatibilities between two versions of one event."""
    problems = []
    for direction, reader, writer in (("backward", newer, older), ("forward", older, newer)):
        for problem in compatibility_problems(reader.schema, writer.schema):
            problems.append(
                f"{newer.label} is not {direction} compatible with {older.label} "
                f"({reader.label} cannot read {writer.label}): {problem}"
            )
    return problems


def _history_versions(event: str, snapshots: list[dict[str, Any]]) -> list[SchemaVersion]:
    return [make_version(event, i + 1, schema) for i, schema in enumerate(snapshots)]


def _compile_problems(version: SchemaVersion) -> list[str]:
    try:
        compile_schema(version.schema)
    except SchemaError as exc:
        return [f"{version.label} is outside the supported Avro subset: {exc}"]
    return []


def _event_problems(current: SchemaVersion, kept: list[SchemaVersion]) -> list[str]:
    problems = _compile_problems(current)
    for index, newer in enumerate(kept):
        for older in kept[:index]:
            problems.extend(mutual_problems(newer, older))
    if not kept:
        return [*problems, "not frozen: no released version (run `flywheel schemas freeze`)"]
    if kept[-1].schema != current.schema:
        problems.append(
            f"not frozen: the current schema differs from v{len(kept)} "
            "(run `flywheel schemas freeze` to release it)"
        )
        problems.extend(p for older in kept for p in mutual_problems(current, older))
    return problems


def check_schemas(schemas_dir: Path = SCHEMAS_DIR) -> list[SchemaProblem]:
    """Every problem with the contract in ``schemas_dir``; an empty list means it is in order."""
    try:
        sources = load_sources(schemas_dir)
        history = load_history(schemas_dir)
    except SchemaError as exc:
        return [SchemaProblem("schemas", str(exc))]
    problems = [
        SchemaProblem(event, "has released versions but no current schema (never remove events)")
        for event in sorted(set(history) - set(sources))
    ]
    for event in sorted(sources):
        current = make_version(event, None, sources[event])
        kept = _history_versions(event, history.get(event, []))
        try:
            found = _event_problems(current, kept)
        except SchemaError as exc:
            found = [str(exc)]
        problems.extend(SchemaProblem(event, message) for message in found)
    return problems


def freeze_schemas(schemas_dir: Path = SCHEMAS_DIR) -> list[Path]:
    """Write a new snapshot for each changed event; returns the files written (none if unchanged).

    Raises SchemaCompatibilityError, writing nothing, if any change is incompatible with a kept
    version, and SchemaError if a schema is invalid.
    """
    sources = load_sources(schemas_dir)
    history = load_history(schemas_dir)
    pending: list[tuple[Path, dict[str, Any]]] = []
    refusals: list[str] = []
    for event in sorted(sources):
        kept = _history_versions(event, history.get(event, []))
        if kept and kept[-1].schema == sources[event]:
            continue
        current = make_version(event, len(kept) + 1, sources[event])
        invalid = _compile_problems(current)
        if invalid:
            raise SchemaError(f"{event}: {invalid[0]}")
        refusals.extend(f"{event}: {p}" for older in kept for p in mutual_problems(current, older))
        target = schemas_dir / HISTORY_DIR / event / f"v{len(kept) + 1}.avsc"
        pending.append((target, sources[event]))
    if refusals:
        raise SchemaCompatibilityError("nothing frozen: " + " | ".join(refusals))
    for path, schema in pending:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(snapshot_text(schema), encoding="utf-8")
    return [path for path, _schema in pending]
