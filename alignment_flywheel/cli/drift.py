"""`flywheel drift run`: the blue team's drift worker (traffic in, drift and findings out).

``--watch module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with the drift watch the options configure and the worker watches with what it returns.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.governance.drift import DriftWatch
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.drift import DriftTopics, build_drift
from alignment_flywheel.roles import group_for

app = typer.Typer(help="Blue team: drift and novelty on live traffic.", no_args_is_help=True)
_T = DriftTopics()


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[str, typer.Option("--app-id")] = group_for("drift"),
    proposals: Annotated[str, typer.Option("--proposals-topic")] = _T.proposals,
    verdicts: Annotated[str, typer.Option("--verdicts-topic")] = _T.verdicts,
    drift: Annotated[str, typer.Option("--drift-topic")] = _T.drift,
    findings: Annotated[str, typer.Option("--findings-topic")] = _T.findings,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _T.dead_letters,
    warmup: Annotated[int, typer.Option("--warmup", help="proposals before novelty")] = 200,
    tool_warmup: Annotated[int, typer.Option("--tool-warmup")] = 20,
    samples: Annotated[int, typer.Option("--samples", help="findings per detection")] = 5,
    hook: Annotated[str | None, hook_option("--watch", "drift watch")] = None,
) -> None:
    """Run the drift worker until SIGTERM/Ctrl-C (one per deployment)."""
    settings = cli_context(ctx).settings
    topics = DriftTopics(proposals, verdicts, drift, findings, dead_letters)
    watch = DriftWatch(warmup=warmup, tool_warmup=tool_warmup, samples_per_detection=samples)
    watch = hooked(settings, hook, watch)
    worker = build_drift(settings, watch=watch, app_id=app_id, topics=topics)
    run_worker(worker.app)
