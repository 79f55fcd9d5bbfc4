"""The event catalog page (docs/events.md) is rendered from the contract and kept current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from alignment_flywheel.cli import catalog_docs
from alignment_flywheel.cli import schemas as schemas_cli
from alignment_flywheel.cli.catalog_docs import EVENT_KEYS, render_catalog, type_text
from alignment_flywheel.cli.context import CliContext
from alignment_flywheel.codec.repository import SchemaRepository
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import SchemaError
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.resources import SCHEMAS_DIR
from tests.support.schemas import copy_schemas, edit_schema

PAGE = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _run(*args: str) -> tuple[int, str]:
    obj = CliContext(settings=load_settings(), console=Console(width=400))
    result = CliRunner().invoke(schemas_cli.app, list(args), obj=obj)
    return result.exit_code, result.output


def test_docs_events_md_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_catalog(), (
        "docs/events.md is out of date: run `./dev flywheel schemas docs`"
    )


def test_every_schema_has_a_section() -> None:
    text = render_catalog()
    names = {
        json.loads(p.read_text())["name"].rpartition(".")[2] for p in SCHEMAS_DIR.glob("*.avsc")
    }
    assert len(names) > 30
    for name in names:
        assert f"\n### {name}\n" in text, name


def test_every_event_has_its_topic_key_version_and_fingerprint() -> None:
    text = render_catalog()
    repository = SchemaRepository()
    catalog = load_catalog()
    assert set(EVENT_KEYS) == set(repository.events)
    for event in repository.events:
        section = text.split(f"\n### {event}\n", 1)[1].split("\n### ", 1)[0]
        assert f"- topic: `{catalog.topic_for(event)}`" in section
        assert f"- key: {EVENT_KEYS[event]}" in section
        assert repository.current(event).fingerprint.hex() in section
        assert "| `envelope` | [Envelope](#envelope) | — |" in section


def test_field_types_link_to_shared_types() -> None:
    assert type_text("string") == "`string`"
    assert type_text(["null", "string"]) == "`string`?"
    assert type_text({"type": "string", "logicalType": "uuid"}) == "`uuid`"
    assert type_text({"type": "array", "items": "alignment_flywheel.Evidence"}) == (
        "array of [Evidence](#evidence)"
    )
    assert type_text({"type": "map", "values": "long"}) == "map of `long`"
    assert type_text(["null", "alignment_flywheel.Severity"]) == "[Severity](#severity)?"


def test_an_event_without_a_key_description_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = dict(EVENT_KEYS)
    del keys["VerdictIssued"]
    monkeypatch.setattr(catalog_docs, "EVENT_KEYS", keys)
    with pytest.raises(SchemaError, match="VerdictIssued has no key"):
        render_catalog()


def test_an_unfrozen_change_shows_as_current_source(tmp_path: Path) -> None:
    schemas = copy_schemas(tmp_path)
    edit_schema(schemas, "DriftDetected", lambda raw: raw.update(doc="Changed doc."))
    text = render_catalog(schemas)
    section = text.split("\n### DriftDetected\n", 1)[1].split("\n### ", 1)[0]
    assert "Changed doc." in section
    assert "current source, not frozen yet" in section


def test_cli_writes_then_checks_the_page(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "events.md"
    code, output = _run("docs", "--check", "--out", str(out))
    assert code == 1, output
    assert not out.exists()
    code, output = _run("docs", "--out", str(out))
    assert code == 0, output
    assert out.read_text(encoding="utf-8") == render_catalog()
    code, output = _run("docs", "--check", "--out", str(out))
    assert code == 0, output
    out.write_text(out.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    code, output = _run("docs", "--check", "--out", str(out))
    assert code == 1
    assert "not current" in output
