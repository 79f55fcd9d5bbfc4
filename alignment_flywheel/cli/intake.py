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
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.intake import IntakeTopics, build_intake
from alignment_flywheel.release.follower import ReleaseTopics
from alignment_flywheel.roles import group_for

app = typer.Typer(help="The intake worker: incidents into findings.", no_args_is_help=True)
_TOPICS, _RELEASES = IntakeTopics(), ReleaseTopics()


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[str, typer.Option("--app-id")] = group_for("intake"),
    incidents: Annotated[str, typer.Option("--incidents-topic")] = _TOPICS.incidents,
    findings: Annotated[str, typer.Option("--findings-topic")] = _TOPICS.findings,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _TOPICS.dead_letters,
    patches: Annotated[str, typer.Option("--patches-topic")] = _RELEASES.patches,
    releases: Annotated[str, typer.Option("--releases-topic")] = _RELEASES.releases,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Follow oracle releases on Kafka.")
    ] = True,
    decider: Annotated[str | None, hook_option("--decider", "enforcer")] = None,
) -> None:
    """Run the intake worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    enforcer, follower = following_enforcer(
        settings, follow=follow, patches=patches, releases=releases
    )
    intake = build_intake(
        settings,
        hooked(settings, decider, enforcer),
        app_id=app_id,
        topics=IntakeTopics(incidents, findings, dead_letters),
    )
    try:
        run_worker(intake.app)
    finally:
        if follower is not None:
            follower.stop()
