"""The replay report (JSON, markdown, tables) and the range bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rich.console import Console

from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Decision
from alignment_flywheel.replay.engine import Case, Diff, Replayed
from alignment_flywheel.replay.report import Report, Skipped, markdown, tables
from alignment_flywheel.replay.source import Bound, parse_bound
from tests.support.oracles import proposal


def report(flips: bool) -> Report:
    diff = Diff()
    for cmd in ["ls", "rm", "rm"]:
        item = proposal(arguments={"cmd": cmd})
        after = Decision.BLOCK if flips and cmd == "rm" else Decision.ALLOW
        diff.add(Replayed(Case(item, Decision.ALLOW), after))
    diff.add(Replayed(Case(proposal(tool="x.y"), Decision.ALLOW), None, "tool: unknown tool"))
    skipped = [Skipped("flywheel.proposals", 0, 7, "undecodable: truncated body")]
    return Report("v2", 2, "ab" * 32, diff, skipped=skipped, hits=2, misses=2)


def test_json_names_flips_refusals_and_records_passed_over() -> None:
    data = report(flips=True).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["flips"] == {"allow->block": 2}
    assert data["matrix"] == {"ALLOW->ALLOW": 1, "ALLOW->BLOCK": 2}
    assert data["by_tool"] == {"shell.exec": {"allow->block": 2}}
    assert data["by_proposer"] == {"agent-1": {"allow->block": 2}}
    assert len(data["examples"]["allow->block"]) == 2
    assert data["refused"]["count"] == 1
    assert data["skipped"]["count"] == 1
    assert data["skipped"]["reasons"] == {"undecodable": 1}
    assert data["skipped"]["items"][0]["offset"] == 7
    assert data["memo"]["duplicate_ratio"] == 0.5
    assert (data["replayed"], data["compared"], data["flipped"]) == (4, 3, 2)


def test_markdown_and_tables_say_the_same() -> None:
    text = markdown(report(flips=True))
    assert "| allow->block | 2 |" in text
    assert "flywheel.proposals[0]@7" in text
    assert "No verdict flips." in markdown(report(flips=False))
    console = Console(record=True, width=200)
    for table in tables(report(flips=True)):
        console.print(table)
    shown = console.export_text()
    assert "allow->block" in shown and "undecodable: truncated body" in shown


def test_bounds_are_offsets_or_times() -> None:
    assert parse_bound(None) is None
    assert parse_bound("120") == Bound(offset=120)
    assert parse_bound("2026-11-23T10:00:00Z") == Bound(time=datetime(2026, 11, 23, 10, tzinfo=UTC))
    naive = parse_bound("2026-11-23T10:00:00")
    assert naive is not None and naive.time is not None and naive.time.tzinfo is UTC
    with pytest.raises(InvalidInputError):
        parse_bound("yesterday")
