"""`flywheel intake run`: the worker that turns incidents into findings, judged by the oracle in
force (it follows releases like a gate, unless ``--no-follow``).

``--decider module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with the enforcer built from the settings and the worker decides with what it returns.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.following import following_enforcer
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.intake import build_intake
from alignment_flywheel.release.follower import ReleaseTopics
from alignment_flywheel.roles import RoleTopics

app = typer.Typer(help="The intake worker: incidents into findings.", no_args_is_help=True)


@app.command("run")
@reports_errors
@worker_command("intake")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Follow oracle releases on Kafka.")
    ] = True,
    decider: Annotated[str | None, hook_option("--decider", "enforcer")] = None,
) -> None:
    """Run the intake worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    release = ReleaseTopics.of(topics)
    enforcer, follower = following_enforcer(
        settings, follow=follow, patches=release.patches, releases=release.releases
    )
    intake = build_intake(
        settings, hooked(settings, decider, enforcer), app_id=app_id, topics=topics
    )
    try:
        run_worker(intake.app)
    finally:
        if follower is not None:
            follower.stop()
