"""`flywheel redteam run`: the red-team worker, variants of known failures against the oracle.

The worker follows releases (the patch and release topics) like a gate, so it attacks the stable
oracle in force and, during a rollout, the candidate too. ``--seed`` fixes the variants generated
for a seed proposal, ``--budget`` bounds them; the norms are read once at start (``--norms``).
``--judge module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with those norms and the worker judges with what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.enforcement.enforcer import build_enforcer
from alignment_flywheel.enforcement.staged import StagedEnforcer
from alignment_flywheel.governance.norms import DEFAULT_NORMS, load_norms
from alignment_flywheel.governance.redteam import Target, targets
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.redteam import RedTeamTopics, build_redteam
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.roles import group_for

app = typer.Typer(help="The red-team worker: what the oracle misses.", no_args_is_help=True)
_T, _R = RedTeamTopics(), ReleaseTopics()


def _attacked(staged: StagedEnforcer) -> tuple[Target, ...]:
    deployment = staged.deployment
    return targets(staged.policy, deployment.stable, deployment.candidate)


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Variants per seed.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the variant generator.")] = 0,
    norms: Annotated[Path, typer.Option("--norms", help="The norms document.")] = DEFAULT_NORMS,
    app_id: Annotated[str, typer.Option("--app-id")] = group_for("redteam"),
    findings: Annotated[str, typer.Option("--findings-topic")] = _T.findings,
    verifications: Annotated[str, typer.Option("--verifications-topic")] = _T.verifications,
    proposals: Annotated[str, typer.Option("--proposals-topic")] = _T.proposals,
    verdicts: Annotated[str, typer.Option("--verdicts-topic")] = _T.verdicts,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _T.dead_letters,
    findings_partitions: Annotated[
        int, typer.Option("--findings-partitions")
    ] = _T.findings_partitions,
    proposals_partitions: Annotated[
        int, typer.Option("--proposals-partitions")
    ] = _T.proposals_partitions,
    patches: Annotated[str, typer.Option("--patches-topic")] = _R.patches,
    releases: Annotated[str, typer.Option("--releases-topic")] = _R.releases,
    judge: Annotated[str | None, hook_option("--judge", "norms")] = None,
) -> None:
    """Run the red-team worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    the_norms = hooked(settings, judge, load_norms(norms))
    staged = build_enforcer(settings)
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(settings, genesis, topics=ReleaseTopics(patches, releases)).start()
    follower.attach_deployment(staged.deploy)
    topics = RedTeamTopics(
        findings,
        verifications,
        proposals,
        verdicts,
        dead_letters,
        findings_partitions=findings_partitions,
        proposals_partitions=proposals_partitions,
    )
    worker = build_redteam(
        settings,
        the_norms,
        lambda: _attacked(staged),
        seed=seed,
        budget=budget,
        app_id=app_id,
        topics=topics,
    )
    try:
        run_worker(worker.app)
    finally:
        follower.stop()
