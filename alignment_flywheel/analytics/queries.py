"""The analytics queries: one ``.sql`` file per question in ``alignment_flywheel/analytics/sql/``.

Rules:

* The SQL files are the documentation and the implementation at once (``docs/analytics.md``
  describes them); the report runs them unchanged, so a query pasted into ``clickhouse client``
  gives the same numbers as the report.
* A query result is a :class:`Table`: column names and rows, nothing else.
* A failing query is a :class:`~alignment_flywheel.errors.ClickHouseError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from alignment_flywheel.errors import ClickHouseError

QUERY_NAMES = (
    "decision_rates",
    "time_to_mitigation",
    "override_rates",
    "drift_alerts",
    "top_clusters",
)


@dataclass(frozen=True)
class Table:
    """The result of one query."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def query_text(name: str) -> str:
    """The SQL of the query ``name`` (a file name without ``.sql``)."""
    if name not in QUERY_NAMES:
        raise ValueError(f"no analytics query named {name!r}")
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def run_query(client: Client, name: str) -> Table:
    """Run one named query."""
    try:
        result = client.query(query_text(name))
    except DriverError as exc:
        raise ClickHouseError(f"analytics query {name}.sql failed: {exc}") from exc
    return Table(tuple(result.column_names), tuple(tuple(row) for row in result.result_rows))


def run_all(client: Client) -> dict[str, Table]:
    """Every query, by name."""
    return {name: run_query(client, name) for name in QUERY_NAMES}
