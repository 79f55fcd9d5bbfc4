"""The console's trend charts: the analytics report's PNG charts, one per request.

Rules:

* Numbers come only from the analytics SQL (:mod:`alignment_flywheel.analytics.queries`), drawn by
  :mod:`alignment_flywheel.analytics.charts`: the console shows what ``flywheel report`` shows.
* ClickHouse is opened for one chart and closed right after, one chart at a time (a lock): with
  embedded chDB only one process can hold the data directory, so the console never keeps it.
  The console never migrates nor creates anything: an embedded data directory that does not
  exist, a server that does not answer, tables not there yet, or a directory held by another
  process are :class:`ChartUnavailableError`. Its ``kind`` tells them apart (``no_data``: nothing
  was stored there yet; ``busy``: another process holds the embedded data directory;
  ``unavailable``: the server did not answer) and its message says what to do; the page shows
  that message under the chart's title, never a generic one.
* Tables that exist but hold no rows draw the chart's empty frame ("no data yet").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.analytics import charts
from alignment_flywheel.analytics.queries import Table, run_query
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ClickHouseError
from alignment_flywheel.stack.clickhouse import clickhouse_client, redact

Draw = Callable[[Table], bytes]

CHARTS: dict[str, tuple[str, Draw]] = {
    "overrides": ("override_rates", charts.override_rates),
    "mix_tool": ("decision_rates", lambda t: charts.decision_mix(t, "tool")),
    "rates_proposer": ("decision_rates", lambda t: charts.decision_rates_over_time(t, "proposer")),
    "mitigation": ("time_to_mitigation", charts.time_to_mitigation),
    "drift": ("drift_alerts", charts.drift_alerts),
    "clusters": ("top_clusters", charts.top_clusters),
}

_LOCK = threading.Lock()


class ChartUnavailableError(ClickHouseError):
    """The chart cannot be drawn now: ClickHouse is missing, busy or not migrated."""

    def __init__(self, message: str, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.kind = kind


def _why(url: str, exc: Exception) -> ChartUnavailableError:
    text = str(exc)
    if "UNKNOWN_TABLE" in text or "UNKNOWN_DATABASE" in text or "does not exist" in text:
        return ChartUnavailableError(
            f"no ClickHouse data yet at {url}: the tables are not created "
            "(flywheel infra up, then flywheel sink run)",
            "no_data",
        )
    if "different path" in text or "lock" in text.lower():
        return ChartUnavailableError(
            f"ClickHouse at {url} is busy: another process (the sink or the demo) holds the "
            "embedded data directory; the chart returns when it lets go",
            "busy",
        )
    return ChartUnavailableError(f"ClickHouse at {url} did not answer: {text}", "unavailable")


def chart_png(settings: Settings, name: str) -> bytes:
    """The PNG of chart ``name``; KeyError for an unknown name."""
    query, draw = CHARTS[name]
    url = settings.effective_clickhouse_url
    if url.startswith("chdb://") and not Path(url.removeprefix("chdb://")).is_dir():
        raise ChartUnavailableError(
            f"no ClickHouse data yet at {url} (the sink stores events there: flywheel sink run)",
            "no_data",
        )
    with _LOCK:
        try:
            with clickhouse_client(settings) as client:
                table = run_query(client, query)
        except Exception as exc:  # the embedded engine raises its own types when it is held
            raise _why(redact(url), exc) from exc
    return draw(table)
