"""`flywheel triage run`: the triage worker (confirmed violations in, ranked clusters out)."""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.governance.triage import DEFAULT_THRESHOLD
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.triage import TriageTopics, build_triage
from alignment_flywheel.roles import group_for

app = typer.Typer(help="Triage: failure clusters from confirmed violations.", no_args_is_help=True)
_T = TriageTopics()


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[str, typer.Option("--app-id")] = group_for("triage"),
    findings: Annotated[str, typer.Option("--findings-topic")] = _T.findings,
    verifications: Annotated[str, typer.Option("--verifications-topic")] = _T.verifications,
    clusters: Annotated[str, typer.Option("--clusters-topic")] = _T.clusters,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _T.dead_letters,
    partitions: Annotated[int, typer.Option("--partitions")] = _T.partitions,
    threshold: Annotated[float, typer.Option("--threshold")] = DEFAULT_THRESHOLD,
) -> None:
    """Run the triage worker until SIGTERM/Ctrl-C (one per deployment)."""
    settings = cli_context(ctx).settings
    topics = TriageTopics(findings, verifications, clusters, dead_letters, partitions)
    worker = build_triage(settings, app_id=app_id, topics=topics, threshold=threshold)
    run_worker(worker.app)
