"""`flywheel patch`: what a human approver sees and does.

Every command reads the patches topic from the beginning (``PatchProposed``, ``PatchApproved``,
``PatchRejected``). ``show`` prints the patch, its approvals and its regression evidence; ``diff``
prints the rule-level diff (against the configured oracle artifact when it is the patch's base) and
the evidence. ``approve`` checks what it can before the patch is released (the trust root file,
each earlier approval's key, role and signature, expiry), shows the diff and the evidence, asks
for confirmation (``--yes`` skips it), signs with ``--key`` in the role the trust root gives that
key (``--role`` when it holds several) and publishes ``PatchApproved``. ``reject`` publishes
``PatchRejected`` (HUMAN_REJECTED, security=False) with a non-empty ``--reason``. ``export``
writes the patch and its approvals as one DSSE envelope file (``PatchVerifier.verify_envelope``
reads it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.context import (
    CliContext,
    OperatorOption,
    cli_context,
    person,
    reports_errors,
)
from alignment_flywheel.cli.keys import Passphrase, key_store, signing_key
from alignment_flywheel.errors import InvalidInputError, PolicyDocumentError
from alignment_flywheel.oracle.artifact import ArtifactSpec, load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches.approvals import (
    PATCH_ROLES,
    approve,
    export_envelope,
    patch_from_event,
    sign_rejection,
)
from alignment_flywheel.patches.diff import diff_lines, evidence_lines
from alignment_flywheel.patches.errors import PatchSecurityError
from alignment_flywheel.patches.ledger import PATCHES_TOPIC, PatchLedger, PatchRecord
from alignment_flywheel.patches.model import Patch
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.patches.trust import IgnoredCounter, TrustRoot, load_root_file
from alignment_flywheel.patches.verify import (
    OracleHead,
    PatchVerifier,
    human_rejection,
    rejection_counts,
)

app = typer.Typer(help="Review, approve (sign) or reject oracle patches.", no_args_is_help=True)

PatchesTopic = Annotated[str, typer.Option("--patches-topic", help="The patches topic.")]


@app.command("show")
@reports_errors
def show(ctx: typer.Context, patch_id: str, patches_topic: PatchesTopic = PATCHES_TOPIC) -> None:
    """The patch, its approvals, rejections and regression evidence."""
    cli = cli_context(ctx)
    record, patch = _load(cli, patch_id, patches_topic)
    out = cli.console.print
    out(
        f"patch {patch.patch_id} by {patch.author}: v{patch.base_version} -> "
        f"v{patch.target_version}, {len(patch.operations)} operation(s)"
    )
    out(f"rationale: {patch.rationale}")
    out(f"expires: {patch.expires.isoformat() if patch.expires else 'never'}")
    for approval in record.approvals:
        out(
            f"approved by key {approval.key_id[:12]} as {approval.role}"
            f"{' (automatic)' if approval.automatic else ''} at "
            f"{approval.envelope.occurred_at.isoformat()}"
        )
    for rejection in record.rejections:
        out(f"REJECTED {rejection.reason.value} by {rejection.rejected_by}: {rejection.detail}")
    for line in evidence_lines(patch.regression):
        out(line, markup=False)


@app.command("diff")
@reports_errors
def diff(ctx: typer.Context, patch_id: str, patches_topic: PatchesTopic = PATCHES_TOPIC) -> None:
    """The operations as a rule-level diff, and the regression evidence."""
    cli = cli_context(ctx)
    _, patch = _load(cli, patch_id, patches_topic)
    _print_diff(cli, patch)


@app.command("approve")
@reports_errors
def approve_patch(
    ctx: typer.Context,
    patch_id: str,
    *,
    key: Annotated[str, typer.Option("--key", help="The name of the key to sign with.")],
    role: Annotated[
        str | None, typer.Option("--role", help="The role to sign in, if the key holds several.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    passphrase: Passphrase = None,
    patches_topic: PatchesTopic = PATCHES_TOPIC,
    operator: OperatorOption = None,
) -> None:
    """Check, show, confirm, sign and publish a PatchApproved, in the name of the operator."""
    cli = cli_context(ctx)
    record, patch = _load(cli, patch_id, patches_topic)
    now = datetime.now(UTC)
    root = load_root_file(cli.settings.effective_trust_root_path, now).root
    effective = [r for r in record.rejections if rejection_counts(root, r, IgnoredCounter())]
    if effective:
        raise InvalidInputError(
            f"patch {patch.patch_id} was rejected by the releaser role "
            f"({effective[0].rejected_by}: {effective[0].detail}); it cannot be approved"
        )
    for rejection in record.rejections:
        cli.console.print(
            f"note: an unsigned rejection by {rejection.rejected_by} ({rejection.detail}) is on "
            "record; it takes nothing away"
        )
    store = key_store(ctx)
    private = signing_key(store, key, passphrase)
    signing_role = _role(root, key_id(private.public_key()), role)
    _precheck(cli, root, record, patch, now)
    _print_diff(cli, patch)
    if not yes and not typer.confirm(f"sign patch {patch.patch_id} as {signing_role}?"):
        raise typer.Exit(1)
    event = approve(
        patch,
        private,
        role=signing_role,
        producer=cli.settings.identity,
        operator=person(operator),
    )
    PatchLedger(cli.settings, topic=patches_topic).publish(event)
    cli.console.print(
        f"patch {patch.patch_id} approved by {event.operator} with key {key} "
        f"({event.key_id[:12]}) as {signing_role}"
    )


@app.command("reject")
@reports_errors
def reject(
    ctx: typer.Context,
    patch_id: str,
    *,
    reason: Annotated[str, typer.Option("--reason", help="Why (required, recorded).")] = "",
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="A releaser key to sign with (repeat for the threshold)."),
    ] = None,
    passphrase: Passphrase = None,
    patches_topic: PatchesTopic = PATCHES_TOPIC,
) -> None:
    """Publish a PatchRejected (HUMAN_REJECTED): signed by releaser keys it takes the patch out of
    every release; unsigned it is a note that changes nothing enforced."""
    if not reason.strip():
        raise InvalidInputError("a rejection needs a reason (--reason)")
    cli = cli_context(ctx)
    _, patch = _load(cli, patch_id, patches_topic)
    event = human_rejection(patch.patch_id, reason.strip(), rejected_by=cli.settings.identity)
    if key:
        store = key_store(ctx)
        event = sign_rejection(event, [signing_key(store, name, passphrase) for name in key])
    PatchLedger(cli.settings, topic=patches_topic).publish(event)
    effect = "signed" if key else "unsigned: a note, it takes nothing away"
    cli.console.print(f"patch {patch.patch_id} rejected ({effect}): {reason.strip()}")


@app.command("export")
@reports_errors
def export(
    ctx: typer.Context,
    patch_id: str,
    out: Annotated[Path, typer.Option("--out", help="The envelope file to write.")],
    patches_topic: PatchesTopic = PATCHES_TOPIC,
) -> None:
    """Write the patch and its approvals as one DSSE envelope file."""
    cli = cli_context(ctx)
    record, patch = _load(cli, patch_id, patches_topic)
    envelope = export_envelope(patch, record.approvals)
    out.write_text(envelope.dumps() + "\n")
    cli.console.print(f"{len(envelope.signatures)} signature(s) of patch {patch.patch_id} in {out}")


def _load(cli: CliContext, patch_id: str, topic: str) -> tuple[PatchRecord, Patch]:
    try:
        parsed = uuid.UUID(patch_id)
    except ValueError:
        raise InvalidInputError(f"{patch_id!r} is not a patch id (a UUID)") from None
    record = PatchLedger(cli.settings, topic=topic).record(parsed)
    return record, patch_from_event(record.proposed)


def _role(root: TrustRoot, keyid: str, asked: str | None) -> str:
    held = [r for r in root.roles_of(keyid) if r in PATCH_ROLES]
    if not held:
        raise InvalidInputError(
            f"key {keyid[:12]} holds no patch role in trust root v{root.version}"
        )
    if asked is not None:
        if asked not in held:
            raise InvalidInputError(f"key {keyid[:12]} does not hold role {asked!r}")
        return asked
    if len(held) > 1:
        raise InvalidInputError(f"key {keyid[:12]} holds {', '.join(held)}: pass --role")
    return held[0]


def _precheck(
    cli: CliContext, root: TrustRoot, record: PatchRecord, patch: Patch, now: datetime
) -> None:
    head = OracleHead(patch.base_version, patch.base_digest)
    verifier = PatchVerifier(root, head)
    verifier.check_freshness(patch, now)
    for approval in record.approvals:
        try:
            verifier.check_signatures(patch, [approval])
        except PatchSecurityError as exc:
            cli.console.print(f"[yellow]warning[/]: an earlier approval fails: {exc}")
        else:
            cli.console.print(f"earlier approval by {approval.key_id[:12]} as {approval.role}: ok")


def _print_diff(cli: CliContext, patch: Patch) -> None:
    base = _base_spec(cli, patch)
    if base is None:
        cli.console.print("(the configured oracle is not this patch's base: old values not shown)")
    for line in [*diff_lines(patch, base), "", *evidence_lines(patch.regression)]:
        cli.console.print(line, markup=False, highlight=False)


def _base_spec(cli: CliContext, patch: Patch) -> ArtifactSpec | None:
    try:
        artifact = load_artifact(oracle_path(cli.settings))
    except PolicyDocumentError:
        return None
    return artifact.spec if artifact.digest == patch.base_digest else None
