"""`flywheel keys`: named Ed25519 signing keys under the keys directory.

``new NAME`` writes ``NAME.key`` (mode 0600, encrypted with a passphrase when ``--encrypt``; the
passphrase is read from ``FLYWHEEL_KEY_PASSPHRASE`` or asked for) and ``NAME.pub``, and prints the
key id and the public key; ``list`` shows every key. Loading an encrypted key for signing asks for
its passphrase the same way.
"""

from __future__ import annotations

from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.output import Column, OutputFormat, OutputOption, emit
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import key_id, public_hex

app = typer.Typer(help="Signing keys (Ed25519).", no_args_is_help=True)

PASSPHRASE_ENV = "FLYWHEEL_KEY_PASSPHRASE"
Passphrase = Annotated[
    str | None,
    typer.Option(
        "--passphrase", envvar=PASSPHRASE_ENV, hidden=True, help="Passphrase of an encrypted key."
    ),
]


def key_store(ctx: typer.Context) -> KeyStore:
    return KeyStore(cli_context(ctx).settings.effective_keys_dir)


def signing_key(store: KeyStore, name: str, passphrase: str | None) -> Ed25519PrivateKey:
    """The named private key, asking for its passphrase if it is encrypted and none was given."""
    if passphrase is None and store.needs_passphrase(name):
        passphrase = typer.prompt(f"passphrase of key {name}", hide_input=True)
    return store.private(name, passphrase.encode() if passphrase else None)


@app.command("new")
@reports_errors
def new(
    ctx: typer.Context,
    name: str,
    encrypt: Annotated[
        bool, typer.Option("--encrypt", help="Encrypt the private key with a passphrase.")
    ] = False,
    passphrase: Passphrase = None,
) -> None:
    """Generate a key NAME; print its key id and public key."""
    if encrypt and not passphrase:
        passphrase = typer.prompt("passphrase", hide_input=True, confirmation_prompt=True)
    store = key_store(ctx)
    private = store.new(name, passphrase.encode() if encrypt and passphrase else None)
    console = cli_context(ctx).console
    console.print(f"key {name} written to {store.private_path(name)}")
    console.print(f"key id:     {key_id(private.public_key())}")
    console.print(f"public key: {public_hex(private.public_key())}")


@app.command("list")
@reports_errors
def list_keys(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """Every key in the keys directory."""
    cli = cli_context(ctx)
    keys = key_store(ctx).list()
    emit(
        [
            {
                "name": info.name,
                "key_id": info.key_id,
                "private": info.has_private,
                "public_key": info.public_key,
            }
            for info in keys
        ],
        (
            Column("name", "name", 20),
            Column("key_id", "key id", 20),
            Column("private", "private", 7),
            Column("public_key", "public key", 20),
        ),
        output=output,
        title=f"{len(keys)} key(s) in {cli.settings.effective_keys_dir}",
        empty=f"no keys in {cli.settings.effective_keys_dir}",
    )
