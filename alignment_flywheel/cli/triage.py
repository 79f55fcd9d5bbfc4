"""`flywheel triage run`: the triage worker (confirmed violations in, ranked clusters out)."""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.governance.triage import DEFAULT_THRESHOLD
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.triage import build_triage
from alignment_flywheel.roles import RoleTopics, partitions_for

app = typer.Typer(help="Triage: failure clusters from confirmed violations.", no_args_is_help=True)


@app.command("run")
@reports_errors
@worker_command("triage")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    partitions: Annotated[int, typer.Option("--partitions")] = partitions_for("FindingRaised"),
    threshold: Annotated[float, typer.Option("--threshold")] = DEFAULT_THRESHOLD,
) -> None:
    """Run the triage worker until SIGTERM/Ctrl-C (one per deployment)."""
    settings = cli_context(ctx).settings
    worker = build_triage(
        settings, app_id=app_id, topics=topics, partitions=partitions, threshold=threshold
    )
    run_worker(worker.app)
