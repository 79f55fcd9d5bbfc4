"""`flywheel autoapprove run`: the auto-approver worker, for CI and demos (see
``alignment_flywheel.governance.autoapprove``).

``--approver module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with the auto-approver the settings configure and the worker signs with what it returns.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.errors import ConfigError
from alignment_flywheel.governance.autoapprove import auto_approver_for
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.autoapprove import AutoApproval
from alignment_flywheel.roles import RoleTopics

app = typer.Typer(help="The auto-approver (CI and demos only).", no_args_is_help=True)


@app.command("run")
@reports_errors
@worker_command("autoapprove")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    hook: Annotated[str | None, hook_option("--approver", "auto-approver")] = None,
) -> None:
    """Sign every patch whose regression passed with the configured auto-approve keys."""
    settings = cli_context(ctx).settings
    approver = auto_approver_for(settings)
    if approver is None:
        raise ConfigError("no auto-approver configured: set FLYWHEEL_AUTO_APPROVE_KEYS")
    worker = AutoApproval(
        settings,
        hooked(settings, hook, approver),
        topics=topics,
        app_id=app_id,
    )
    run_worker(worker.app)
