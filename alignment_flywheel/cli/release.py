"""`flywheel release`: the rollout of oracle versions: run (the controller), status, promote,
rollback.

``status`` folds the patch and release topics (as every gate does) and shows the stable version,
the candidate and its stage. ``promote`` and ``rollback`` publish the transition a releaser asks
for (``automatic`` false, the actor is the settings' identity); the gates follow within a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.producer import EventProducer
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Event
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.release import ControllerTopics, build_controller
from alignment_flywheel.release import commands
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.rollout import DEFAULT_ROLLOUT, load_rollout_policy
from alignment_flywheel.release.trusted import (
    ReleaseGate,
    chain_check,
    follower_check,
    trust_root_for,
)

app = typer.Typer(help="Oracle releases: status, promote, rollback.", no_args_is_help=True)
_DEFAULT = ReleaseTopics()
_CONTROLLER = ControllerTopics()
PatchesTopic = Annotated[str, typer.Option("--patches-topic")]
ReleasesTopic = Annotated[str, typer.Option("--releases-topic")]


def _follower(settings: Settings, patches: str, releases: str) -> ReleaseFollower:
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(
        settings, genesis, topics=ReleaseTopics(patches, releases), check=follower_check(settings)
    )
    follower.start()
    follower.stop()
    return follower


def _publish(settings: Settings, topic: str, event: Event) -> None:
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        producer.send(topic, event)


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[str, typer.Option("--app-id")] = "flywheel-release",
    policy: Annotated[Path, typer.Option("--policy", help="The rollout policy.")] = DEFAULT_ROLLOUT,
    verdicts: Annotated[str, typer.Option("--verdicts-topic")] = _CONTROLLER.verdicts,
    reviews: Annotated[str, typer.Option("--reviews-topic")] = _CONTROLLER.reviews,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _CONTROLLER.dead_letters,
) -> None:
    """Run the release controller (one per cluster) until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    root = trust_root_for(settings)
    if root is None:
        raise InvalidInputError(
            f"the release controller needs a trust root at {settings.effective_trust_root_path} "
            "(flywheel trust init): it releases only verified patches"
        )
    controller = build_controller(
        settings,
        load_artifact(oracle_path(settings)),
        load_rollout_policy(policy),
        ReleaseGate(root, settings.identity),
        app_id=app_id,
        topics=ControllerTopics(verdicts, reviews, patches, releases, dead_letters),
        check=chain_check(root),
    )
    run_worker(controller.app)


@app.command("status")
@reports_errors
def status(
    ctx: typer.Context,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
) -> None:
    """The stable version and the candidate, folded from the topics."""
    cli = cli_context(ctx)
    follower = _follower(cli.settings, patches, releases)
    state, genesis = follower.state, follower.builder.genesis
    table = Table(title="oracle releases")
    for column in ("stage", "version", "digest", "release"):
        table.add_column(column)
    if state.stable is None:
        table.add_row("STABLE", str(genesis.version), genesis.digest[:16], "bootstrap artifact")
    else:
        release = "restored" if state.stable.release_id is None else str(state.stable.release_id)
        table.add_row("STABLE", str(state.stable.version), state.stable.digest[:16], release)
    if state.candidate is not None:
        c = state.candidate
        stage = (
            f"{c.stage.value} ({c.canary_fraction:.0%})"
            if c.stage.value == "CANARY"
            else c.stage.value
        )
        table.add_row(stage, str(c.version), c.digest[:16], str(c.release_id))
    cli.console.print(table)
    cli.console.print(
        f"patches in the log: {len(follower.library.patches)}, errors: {follower.errors}"
    )


@app.command("promote")
@reports_errors
def promote(
    ctx: typer.Context,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
) -> None:
    """Move the candidate one stage on."""
    cli = cli_context(ctx)
    follower = _follower(cli.settings, patches, releases)
    event = commands.promote(follower.state, actor=cli.settings.identity, metrics={})
    _publish(cli.settings, releases, event)
    cli.console.print(f"promoted v{event.version} from {event.from_stage} to {event.to_stage}")


@app.command("rollback")
@reports_errors
def rollback(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the event).")],
    stable: Annotated[
        bool, typer.Option("--stable", help="Restore the version before stable.")
    ] = False,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
) -> None:
    """Withdraw the candidate (or, with --stable, the stable version)."""
    cli = cli_context(ctx)
    follower = _follower(cli.settings, patches, releases)
    event = commands.rollback(
        follower.state, follower.builder, actor=cli.settings.identity, reason=reason, stable=stable
    )
    _publish(cli.settings, releases, event)
    cli.console.print(f"rolled back v{event.version}; v{event.restored_version} restored")
