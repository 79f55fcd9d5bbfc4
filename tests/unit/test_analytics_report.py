"""The analytics queries and the HTML report, on a temporary chDB filled with rows directly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignment_flywheel.analytics.queries import QUERY_NAMES, query_text, run_all
from alignment_flywheel.analytics.report import REPORT_NAME, render_report
from alignment_flywheel.cli import main as cli
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.clickhouse.rows import to_row
from alignment_flywheel.events import Event
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from tests.support.samples import (
    sample_governance_events,
    sample_proposal,
    sample_release_events,
    sample_runtime_events,
)

START = datetime(2026, 3, 2, 8, tzinfo=UTC)
TOOLS = ("shell.exec", "http.post", "files.write")
DECISIONS = ("ALLOW", "ALLOW", "BLOCK", "ESCALATE", "REVISE")


def _record(codec: EventCodec, event: Event) -> tuple[str, dict[str, Any]]:
    return codec.decode_record(codec.encode(event))


def _insert(client: Any, rows: list[tuple[str, dict[str, Any]]]) -> None:
    for offset, (event_type, record) in enumerate(rows):
        routed = to_row(event_type, record, "flywheel.test", 0, offset)
        if routed is None:  # trust roots have no table
            continue
        table, row = routed
        client.insert(table.qualified, [row], column_names=list(table.columns))


def _verdicts(codec: EventCodec, count: int) -> list[tuple[str, dict[str, Any]]]:
    name, template = _record(codec, sample_runtime_events(sample_proposal(0))[0])
    rows = []
    for i in range(count):
        envelope = {
            **template["envelope"],
            "event_id": str(uuid.uuid4()),
            "occurred_at": START + timedelta(minutes=7 * i),
        }
        record = {
            **template,
            "envelope": envelope,
            "tool": TOOLS[i % 3],
            "proposer_id": f"agent-{i % 4}",
            "decision": DECISIONS[i % 5],
            "oracle_version": 7 + i // 40,
        }
        rows.append((name, record))
    return rows


def _governance(codec: EventCodec) -> list[tuple[str, dict[str, Any]]]:
    events = [
        *sample_runtime_events(sample_proposal(1)),
        *sample_governance_events(sample_proposal(2)),
    ]
    events += sample_release_events()
    rows = [_record(codec, e) for e in events]
    for _name, record in rows:
        record["envelope"] = {**record["envelope"], "occurred_at": START + timedelta(hours=3)}
    return rows


@pytest.fixture
def populated(settings_factory, tmp_path):
    settings = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'chdb'}")
    codec = EventCodec.from_settings(settings)
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        _insert(client, _verdicts(codec, 120) + _governance(codec))
        yield client


def test_every_query_is_a_packaged_sql_file():
    for name in QUERY_NAMES:
        assert query_text(name).lstrip().startswith("--")
    with pytest.raises(ValueError, match="no analytics query"):
        query_text("nope")


def test_decision_rates_per_dimension(populated):
    tables = run_all(populated)
    rates = tables["decision_rates"].records()
    by_tool = [r for r in rates if r["dimension"] == "tool"]
    verdicts = sum(r["verdicts"] for r in by_tool)
    assert verdicts == 121  # 120 built + the sample verdict
    blocked = sum(r["block_rate"] * r["verdicts"] for r in by_tool)
    assert round(blocked) == 24
    assert {r["subject"] for r in rates if r["dimension"] == "oracle_version"} == {"7", "8", "9"}
    assert {r["subject"] for r in rates if r["dimension"] == "proposer"} >= {"agent-0", "agent-3"}


def test_governance_queries_see_the_sample_pipeline(populated):
    tables = run_all(populated)
    overrides = tables["override_rates"].records()
    assert sum(r["human_reviews"] for r in overrides) == 1
    assert sum(r["overrides"] for r in overrides) == 0
    assert len(tables["drift_alerts"].rows) == 1
    clusters = tables["top_clusters"].records()
    assert len(clusters) == 1
    assert clusters[0]["status"] in {"OPEN", "PATCHED", "SUPPRESSED"}
    assert len(tables["time_to_mitigation"].rows) == 1


def test_report_renders_html_with_embedded_charts(populated, tmp_path: Path):
    page = render_report(populated, tmp_path / "report", source="chdb test")
    assert page == tmp_path / "report" / REPORT_NAME
    text = page.read_text(encoding="utf-8")
    pngs = sorted(p.name for p in page.parent.glob("*.png"))
    assert len(pngs) == 10
    for name in pngs:
        assert (page.parent / name).read_bytes().startswith(b"\x89PNG")
        assert f"href='{name}'" in text
    assert text.count("data:image/png;base64,") == 10
    assert "Top failure clusters" in text
    assert "121" in text  # enforced verdicts card


def test_report_renders_from_an_empty_database(settings_factory, tmp_path: Path):
    settings = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'empty'}")
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        page = render_report(client, tmp_path / "out")
    assert "No rows yet." in page.read_text(encoding="utf-8")


def test_report_command_prints_the_html_path(settings_factory, tmp_path: Path, monkeypatch):
    url = f"chdb://{tmp_path / 'cli'}"
    settings = settings_factory(clickhouse_url=url)
    codec = EventCodec.from_settings(settings)
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        _insert(client, _verdicts(codec, 10))
    monkeypatch.setenv("FLYWHEEL_CLICKHOUSE_URL", url)
    monkeypatch.setenv("FLYWHEEL_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(cli.app, ["report", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = Path(result.output.strip())
    assert page == tmp_path / "out" / REPORT_NAME
    assert ">10<" in page.read_text(encoding="utf-8")
