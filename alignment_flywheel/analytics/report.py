"""The analytics report: one HTML page with charts, readable at a glance, plus the PNG files.

Rules:

* The numbers come only from the SQL files of :mod:`alignment_flywheel.analytics.queries`.
* ``render_report(client, out_dir)`` writes ``out_dir/report.html`` and one PNG per chart next to
  it; the HTML embeds the same PNGs (data URIs), so the page can be mailed or opened alone.
* Every value written into the page is HTML-escaped; a table that is empty says so.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from alignment_flywheel.analytics import charts
from alignment_flywheel.analytics.queries import Table, run_all
from alignment_flywheel.analytics.units import duration_text
from alignment_flywheel.errors import FlywheelError

REPORT_NAME = "report.html"
MAX_TABLE_ROWS = 20
SECONDS_TO = "seconds_to_"


class ReportError(FlywheelError):
    """The report could not be written."""


@dataclass(frozen=True)
class Chart:
    file: str
    title: str
    png: bytes


@dataclass(frozen=True)
class Section:
    title: str
    note: str
    charts: tuple[Chart, ...]
    table: Table | None = None


def _charts(tables: dict[str, Table]) -> list[Section]:
    rates = tables["decision_rates"]
    dims = ("proposer", "tool", "oracle_version")
    return [
        Section(
            "Interventions per proposer, tool and oracle version",
            "Block, escalate and revise rates of enforced verdicts (decision_rates.sql).",
            tuple(
                chart
                for dim in dims
                for chart in (
                    Chart(f"rates_{dim}.png", dim, charts.decision_rates_over_time(rates, dim)),
                    Chart(f"mix_{dim}.png", dim, charts.decision_mix(rates, dim)),
                )
            ),
        ),
        Section(
            "Time to mitigation",
            "From the first incident, finding or cluster sighting a patch answers to its release "
            "reaching STABLE (time_to_mitigation.sql).",
            (Chart("mitigation.png", "", charts.time_to_mitigation(tables["time_to_mitigation"])),),
            tables["time_to_mitigation"],
        ),
        Section(
            "Human overrides and false positives",
            "Override rate: human APPROVE decisions on escalations / human decisions. "
            "False-positive rate: FALSE_POSITIVE incidents / enforced blocks (override_rates.sql).",
            (Chart("overrides.png", "", charts.override_rates(tables["override_rates"])),),
            tables["override_rates"],
        ),
        Section(
            "Drift alerts",
            "Latest DriftDetected events, newest first (drift_alerts.sql).",
            (Chart("drift.png", "", charts.drift_alerts(tables["drift_alerts"])),),
            tables["drift_alerts"],
        ),
        Section(
            "Top failure clusters",
            "Latest state of each cluster, open ones first, by rank score (top_clusters.sql).",
            (Chart("clusters.png", "", charts.top_clusters(tables["top_clusters"])),),
            tables["top_clusters"],
        ),
    ]


def _heading(column: str) -> str:
    """A duration column is shown as a duration: ``seconds_to_x`` reads "time to x"."""
    return "time to " + column.removeprefix(SECONDS_TO) if column.startswith(SECONDS_TO) else column


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return "n/a"
    if column.startswith(SECONDS_TO) and isinstance(value, int | float):
        return duration_text(float(value))
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _table_html(table: Table) -> str:
    if not table.rows:
        return "<p class='empty'>No rows yet.</p>"
    head = "".join(f"<th>{html.escape(_heading(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_cell(v, c))}</td>" for c, v in zip(table.columns, row, strict=True)
        )
        + "</tr>"
        for row in table.rows[:MAX_TABLE_ROWS]
    )
    more = len(table.rows) - MAX_TABLE_ROWS
    tail = f"<p class='more'>… and {more} more rows.</p>" if more > 0 else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{tail}"


def _chart_html(chart: Chart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    alt = html.escape(chart.title or chart.file)
    image = f"<img alt='{alt}' src='data:image/png;base64,{data}'>"
    return f"<a href='{html.escape(chart.file)}'>{image}</a>"


def _summary(tables: dict[str, Table]) -> list[tuple[str, str]]:
    rates = [r for r in tables["decision_rates"].records() if r["dimension"] == "tool"]
    verdicts = sum(r["verdicts"] for r in rates)
    blocked = sum(r["block_rate"] * r["verdicts"] for r in rates)
    overrides = tables["override_rates"].records()
    reviews = sum(r["human_reviews"] or 0 for r in overrides)
    approved = sum(r["overrides"] or 0 for r in overrides)
    open_clusters = sum(1 for r in tables["top_clusters"].records() if r["status"] == "OPEN")
    return [
        ("enforced verdicts", f"{verdicts:,}"),
        ("block rate", f"{blocked / verdicts:.1%}" if verdicts else "n/a"),
        ("human override rate", f"{approved / reviews:.1%}" if reviews else "n/a"),
        ("drift alerts (latest 200)", str(len(tables["drift_alerts"].rows))),
        ("open clusters in the top 20", str(open_clusters)),
    ]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { margin-bottom: 0.2em; } .generated { color: #777; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0 2em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 10em; }
.card b { display: block; font-size: 1.5em; } .card span { color: #666; font-size: 0.85em; }
img { max-width: 100%; margin: 0.4em 0; } .note { color: #555; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.6em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; }
th { background: #f4f4f4; } .empty, .more { color: #888; }
"""


def _page(sections: Sequence[Section], summary: list[tuple[str, str]], source: str) -> str:
    cards = "".join(
        f"<div class='card'><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>"
        for k, v in summary
    )
    parts = []
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        parts.extend(_chart_html(chart) for chart in section.charts)
        if section.table is not None:
            parts.append(_table_html(section.table))
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Alignment Flywheel report</title><style>{_STYLE}</style></head><body>"
        "<h1>Alignment Flywheel report</h1>"
        f"<p class='generated'>Generated {generated} from {html.escape(source)}</p>"
        f"<div class='cards'>{cards}</div>{''.join(parts)}</body></html>"
    )


def render_report(
    client: Client,
    out_dir: Path,
    *,
    source: str = "ClickHouse",
    query: Callable[[Client], dict[str, Table]] = run_all,
) -> Path:
    """Run the queries, write the PNGs and the HTML page into ``out_dir``; returns the page."""
    tables = query(client)
    sections = _charts(tables)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for section in sections:
            for chart in section.charts:
                (out_dir / chart.file).write_bytes(chart.png)
        page = out_dir / REPORT_NAME
        page.write_text(_page(sections, _summary(tables), source), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report into {out_dir}: {exc}") from exc
    return page
