"""`flywheel refine run`: the refinement worker (clusters in, patches with evidence out)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.enforcement import load_policy
from alignment_flywheel.governance.norms import DEFAULT_NORMS, load_norms
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path, risk_policy_path
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.refinement import build_refinement
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
from alignment_flywheel.roles import RoleTopics

app = typer.Typer(help="Refinement: patches for the top failure clusters.", no_args_is_help=True)


@app.command("run")
@reports_errors
@worker_command("refine")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    min_members: Annotated[int, typer.Option("--min-members")] = 3,
    fp_budget: Annotated[float, typer.Option("--fp-budget")] = 0.01,
    norms: Annotated[Path, typer.Option("--norms", help="The norms document.")] = DEFAULT_NORMS,
) -> None:
    """Run the refinement worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(
        settings, genesis, topics=ReleaseTopics.of(topics), check=follower_check(settings)
    ).start()
    author = None
    if settings.author_key is not None:
        author = KeyStore(settings.effective_keys_dir).private(settings.author_key)
    worker = build_refinement(
        settings,
        follower,
        load_policy(risk_policy_path(settings)),
        app_id=app_id,
        topics=topics,
        min_members=min_members,
        fp_budget=fp_budget,
        author_key=author,
        norms=load_norms(norms),
    )
    try:
        run_worker(worker.app)
    finally:
        follower.stop()
