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
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.enforcement.enforcer import build_enforcer
from alignment_flywheel.enforcement.staged import StagedEnforcer
from alignment_flywheel.governance.norms import DEFAULT_NORMS, load_norms
from alignment_flywheel.governance.redteam import Target, targets
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.redteam import build_redteam
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.roles import RoleTopics, partitions_for

app = typer.Typer(help="The red-team worker: what the oracle misses.", no_args_is_help=True)


def _attacked(staged: StagedEnforcer) -> tuple[Target, ...]:
    deployment = staged.deployment
    return targets(staged.policy, deployment.stable, deployment.candidate)


@app.command("run")
@reports_errors
@worker_command("redteam")
def run(
    ctx: typer.Context,
    *,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Variants per seed.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the variant generator.")] = 0,
    norms: Annotated[Path, typer.Option("--norms", help="The norms document.")] = DEFAULT_NORMS,
    app_id: str,
    topics: RoleTopics,
    findings_partitions: Annotated[int, typer.Option("--findings-partitions")] = partitions_for(
        "FindingRaised"
    ),
    proposals_partitions: Annotated[int, typer.Option("--proposals-partitions")] = partitions_for(
        "ProposalSubmitted"
    ),
    judge: Annotated[str | None, hook_option("--judge", "norms")] = None,
) -> None:
    """Run the red-team worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    the_norms = hooked(settings, judge, load_norms(norms))
    staged = build_enforcer(settings)
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(settings, genesis, topics=ReleaseTopics.of(topics)).start()
    follower.attach_deployment(staged.deploy)
    worker = build_redteam(
        settings,
        the_norms,
        lambda: _attacked(staged),
        seed=seed,
        budget=budget,
        app_id=app_id,
        topics=topics,
        findings_partitions=findings_partitions,
        proposals_partitions=proposals_partitions,
    )
    try:
        run_worker(worker.app)
    finally:
        follower.stop()
