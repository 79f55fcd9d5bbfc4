"""`flywheel refine run`: the refinement worker (clusters in, patches with evidence out)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.enforcement import load_policy
from alignment_flywheel.governance.norms import DEFAULT_NORMS, load_norms
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path, risk_policy_path
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.refinement import RefinementTopics, build_refinement
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
from alignment_flywheel.roles import group_for

app = typer.Typer(help="Refinement: patches for the top failure clusters.", no_args_is_help=True)
_T, _R = RefinementTopics(), ReleaseTopics()


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[str, typer.Option("--app-id")] = group_for("refine"),
    proposals: Annotated[str, typer.Option("--proposals-topic")] = _T.proposals,
    verdicts: Annotated[str, typer.Option("--verdicts-topic")] = _T.verdicts,
    reviews: Annotated[str, typer.Option("--reviews-topic")] = _T.reviews,
    findings: Annotated[str, typer.Option("--findings-topic")] = _T.findings,
    clusters: Annotated[str, typer.Option("--clusters-topic")] = _T.clusters,
    patches: Annotated[str, typer.Option("--patches-topic")] = _T.patches,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _T.dead_letters,
    releases: Annotated[str, typer.Option("--releases-topic")] = _R.releases,
    min_members: Annotated[int, typer.Option("--min-members")] = 3,
    fp_budget: Annotated[float, typer.Option("--fp-budget")] = 0.01,
    norms: Annotated[Path, typer.Option("--norms", help="The norms document.")] = DEFAULT_NORMS,
) -> None:
    """Run the refinement worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(
        settings, genesis, topics=ReleaseTopics(patches, releases), check=follower_check(settings)
    ).start()
    topics = RefinementTopics(
        proposals, verdicts, reviews, findings, clusters, patches, dead_letters
    )
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
