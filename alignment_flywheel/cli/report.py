"""`flywheel report --out DIR`: the analytics report (HTML + PNG charts) from ClickHouse.

Runs the SQL queries of ``alignment_flywheel/analytics/sql/`` on the configured ClickHouse (the
tables the sink fills) and prints the path of the HTML page. With the embedded chDB, no other
process (a running sink) may hold the same data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.analytics.report import render_report
from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client, redact


@reports_errors
def report(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="directory for report.html and the PNG charts")
    ] = Path("flywheel-report"),
) -> None:
    """Write the analytics report into --out and print the path of its HTML page."""
    settings = cli_context(ctx).settings
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        page = render_report(
            client, out.resolve(), source=redact(settings.effective_clickhouse_url)
        )
    typer.echo(str(page))
