"""`flywheel console`: the operators of the review console (served by `flywheel serve`).

``operator add NAME`` asks for a password twice (or reads one line from stdin with
``--password-stdin``) and stores its scrypt hash in the operators file
(``<state_dir>/console/operators.json``, or ``--operators``); adding an existing name replaces its
password. ``--key NAME`` (a key in the keys directory, its ``.pub`` is enough) or ``--key-id HEX``,
repeatable, bind the operator to those signing keys: the console then refuses approvals the
operator signs with any other key; without them the keys already bound are kept.
``operator list`` names the operators and their keys. Passwords are never printed nor logged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.output import Column, OutputFormat, OutputOption, emit
from alignment_flywheel.console.auth import Operators, operators_path
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import key_id

app = typer.Typer(help="The review console's operators.", no_args_is_help=True)
operator_app = typer.Typer(help="Add or list console operators.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")

OperatorsFile = Annotated[
    Path | None,
    typer.Option("--operators", help="Default: <state_dir>/console/operators.json."),
]


def _operators(ctx: typer.Context, path: Path | None) -> Operators:
    return Operators(path or operators_path(cli_context(ctx).settings))


@operator_app.command("add")
@reports_errors
def add(
    ctx: typer.Context,
    name: str,
    *,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    key: Annotated[
        list[str] | None, typer.Option("--key", help="A signing key (by name) of the operator.")
    ] = None,
    key_ids: Annotated[
        list[str] | None, typer.Option("--key-id", help="A signing key id of the operator.")
    ] = None,
    operators: OperatorsFile = None,
) -> None:
    """Add an operator (or set a new password for one), optionally bound to signing keys."""
    cli = cli_context(ctx)
    store_keys = KeyStore(cli.settings.effective_keys_dir)
    bound = [key_id(store_keys.public(n)) for n in key or []] + list(key_ids or [])
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    store = _operators(ctx, operators)
    store.add(name, password, keys=bound or None)
    kept = store.keys_of(name)
    keys = f", keys {', '.join(k[:12] for k in kept)}" if kept else ""
    cli.console.print(f"operator {name} saved in {store.path}{keys}")


@operator_app.command("list")
@reports_errors
def list_operators(
    ctx: typer.Context, operators: OperatorsFile = None, output: OutputOption = OutputFormat.TABLE
) -> None:
    """The operators who may log in, and the keys each may sign with."""
    store = _operators(ctx, operators)
    rows = [{"name": name, "keys": list(store.keys_of(name))} for name in sorted(store.load())]
    for row in rows:
        row["shown"] = ", ".join(k[:12] for k in row["keys"]) or "any approver key"
    emit(
        rows,
        (Column("name", "operator", 24), Column("shown", "may sign with", 54)),
        output=output,
        title=f"{len(rows)} operator(s) in {store.path}",
        empty=f"no operators in {store.path}",
    )
