"""`flywheel intake run`: the worker that turns incidents into findings, judged by the oracle in
force (it follows releases like a gate).
"""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.enforcement.enforcer import build_enforcer
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.intake import IntakeTopics, build_intake
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
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
) -> None:
    """Run the intake worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    enforcer = build_enforcer(settings)
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(
        settings, genesis, topics=ReleaseTopics(patches, releases), check=follower_check(settings)
    ).start()
    follower.attach_deployment(enforcer.deploy)
    intake = build_intake(
        settings, enforcer, app_id=app_id, topics=IntakeTopics(incidents, findings, dead_letters)
    )
    try:
        run_worker(intake.app)
    finally:
        follower.stop()
