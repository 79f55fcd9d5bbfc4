"""`flywheel trust`: create, show, rotate and publish the signed trust root.

``init`` builds version 1 from named keys (``flywheel keys``; a ``.pub`` file is enough for keys
that do not sign here), signs it with the root keys available locally and writes it to the trust
root file (``settings.effective_trust_root_path``) only if it is self-signed. ``rotate`` builds
version N+1 (roles and thresholds not named are kept), signs it with ``--sign-with`` keys (default:
every local private key of the old and new root role) and writes it only if it passes every
rotation rule; the old file is kept as ``root.vN.json``. ``publish`` puts the file's root on the
trust topic, keyed ``root``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.keys import Passphrase, key_store, signing_key
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import (
    ROLES,
    TRUST_TOPIC,
    Role,
    SignedRoot,
    TrustRoot,
    bootstrap,
    build_root,
    load_root_file,
    rotate,
    save_root,
    sign_root,
    trust_event,
)

app = typer.Typer(help="The signed trust root: keys, roles, thresholds.", no_args_is_help=True)

KeyNames = list[str] | None
RootKey = Annotated[KeyNames, typer.Option("--root-key", help="A root key name (repeat).")]
AuthorKey = Annotated[KeyNames, typer.Option("--author-key", help="An author key (repeat).")]
ApproverKey = Annotated[KeyNames, typer.Option("--approver-key", help="An approver key (repeat).")]
ReleaserKey = Annotated[KeyNames, typer.Option("--releaser-key", help="A releaser key (repeat).")]
Threshold = Annotated[
    list[str] | None, typer.Option("--threshold", help="role=N, m of the role's n keys (repeat).")
]
ExpiresDays = Annotated[int, typer.Option("--expires-days", min=1, help="Days until it expires.")]
RootFile = Annotated[Path | None, typer.Option("--file", help="The trust root file.")]
SignWith = Annotated[KeyNames, typer.Option("--sign-with", help="A key to sign with (repeat).")]


@app.command("init")
@reports_errors
def init(
    ctx: typer.Context,
    *,
    root_key: RootKey = None,
    author_key: AuthorKey = None,
    approver_key: ApproverKey = None,
    releaser_key: ReleaserKey = None,
    threshold: Threshold = None,
    expires_days: ExpiresDays = 365,
    file: RootFile = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    passphrase: Passphrase = None,
) -> None:
    """Create trust root version 1, signed by its root keys."""
    cli = cli_context(ctx)
    path = file or cli.settings.effective_trust_root_path
    if path.exists() and not force:
        raise InvalidInputError(f"{path} exists; rotate it, or pass --force")
    store = key_store(ctx)
    names = _names(root_key, author_key, approver_key, releaser_key)
    root = _build(
        store, version=1, expires_days=expires_days, names=names, thresholds=_thresholds(threshold)
    )
    signers = _local_keys(store, names["root"], passphrase)
    signed = sign_root(root, signers)
    now = datetime.now(UTC)
    load_root_file_check(signed, now)
    save_root(path, signed)
    cli.console.print(f"trust root v1 written to {path}")
    _print_root(ctx, signed)


@app.command("show")
@reports_errors
def show(ctx: typer.Context, file: RootFile = None) -> None:
    """The trust root in the file: version, expiry, keys, roles."""
    cli = cli_context(ctx)
    signed = load_root_file(file or cli.settings.effective_trust_root_path, datetime.now(UTC))
    _print_root(ctx, signed)


@app.command("rotate")
@reports_errors
def rotate_root(
    ctx: typer.Context,
    *,
    root_key: RootKey = None,
    author_key: AuthorKey = None,
    approver_key: ApproverKey = None,
    releaser_key: ReleaserKey = None,
    threshold: Threshold = None,
    expires_days: ExpiresDays = 365,
    sign_with: SignWith = None,
    file: RootFile = None,
    passphrase: Passphrase = None,
) -> None:
    """Write the next trust root version, signed by the old and the new root thresholds."""
    cli = cli_context(ctx)
    path = file or cli.settings.effective_trust_root_path
    now = datetime.now(UTC)
    old = load_root_file(path, now)
    store = key_store(ctx)
    names = {**_kept_names(old.root), **_given(root_key, author_key, approver_key, releaser_key)}
    thresholds = {**{r: old.root.roles[r].threshold for r in ROLES}, **_thresholds(threshold)}
    root = _build(
        store,
        version=old.version + 1,
        expires_days=expires_days,
        names=names,
        thresholds=thresholds,
        old=old.root,
    )
    signer_names = sign_with or sorted({*_kept_names(old.root)["root"], *names["root"]})
    signed = rotate(old, sign_root(root, _local_keys(store, signer_names, passphrase)).text(), now)
    save_root(path.with_name(f"root.v{old.version}.json"), old)
    save_root(path, signed)
    cli.console.print(f"trust root v{signed.version} written to {path}")
    _print_root(ctx, signed)


@app.command("publish")
@reports_errors
def publish(
    ctx: typer.Context,
    file: RootFile = None,
    topic: Annotated[str, typer.Option("--topic", help="The trust topic.")] = TRUST_TOPIC,
) -> None:
    """Publish the file's trust root on the trust topic (key "root")."""
    cli = cli_context(ctx)
    signed = load_root_file(file or cli.settings.effective_trust_root_path, datetime.now(UTC))
    codec = EventCodec.from_settings(cli.settings)
    with EventProducer(cli.settings, codec) as producer:
        producer.send(topic, trust_event(signed, cli.settings.identity))
    cli.console.print(f"trust root v{signed.version} published on {topic}")


def load_root_file_check(signed: SignedRoot, now: datetime) -> None:
    """Refuse to write a root that would not bootstrap (not self-signed, or expired)."""
    bootstrap(signed.text(), now)


def _names(*given: KeyNames) -> dict[Role, list[str]]:
    names = dict(zip(ROLES, (list(g or []) for g in given), strict=True))
    empty = [role for role, keys in names.items() if not keys]
    if empty:
        raise InvalidInputError(f"no key for role(s) {', '.join(empty)}: pass --{empty[0]}-key")
    return names


def _given(*given: KeyNames) -> dict[Role, list[str]]:
    return {role: list(g) for role, g in zip(ROLES, given, strict=True) if g}


def _kept_names(root: TrustRoot) -> dict[Role, list[str]]:
    return {role: [root.keys[k].name for k in root.roles[role].keyids] for role in ROLES}


def _thresholds(raw: list[str] | None) -> dict[Role, int]:
    result: dict[Role, int] = {}
    for item in raw or []:
        role, _, number = item.partition("=")
        if role not in ROLES or not number.isdigit():
            raise InvalidInputError(f"--threshold {item!r}: expected role=N, role in {ROLES}")
        result[role] = int(number)
    return result


def _build(
    store: KeyStore,
    *,
    version: int,
    expires_days: int,
    names: dict[Role, list[str]],
    thresholds: dict[Role, int],
    old: TrustRoot | None = None,
) -> TrustRoot:
    known = {} if old is None else {e.name: e.public_key for e in old.keys.values()}
    wanted = {name for keys in names.values() for name in keys}
    publics = {n: known[n] if n in known else public_hex(store.public(n)) for n in wanted}
    return build_root(
        version=version,
        expires=datetime.now(UTC).replace(microsecond=0) + timedelta(days=expires_days),
        keys=publics,
        roles=names,
        thresholds=thresholds,
    )


def _local_keys(
    store: KeyStore, names: list[str], passphrase: str | None
) -> list[Ed25519PrivateKey]:
    found = [n for n in names if store.private_path(n).is_file()]
    if not found:
        raise InvalidInputError(f"none of the keys {', '.join(names)} has a private key here")
    return [signing_key(store, name, passphrase) for name in found]


def _print_root(ctx: typer.Context, signed: SignedRoot) -> None:
    console = cli_context(ctx).console
    root = signed.root
    console.print(
        f"trust root v{root.version}, expires {root.expires.isoformat()}, "
        f"{len(signed.envelope.signatures)} signature(s)"
    )
    table = Table()
    for column in ("role", "threshold", "keys"):
        table.add_column(column, overflow="fold")
    for role in ROLES:
        spec = root.roles[role]
        keys = ", ".join(f"{root.keys[k].name} ({k[:12]})" for k in spec.keyids)
        table.add_row(role, f"{spec.threshold} of {len(spec.keyids)}", keys)
    console.print(table)
