"""Issue 17: charts read at any scale: buckets from the data's span (seconds to days), durations
in the unit a person reads; the SQL and the Python name the same steps."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from alignment_flywheel.analytics import charts
from alignment_flywheel.analytics.queries import Table, query_text, run_query
from alignment_flywheel.analytics.units import BUCKETS, bucket_for, duration_text, duration_unit
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from tests.unit.test_analytics_report import START, _insert, _verdicts


@pytest.mark.parametrize(
    ("span_s", "seconds"),
    [(0, 1), (120, 1), (121, 5), (3600, 30), (86400, 900), (30 * 86400, 21600), (10**9, 604800)],
)
def test_the_bucket_follows_the_span(span_s: float, seconds: int) -> None:
    assert bucket_for(span_s).seconds == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.8, "2 s"), (42, "42 s"), (126, "2.1 min"), (5400, "1.5 h"), (3 * 86400, "3.0 d")],
)
def test_durations_read_in_s_min_h_or_d(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize("name", ["decision_rates", "override_rates"])
def test_the_sql_buckets_are_the_python_steps(name: str) -> None:
    """The SQL's multiIf(span_s <= limit, width, ...) is bucket_for written out."""
    sql = query_text(name)
    pairs = [(int(a), int(b)) for a, b in re.findall(r"span_s <= (\d+), (\d+)", sql)]
    last = int(re.search(r", (\d+)\s*\)\s*AS bucket_s", sql).group(1))  # type: ignore[union-attr]
    assert [width for _limit, width in pairs] + [last] == [b.seconds for b in BUCKETS]
    for limit, width in pairs:
        assert bucket_for(limit).seconds == width and bucket_for(limit + 1).seconds > width


def _bucket_widths(settings_factory: Any, tmp_path: Any, step: timedelta) -> set[int]:
    settings = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'chdb'}")
    codec = EventCodec.from_settings(settings)
    rows = _verdicts(codec, 25)
    for index, (_name, record) in enumerate(rows):
        record["envelope"] = {
            **record["envelope"],
            "event_id": str(uuid.uuid4()),
            "occurred_at": START + step * index,
        }
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        _insert(client, rows)
        table = run_query(client, "decision_rates")
    return {int(r["bucket_s"]) for r in table.records()}


def test_a_two_minute_run_is_bucketed_by_the_second(settings_factory, tmp_path) -> None:
    assert _bucket_widths(settings_factory, tmp_path, timedelta(seconds=5)) == {1}


def test_a_day_is_bucketed_by_the_quarter_hour(settings_factory, tmp_path) -> None:
    assert _bucket_widths(settings_factory, tmp_path, timedelta(hours=1)) == {900}


def test_time_to_mitigation_is_drawn_in_minutes_for_minutes() -> None:
    table = Table(
        ("patch_id", "target_version", "seconds_to_mitigation"),
        (("a" * 36, 2, 95), ("b" * 36, 3, 150), ("c" * 36, 4, None)),
    )
    png = charts.time_to_mitigation(table)
    assert png.startswith(b"\x89PNG")
    assert duration_unit([95, 150]) == ("min", 60.0), "the chart's axis unit for these rows"
    assert duration_unit([1.5, 3]) == ("s", 1.0) and duration_unit([7200])[0] == "h"
    assert charts.bucket_label(900) == "15 min" and charts.time_format(1) == "%H:%M:%S"
