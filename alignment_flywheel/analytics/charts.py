"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Every chart takes a query :class:`~alignment_flywheel.analytics.queries.Table` and draws an empty
frame saying "no data yet" when the table is empty, so the report always renders.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alignment_flywheel.analytics.queries import Table

RATES: tuple[tuple[str, str, str], ...] = (
    ("block_rate", "block", "#c0392b"),
    ("escalate_rate", "escalate", "#e67e22"),
    ("revise_rate", "revise", "#2980b9"),
)
MAX_SUBJECTS = 12


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _chart(
    title: str, draw: Callable[[Axes], None], *, empty: bool, size: tuple[float, float]
) -> bytes:
    figure, axes = plt.subplots(figsize=size)
    axes.set_title(title, fontsize=11, loc="left")
    if empty:
        axes.text(0.5, 0.5, "no data yet", ha="center", va="center", color="grey")
        axes.set_axis_off()
    else:
        draw(axes)
        axes.grid(alpha=0.3)
    return _png(figure)


def decision_rates_over_time(table: Table, dimension: str) -> bytes:
    """Block/escalate/revise rates per hour, one line per subject of ``dimension``, top subjects."""
    rows = [r for r in table.records() if r["dimension"] == dimension]
    volume: dict[str, int] = defaultdict(int)
    for row in rows:
        volume[row["subject"]] += row["verdicts"]
    top = sorted(volume, key=lambda s: -volume[s])[:MAX_SUBJECTS]

    def draw(axes: Axes) -> None:
        for subject in top:
            mine = [r for r in rows if r["subject"] == subject]
            rate = [r["block_rate"] + r["escalate_rate"] + r["revise_rate"] for r in mine]
            axes.plot([r["bucket"] for r in mine], rate, marker="o", label=subject)
        buckets = sorted({r["bucket"] for r in rows})
        if len(buckets) == 1:  # one point: show the hour around it, not a span of years
            axes.set_xlim(buckets[0] - timedelta(hours=1), buckets[0] + timedelta(hours=1))
        axes.set_ylabel("share of verdicts not ALLOW")
        axes.set_ylim(0, 1.05)
        axes.legend(fontsize=7, loc="upper left", ncols=2)
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)

    title = f"Intervention rate (block + escalate + revise) per {dimension.replace('_', ' ')}"
    return _chart(title, draw, empty=not rows, size=(9, 3.6))


def decision_mix(table: Table, dimension: str) -> bytes:
    """Stacked bars: each subject's block/escalate/revise rates over the whole period."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in table.records():
        if row["dimension"] != dimension:
            continue
        total = totals[row["subject"]]
        total["verdicts"] += row["verdicts"]
        for column, _label, _colour in RATES:
            total[column] += row[column] * row["verdicts"]
    subjects = sorted(totals, key=lambda s: -totals[s]["verdicts"])[:MAX_SUBJECTS]

    def draw(axes: Axes) -> None:
        left = [0.0] * len(subjects)
        for column, label, colour in RATES:
            shares = [totals[s][column] / totals[s]["verdicts"] for s in subjects]
            axes.barh(subjects, shares, left=left, label=label, color=colour)
            left = [a + b for a, b in zip(left, shares, strict=True)]
        axes.set_xlim(0, 1)
        axes.invert_yaxis()
        axes.set_xlabel("share of enforced verdicts")
        axes.legend(fontsize=8, loc="lower right")

    title = f"Decision mix per {dimension.replace('_', ' ')} (busiest first)"
    return _chart(title, draw, empty=not subjects, size=(9, 0.4 * len(subjects) + 1.6))


def time_to_mitigation(table: Table) -> bytes:
    rows = [r for r in table.records() if r["hours_to_mitigation"] is not None]

    def draw(axes: Axes) -> None:
        labels = [f"v{r['target_version']} {r['patch_id'][:8]}" for r in rows]
        axes.barh(labels, [r["hours_to_mitigation"] for r in rows], color="#16a085")
        axes.invert_yaxis()
        axes.set_xlabel("hours from first evidence to STABLE")

    return _chart(
        "Time to mitigation per patch", draw, empty=not rows, size=(9, 0.35 * len(rows) + 1.6)
    )


def override_rates(table: Table) -> bytes:
    """Grouped bars per day: human override rate and false-positive rate of blocks."""
    rows = table.records()
    series = (
        ("override_rate", "human override rate", "#8e44ad"),
        ("false_positive_rate", "false-positive rate of blocks", "#c0392b"),
    )

    def draw(axes: Axes) -> None:
        days = [r["day"].strftime("%Y-%m-%d") for r in rows]
        width = 0.4
        for index, (column, label, colour) in enumerate(series):
            xs = [i + (index - 0.5) * width for i in range(len(rows))]
            values = [r[column] if r[column] is not None else 0.0 for r in rows]
            axes.bar(xs, values, width=width, label=label, color=colour)
        step = max(1, len(days) // 12)
        axes.set_xticks(range(0, len(days), step), days[::step], rotation=30, fontsize=8)
        axes.set_ylim(0, 1.05)
        axes.legend(fontsize=8)

    return _chart(
        "Human overrides and false positives per day", draw, empty=not rows, size=(9, 3.4)
    )


def drift_alerts(table: Table) -> bytes:
    counts: dict[tuple[Any, str], int] = defaultdict(int)
    for row in table.records():
        counts[(row["occurred_at"].date(), row["dimension"])] += 1
    days = sorted({day for day, _dim in counts})
    dimensions = sorted({dim for _day, dim in counts})

    def draw(axes: Axes) -> None:
        bottom = [0] * len(days)
        for dimension in dimensions:
            heights = [counts.get((day, dimension), 0) for day in days]
            axes.bar([str(d) for d in days], heights, bottom=bottom, label=dimension)
            bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
        axes.set_ylabel("alerts")
        axes.legend(fontsize=8)

    return _chart("Drift alerts per day, by dimension", draw, empty=not counts, size=(9, 3.2))


def top_clusters(table: Table) -> bytes:
    rows = table.records()
    colours = {"OPEN": "#c0392b", "PATCHED": "#27ae60", "SUPPRESSED": "#7f8c8d"}

    def draw(axes: Axes) -> None:
        labels = [r["signature"][:60] for r in rows]
        axes.barh(
            labels,
            [r["rank_score"] for r in rows],
            color=[colours.get(r["status"], "#34495e") for r in rows],
        )
        axes.invert_yaxis()
        axes.set_xlabel("rank score (red: open, green: patched, grey: suppressed)")
        axes.tick_params(axis="y", labelsize=7)

    return _chart("Top failure clusters", draw, empty=not rows, size=(9, 0.35 * len(rows) + 1.6))
