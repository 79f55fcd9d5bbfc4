"""`flywheel verify run`: the verification worker, findings judged against the norms.

The norms are read once at start (``--norms``, the shipped ``policies/norms.yaml`` by default);
a norms document that does not validate, or misjudges its own examples, stops the command.
``--judge module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with those norms and the worker judges with what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.governance.norms import DEFAULT_NORMS, load_norms
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.verification import build_verification
from alignment_flywheel.roles import RoleTopics

app = typer.Typer(
    help="The verification worker: findings judged by the norms.", no_args_is_help=True
)


@app.command("run")
@reports_errors
@worker_command("verify")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    norms: Annotated[Path, typer.Option("--norms", help="The norms document.")] = DEFAULT_NORMS,
    judge: Annotated[str | None, hook_option("--judge", "norms")] = None,
) -> None:
    """Run the verification worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    the_norms = hooked(settings, judge, load_norms(norms))
    run_worker(build_verification(settings, the_norms, app_id=app_id, topics=topics).app)
