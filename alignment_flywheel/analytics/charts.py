"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Every chart takes a query :class:`~alignment_flywheel.analytics.queries.Table` and draws an empty
frame saying "no data yet" when the table is empty, so the report always renders.
Time axes use the bucket the SQL chose from the data's span (``bucket_s``, seconds to days, see
:mod:`.units`) and label ticks at that precision; durations are drawn in the unit a person reads
(s, min, h or d), named on the axis.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from alignment_flywheel.analytics.queries import Table
from alignment_flywheel.analytics.units import BUCKETS, bucket_for, duration_unit, span_seconds

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


def bucket_label(seconds: int) -> str:
    """How a bucket of ``seconds`` is named: "5 s", "15 min", "1 h", "1 day"."""
    for bucket in (b for b in BUCKETS if b.seconds == seconds):
        return bucket.label
    return f"{seconds} s"


def time_format(seconds: int) -> str:
    """The strftime format that shows a bucket of ``seconds`` at its precision."""
    if seconds < 60:
        return "%H:%M:%S"
    if seconds < 86400:
        return "%m-%d %H:%M"
    return "%Y-%m-%d"


def _time_axis(axes: Axes, buckets: list[Any], seconds: int) -> None:
    axes.xaxis.set_major_formatter(DateFormatter(time_format(seconds)))  # type: ignore[no-untyped-call]
    if len(buckets) == 1:  # one point: show a few buckets around it, not a span of years
        pad = timedelta(seconds=3 * seconds)
        axes.set_xlim(buckets[0] - pad, buckets[0] + pad)
    axes.tick_params(axis="x", labelrotation=30, labelsize=8)


def decision_rates_over_time(table: Table, dimension: str) -> bytes:
    """Block/escalate/revise rates per bucket, one line per subject of ``dimension``, top
    subjects; the bucket width is the SQL's (``bucket_s``)."""
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
        _time_axis(axes, sorted({r["bucket"] for r in rows}), seconds)
        axes.set_ylabel("share of verdicts not ALLOW")
        axes.set_xlabel(f"time (UTC), per {bucket_label(seconds)}")
        axes.set_ylim(0, 1.05)
        axes.legend(fontsize=7, loc="upper left", ncols=2)

    seconds = int(rows[0]["bucket_s"]) if rows else 3600
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
    """One bar per patch: first evidence to STABLE, in the unit the longest one reads in."""
    rows = [r for r in table.records() if r["seconds_to_mitigation"] is not None]
    unit, size = duration_unit([float(r["seconds_to_mitigation"]) for r in rows])

    def draw(axes: Axes) -> None:
        labels = [f"v{r['target_version']} {r['patch_id'][:8]}" for r in rows]
        values = [float(r["seconds_to_mitigation"]) / size for r in rows]
        bars = axes.barh(labels, values, color="#16a085")
        axes.bar_label(bars, labels=[f"{v:.3g} {unit}" for v in values], fontsize=8)
        axes.invert_yaxis()
        axes.set_xlabel(f"{unit} from first evidence to STABLE")

    return _chart(
        "Time to mitigation per patch", draw, empty=not rows, size=(9, 0.35 * len(rows) + 1.6)
    )


def override_rates(table: Table) -> bytes:
    """Grouped bars per bucket (the SQL's ``bucket_s``): human override rate and false-positive
    rate of blocks."""
    rows = table.records()
    series = (
        ("override_rate", "human override rate", "#8e44ad"),
        ("false_positive_rate", "false-positive rate of blocks", "#c0392b"),
    )

    def draw(axes: Axes) -> None:
        fmt = time_format(int(rows[0]["bucket_s"]))
        days = [r["bucket"].strftime(fmt) for r in rows]
        width = 0.4
        for index, (column, label, colour) in enumerate(series):
            xs = [i + (index - 0.5) * width for i in range(len(rows))]
            values = [r[column] if r[column] is not None else 0.0 for r in rows]
            axes.bar(xs, values, width=width, label=label, color=colour)
        step = max(1, len(days) // 12)
        axes.set_xticks(range(0, len(days), step), days[::step], rotation=30, fontsize=8)
        axes.set_ylim(0, 1.05)
        axes.legend(fontsize=8)

    per = bucket_label(int(rows[0]["bucket_s"])) if rows else "bucket"
    return _chart(
        f"Human overrides and false positives per {per}", draw, empty=not rows, size=(9, 3.4)
    )


def drift_alerts(table: Table) -> bytes:
    """Stacked bars of alerts per bucket (chosen from the alerts' time span), by dimension."""
    records = table.records()
    bucket = bucket_for(span_seconds(r["occurred_at"] for r in records))
    fmt = time_format(bucket.seconds)
    counts: dict[tuple[Any, str], int] = defaultdict(int)
    for row in records:
        stamp = row["occurred_at"].timestamp() // bucket.seconds * bucket.seconds
        counts[(stamp, row["dimension"])] += 1
    stamps = sorted({stamp for stamp, _dim in counts})
    dimensions = sorted({dim for _stamp, dim in counts})
    labels = [datetime.fromtimestamp(s, UTC).strftime(fmt) for s in stamps]

    def draw(axes: Axes) -> None:
        bottom = [0] * len(stamps)
        for dimension in dimensions:
            heights = [counts.get((stamp, dimension), 0) for stamp in stamps]
            axes.bar(labels, heights, bottom=bottom, label=dimension)
            bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
        axes.set_ylabel("alerts")
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
        axes.legend(fontsize=8)

    title = f"Drift alerts per {bucket.label}, by dimension"
    return _chart(title, draw, empty=not counts, size=(9, 3.2))


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
