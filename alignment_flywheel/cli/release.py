"""`flywheel release`: the rollout of oracle versions: run (the controller), status, promote,
rollback, reject.

``status`` folds the patch and release topics (as every gate does) and shows the stable version
and the candidate the release topic names, then what a follower verifying against the trust root
actually enforces (version and digest), whether it is degraded and why, and the records it
ignored (security events). ``promote`` and ``rollback`` publish the transition a releaser asks for
(``automatic`` false, in the name of ``--operator``, by default the OS user: a person, never a
process); the gates follow within a second.
``rollback`` signs with each ``--key`` (keys of the releaser role); with a trust root, a stable
rollback needs them, since verifying followers do not go back to an older version for an
unsigned one. ``reject`` publishes a ``PatchRejected`` signed by ``--key`` (releaser role): it
keeps a patch from being released and takes it out of the chains followers rebuild.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.cli.context import (
    OperatorOption,
    cli_context,
    person,
    reports_errors,
)
from alignment_flywheel.cli.keys import Passphrase, key_store, signing_key
from alignment_flywheel.cli.output import Column, OutputFormat, OutputOption, emit
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Event
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches.approvals import sign_rejection
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.patches.verify import REJECTER_ROLE, human_rejection
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.release import build_controller
from alignment_flywheel.release import commands
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.rollout import DEFAULT_ROLLOUT, load_rollout_policy
from alignment_flywheel.release.trusted import (
    ReleaseGate,
    chain_check,
    follower_check,
    trust_root_for,
)
from alignment_flywheel.roles import RoleTopics

app = typer.Typer(help="Oracle releases: status, promote, rollback.", no_args_is_help=True)
_DEFAULT = ReleaseTopics()
PatchesTopic = Annotated[str, typer.Option("--patches-topic")]
ReleasesTopic = Annotated[str, typer.Option("--releases-topic")]
ReleaserKeys = Annotated[
    list[str] | None,
    typer.Option("--key", help="A key of the releaser role to sign with (repeat for several)."),
]


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


def _releaser_keys(
    ctx: typer.Context, names: list[str], passphrase: str | None
) -> list[Ed25519PrivateKey]:
    """The named keys, each holding the releaser role in the trust root (when there is one)."""
    settings = cli_context(ctx).settings
    root = trust_root_for(settings)
    store = key_store(ctx)
    keys = [signing_key(store, name, passphrase) for name in names]
    for name, private in zip(names, keys, strict=True):
        if root is not None and REJECTER_ROLE not in root.roles_of(key_id(private.public_key())):
            raise InvalidInputError(
                f"key {name} does not hold the {REJECTER_ROLE} role in trust root v{root.version}"
            )
    return keys


@app.command("run")
@reports_errors
@worker_command("release")
def run(
    ctx: typer.Context,
    *,
    app_id: str,
    topics: RoleTopics,
    policy: Annotated[Path, typer.Option("--policy", help="The rollout policy.")] = DEFAULT_ROLLOUT,
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
        topics=topics,
        check=chain_check(root),
    )
    run_worker(controller.app)


@app.command("status")
@reports_errors
def status(
    ctx: typer.Context,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The stable version and the candidate, folded from the topics, and what a verifying
    follower enforces."""
    cli = cli_context(ctx)
    follower = _follower(cli.settings, patches, releases)
    state, genesis = follower.state, follower.builder.genesis
    rows: list[dict[str, object]] = []
    if state.stable is None:
        rows.append(_release_row("STABLE", genesis.version, genesis.digest, "bootstrap artifact"))
    else:
        release = "restored" if state.stable.release_id is None else str(state.stable.release_id)
        rows.append(_release_row("STABLE", state.stable.version, state.stable.digest, release))
    if state.candidate is not None:
        c = state.candidate
        stage = f"{c.stage.value} ({c.canary_fraction:.0%})" if c.stage.value == "CANARY" else None
        rows.append(_release_row(stage or c.stage.value, c.version, c.digest, str(c.release_id)))
    emit(
        rows,
        RELEASE_COLUMNS,
        output=output,
        title="oracle releases",
        empty="no releases",
        extra=_enforced(follower),
    )


RELEASE_COLUMNS = (
    Column("stage", "stage", 14),
    Column("version", "version", 7),
    Column("digest", "digest", 18),
    Column("release", "release", 36),
)


def _release_row(stage: str, version: int, digest: str, release: str) -> dict[str, object]:
    return {"stage": stage, "version": version, "digest": digest, "release": release}


def _enforced(follower: ReleaseFollower) -> dict[str, object]:
    """What a follower verifying against the trust root enforces, and what it ignored."""
    status = follower.status
    verified = "verified against the trust root" if status.verifying else "NOT verified"
    facts: dict[str, object] = {
        "enforced": f"v{status.enforced.version} {status.enforced.digest} ({verified})",
    }
    if status.candidate is not None:
        c = status.candidate
        facts["candidate run"] = f"v{c.version} {c.digest} at {c.stage.value}"
    facts["degraded"] = "no" if status.reason is None else f"yes: {status.reason}"
    ignored = ", ".join(f"{k}={n}" for k, n in follower.ignored.snapshot().items()) or "none"
    facts["ignored records (security events)"] = ignored
    facts["patches in the log"] = len(follower.library.patches)
    facts["errors"] = follower.errors
    return facts


@app.command("promote")
@reports_errors
def promote(
    ctx: typer.Context,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
    operator: OperatorOption = None,
) -> None:
    """Move the candidate one stage on."""
    cli = cli_context(ctx)
    who = person(operator)
    follower = _follower(cli.settings, patches, releases)
    event = commands.promote(follower.state, actor=who, metrics={})
    _publish(cli.settings, releases, event)
    typer.echo(
        f"promoted v{event.version} from {event.from_stage.value} to {event.to_stage.value} "
        f"by {event.actor}"
    )


@app.command("rollback")
@reports_errors
def rollback(
    ctx: typer.Context,
    *,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the event).")],
    stable: Annotated[
        bool, typer.Option("--stable", help="Restore the version before stable.")
    ] = False,
    key: ReleaserKeys = None,
    passphrase: Passphrase = None,
    patches: PatchesTopic = _DEFAULT.patches,
    releases: ReleasesTopic = _DEFAULT.releases,
    operator: OperatorOption = None,
) -> None:
    """Withdraw the candidate (or, with --stable and a releaser's --key, the stable version)."""
    cli = cli_context(ctx)
    if stable and not key and trust_root_for(cli.settings) is not None:
        raise InvalidInputError(
            "a stable rollback needs --key (a releaser key): followers that verify do not go "
            "back to an older version for an unsigned one"
        )
    signers = _releaser_keys(ctx, key or [], passphrase)
    follower = _follower(cli.settings, patches, releases)
    event = commands.rollback(
        follower.state,
        follower.builder,
        actor=cli.settings.identity,
        reason=reason,
        stable=stable,
        signers=signers,
        operator=person(operator),
    )
    _publish(cli.settings, releases, event)
    signed = f", signed by {len(signers)} key(s)" if signers else ""
    typer.echo(
        f"rolled back v{event.version} by {event.operator}; v{event.restored_version} "
        f"restored{signed}"
    )


@app.command("reject")
@reports_errors
def reject(
    ctx: typer.Context,
    patch_id: str,
    *,
    key: ReleaserKeys = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (required, recorded).")] = "",
    passphrase: Passphrase = None,
    patches: PatchesTopic = _DEFAULT.patches,
    operator: OperatorOption = None,
) -> None:
    """Publish a PatchRejected signed by releaser keys: the patch is never released, and leaves
    the chains followers rebuild."""
    if not reason.strip():
        raise InvalidInputError("a rejection needs a reason (--reason)")
    if not key:
        raise InvalidInputError("a rejection with effect needs --key (a releaser key)")
    try:
        parsed = uuid.UUID(patch_id)
    except ValueError:
        raise InvalidInputError(f"{patch_id!r} is not a patch id (a UUID)") from None
    cli = cli_context(ctx)
    signers = _releaser_keys(ctx, key, passphrase)
    event = human_rejection(parsed, reason.strip(), rejected_by=person(operator))
    _publish(cli.settings, patches, sign_rejection(event, signers))
    cli.console.print(f"patch {parsed} rejected by {len(signers)} releaser key(s): {reason}")
