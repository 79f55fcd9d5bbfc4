"""The Avro contract: conventions of the source files, and the rules of schema evolution.

Evolution tests work on a temporary copy of ``schemas/``: they change a source file the way a
developer would, then run the same check and freeze as ``flywheel schemas``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from fastavro import parse_schema
from rich.console import Console
from typer.testing import CliRunner

from alignment_flywheel.cli import schemas as schemas_cli
from alignment_flywheel.cli.context import CliContext
from alignment_flywheel.codec import (
    SchemaRepository,
    check_schemas,
    compatibility_problems,
    freeze_schemas,
)
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import SchemaCompatibilityError, SchemaError
from alignment_flywheel.resources import SCHEMAS_DIR
from tests.support.schemas import copy_schemas, edit_schema

EVENTS = {
    "ProposalSubmitted",
    "VerdictIssued",
    "ReviewRequested",
    "ReviewDecided",
    "IncidentReported",
    "FindingRaised",
    "VerificationRecorded",
    "DriftDetected",
    "ClusterUpdated",
    "PatchProposed",
    "PatchApproved",
    "PatchRejected",
    "ReleaseStaged",
    "ReleasePromoted",
    "ReleaseRolledBack",
    "TrustRootPublished",
    "LedgerCheckpoint",
    "DeadLettered",
    "SessionStarted",
    "ToolResultObserved",
}
STRING_IDS = {
    "proposer_id",
    "session_id",
    "trace_id",
    "correlation_id",
    "key_id",
    "log_id",
    "rule_id",
}
TIMES = {"occurred_at", "deadline", "first_seen", "last_seen", "expires"}
UUID = {"type": "string", "logicalType": "uuid"}
TIMESTAMP = {"type": "long", "logicalType": "timestamp-micros"}


def _sources() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS_DIR.glob("*.avsc"))}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a schema, outermost first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _fields() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, raw in _sources().items():
        for node in _walk(raw):
            if "fields" in node:
                for field in node["fields"]:
                    yield f"{name}:{field['name']}", field


# --- the packaged contract ------------------------------------------------------------------------


def test_the_packaged_contract_is_valid_frozen_and_compatible() -> None:
    assert check_schemas() == []


RELEASED = {
    "PatchProposed": [1, 2],
    "IncidentReported": [1, 2],
    "PatchRejected": [1, 2],
    "ReleaseRolledBack": [1, 2, 3],
    "DeadLettered": [1, 2],
    "PatchApproved": [1, 2],
}
"""Events with more than their first version, and the versions kept."""


def test_the_events_and_their_versions() -> None:
    repository = SchemaRepository()
    assert set(repository.events) == EVENTS
    for event in EVENTS:
        kept = RELEASED.get(event, [1])
        assert repository.current(event).version == kept[-1]
        assert [v.version for v in repository.history(event)] == kept


def test_each_named_type_is_defined_once_in_its_own_file() -> None:
    for name, raw in _sources().items():
        assert name == f"{raw['namespace']}.{raw['name']}.avsc"
        assert raw["namespace"] == "alignment_flywheel"
        nested = [n for n in list(_walk(raw))[1:] if n.get("type") in ("record", "enum", "fixed")]
        assert nested == [], f"{name} defines a named type inline instead of referring to it"


def test_everything_is_documented() -> None:
    for name, raw in _sources().items():
        assert raw.get("doc", "").strip(), name
    for where, field in _fields():
        assert field.get("doc", "").strip(), where


def test_every_enum_has_a_default_symbol() -> None:
    enums = [raw for raw in _sources().values() if raw["type"] == "enum"]
    assert len(enums) >= 10
    for enum in enums:
        assert enum["default"] in enum["symbols"], enum["name"]


def test_optional_values_default_to_null() -> None:
    for where, field in _fields():
        if isinstance(field["type"], list):
            assert field["type"][0] == "null", where
            assert "default" in field and field["default"] is None, where


def test_ids_are_uuids_and_times_are_timestamp_micros() -> None:
    for where, field in _fields():
        name = field["name"]
        kind = field["type"]
        kind = kind[1] if isinstance(kind, list) else kind
        if name.endswith("_id") and name not in STRING_IDS:
            assert kind == UUID, where
        if name.endswith("_ids") and name not in ("norm_ids",):
            assert kind == {"type": "array", "items": UUID}, where
        if name in TIMES:
            assert kind == TIMESTAMP, where


def test_snapshots_stand_alone_for_fastavro_and_avro() -> None:
    snapshots = sorted((SCHEMAS_DIR / "history").glob("*/v*.avsc"))
    assert len(snapshots) == len(EVENTS) + sum(len(kept) - 1 for kept in RELEASED.values())
    for path in snapshots:
        schema = json.loads(path.read_text())
        parse_schema(schema)
        assert (
            avro.schema.parse(path.read_text()).fullname == f"alignment_flywheel.{path.parent.name}"
        )


# --- evolution, on a copy -------------------------------------------------------------------------


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    return copy_schemas(tmp_path)


def _field(name: str, kind: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "doc": "added by a test", **extra}


def _problems(schemas: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in check_schemas(schemas):
        found.setdefault(problem.subject, []).append(problem.message)
    return found


def test_adding_a_field_without_default_fails_check_and_freeze(schemas: Path) -> None:
    edit_schema(
        schemas, "ProposalSubmitted", lambda s: s["fields"].append(_field("note", "string"))
    )
    problems = _problems(schemas)
    assert list(problems) == ["ProposalSubmitted"]
    text = " ".join(problems["ProposalSubmitted"])
    assert "not frozen" in text
    assert "not backward compatible with ProposalSubmitted v1" in text
    assert "reader_field_missing_default_value" in text and "note" in text
    with pytest.raises(SchemaCompatibilityError, match=r"ProposalSubmitted.*note"):
        freeze_schemas(schemas)
    assert not (schemas / "history" / "ProposalSubmitted" / "v2.avsc").exists()


def test_changing_a_shared_type_fails_for_every_event_using_it(schemas: Path) -> None:
    def to_long(raw: dict[str, Any]) -> None:
        raw["fields"][2]["type"] = "long"

    edit_schema(schemas, "Envelope", to_long)
    problems = _problems(schemas)
    assert set(problems) == EVENTS
    assert "type_mismatch" in " ".join(problems["DeadLettered"])
    with pytest.raises(SchemaCompatibilityError, match="type_mismatch"):
        freeze_schemas(schemas)


def test_removing_an_enum_symbol_without_default_fails(schemas: Path) -> None:
    def drop_escalate(raw: dict[str, Any]) -> None:
        raw["symbols"].remove("ESCALATE")
        del raw["default"]

    edit_schema(schemas, "Decision", drop_escalate)
    problems = _problems(schemas)
    assert set(problems) == {"VerdictIssued", "FindingRaised"}
    assert "missing_enum_symbols" in " ".join(problems["VerdictIssued"])
    assert "ESCALATE" in " ".join(problems["VerdictIssued"])


def test_a_compatible_change_must_be_frozen_then_passes(schemas: Path) -> None:
    edit_schema(
        schemas,
        "Proposal",
        lambda s: s["fields"].append(_field("budget", ["null", "double"], default=None)),
    )
    problems = _problems(schemas)
    assert set(problems) == {"ProposalSubmitted", "FindingRaised", "IncidentReported"}
    assert all(len(p) == 1 and p[0].startswith("not frozen") for p in problems.values())
    written = freeze_schemas(schemas)
    assert sorted(p.relative_to(schemas).as_posix() for p in written) == [
        "history/FindingRaised/v2.avsc",
        "history/IncidentReported/v3.avsc",
        "history/ProposalSubmitted/v2.avsc",
    ]
    assert check_schemas(schemas) == []
    assert freeze_schemas(schemas) == []
    repository = SchemaRepository(schemas)
    assert repository.current("ProposalSubmitted").version == 2
    assert len({v.fingerprint for v in repository.history("ProposalSubmitted")}) == 2


def test_a_doc_change_is_a_new_version_with_the_same_fingerprint(schemas: Path) -> None:
    edit_schema(schemas, "LedgerCheckpoint", lambda s: s.update(doc="A signed tree head."))
    assert [p.message[:10] for p in check_schemas(schemas)] == ["not frozen"]
    assert len(freeze_schemas(schemas)) == 1
    versions = SchemaRepository(schemas).history("LedgerCheckpoint")
    assert versions[0].fingerprint == versions[1].fingerprint


def test_an_incompatible_pair_of_snapshots_fails(schemas: Path) -> None:
    edit_schema(schemas, "PatchApproved", lambda s: s["fields"].append(_field("comment", "string")))
    v2 = SchemaRepository(schemas).current("PatchApproved").schema
    (schemas / "history" / "PatchApproved" / "v2.avsc").write_text(json.dumps(v2))
    problems = _problems(schemas)
    assert list(problems) == ["PatchApproved"]
    assert problems["PatchApproved"] == [
        "PatchApproved v2 is not backward compatible with PatchApproved v1 "
        "(PatchApproved v2 cannot read PatchApproved v1): "
        "reader_field_missing_default_value at /fields/7: comment"
    ]


def test_forward_compatibility_is_required_too() -> None:
    old = {"type": "record", "name": "a.R", "fields": [{"name": "x", "type": "long"}]}
    new = {"type": "record", "name": "a.R", "fields": []}
    assert compatibility_problems(new, old) == []
    assert compatibility_problems(old, new) == [
        "reader_field_missing_default_value at /fields/0: x"
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("alignment_flywheel.Severity.avsc", "{not json", "cannot read JSON"),
        ("alignment_flywheel.Severity.avsc", '["null"]', "not a named Avro type"),
        ("alignment_flywheel.Other.avsc", None, "must be alignment_flywheel.Severity.avsc"),
    ],
)
def test_an_invalid_source_file_fails_check(
    schemas: Path, name: str, content: str | None, message: str
) -> None:
    source = schemas / "alignment_flywheel.Severity.avsc"
    if content is None:
        source.rename(schemas / name)
    else:
        (schemas / name).write_text(content)
    problems = check_schemas(schemas)
    assert len(problems) == 1
    assert name in problems[0].message and message in problems[0].message


def test_an_unresolvable_reference_fails_check(schemas: Path) -> None:
    edit_schema(
        schemas, "Evidence", lambda s: s["fields"].append(_field("x", "alignment_flywheel.Nope"))
    )
    [problem] = check_schemas(schemas)
    assert "alignment_flywheel.Evidence.avsc" in problem.message and "Nope" in problem.message


def test_a_type_outside_the_compiled_subset_fails_check(schemas: Path) -> None:
    union = ["null", "string", "long"]
    edit_schema(
        schemas, "DeadLettered", lambda s: s["fields"].append(_field("u", union, default=None))
    )
    problems = _problems(schemas)
    assert "outside the supported Avro subset" in " ".join(problems["DeadLettered"])
    with pytest.raises(SchemaError, match="unsupported union"):
        freeze_schemas(schemas)


def test_history_must_be_numbered_without_gaps(schemas: Path) -> None:
    history = schemas / "history" / "DriftDetected"
    (history / "v1.avsc").rename(history / "v2.avsc")
    [problem] = check_schemas(schemas)
    assert "without gaps" in problem.message and "DriftDetected" in problem.message
    with pytest.raises(SchemaError, match="without gaps"):
        SchemaRepository(schemas)


def test_an_event_is_never_removed(schemas: Path) -> None:
    (schemas / "alignment_flywheel.DriftDetected.avsc").unlink()
    assert [str(p) for p in check_schemas(schemas)] == [
        "DriftDetected: has released versions but no current schema (never remove events)"
    ]


# --- the command line ----------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str]:
    obj = CliContext(settings=load_settings(), console=Console(width=400))
    result = CliRunner().invoke(schemas_cli.app, list(args), obj=obj)
    return result.exit_code, result.output


def test_cli_check_passes_on_the_packaged_contract() -> None:
    code, output = _run("check")
    assert code == 0, output
    assert "valid, frozen and compatible" in output


def test_cli_check_names_the_event_and_the_incompatibility(schemas: Path) -> None:
    edit_schema(schemas, "ReviewDecided", lambda s: s["fields"].append(_field("n", "long")))
    code, output = _run("check", "--dir", str(schemas))
    assert code == 1
    assert "ReviewDecided" in output and "reader_field_missing_default_value" in output


def test_cli_freeze_writes_then_reports_nothing_to_do(schemas: Path) -> None:
    edit_schema(
        schemas, "ReviewDecided", lambda s: s["fields"].append(_field("n", "long", default=0))
    )
    code, output = _run("freeze", "--dir", str(schemas))
    assert code == 0, output
    assert "ReviewDecided/v2.avsc" in output
    assert _run("freeze", "--dir", str(schemas)) == (
        0,
        "nothing to freeze: every event's newest version is current\n",
    )
    assert _run("check", "--dir", str(schemas))[0] == 0


def test_cli_freeze_refuses_an_incompatible_change(schemas: Path) -> None:
    edit_schema(schemas, "ReviewDecided", lambda s: s["fields"].append(_field("n", "long")))
    code, output = _run("freeze", "--dir", str(schemas))
    assert code == 1
    assert "nothing frozen" in output and "ReviewDecided" in output
    assert "SchemaCompatibilityError" not in output, "no internal class names in CLI errors"
    assert not (schemas / "history" / "ReviewDecided" / "v2.avsc").exists()
