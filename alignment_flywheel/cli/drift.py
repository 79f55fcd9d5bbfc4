"""`flywheel drift run`: the blue team's drift worker (traffic in, drift and findings out).

``--watch module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with the drift watch the options configure and the worker watches with what it returns.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.governance.drift import DriftWatch
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.drift import build_drift
from alignment_flywheel.roles import RoleTopics

app = typer.Typer(help="Blue team: drift and novelty on live traffic.", no_args_is_help=True)


@app.command("run")
@reports_errors
@worker_command("drift")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    warmup: Annotated[int, typer.Option("--warmup", help="proposals before novelty")] = 200,
    tool_warmup: Annotated[int, typer.Option("--tool-warmup")] = 20,
    samples: Annotated[int, typer.Option("--samples", help="findings per detection")] = 5,
    hook: Annotated[str | None, hook_option("--watch", "drift watch")] = None,
) -> None:
    """Run the drift worker until SIGTERM/Ctrl-C (one per deployment)."""
    settings = cli_context(ctx).settings
    watch = DriftWatch(warmup=warmup, tool_warmup=tool_warmup, samples_per_detection=samples)
    watch = hooked(settings, hook, watch)
    run_worker(build_drift(settings, watch=watch, app_id=app_id, topics=topics).app)
