"""`flywheel schemas`: check the Avro contract and freeze released versions.

``check`` exits 1, naming each event and problem, when a schema file is invalid, a change is not
frozen, or a kept version is not backward and forward compatible with every earlier one.
``freeze`` writes ``history/<Event>/v<N>.avsc`` for every changed event, if all changes are
compatible; otherwise it writes nothing and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.codec.evolution import check_schemas, freeze_schemas
from alignment_flywheel.resources import SCHEMAS_DIR

app = typer.Typer(help="The Avro contract: check and freeze its versions.", no_args_is_help=True)

SchemasDir = Annotated[
    Path,
    typer.Option(
        "--dir",
        help="The schemas directory (default: the packaged contract).",
        file_okay=False,
        dir_okay=True,
        exists=True,
    ),
]


@app.command("check")
@reports_errors
def check(ctx: typer.Context, schemas_dir: SchemasDir = SCHEMAS_DIR) -> None:
    """Fail unless every schema is valid, frozen, and compatible with every kept version."""
    console = cli_context(ctx).console
    problems = check_schemas(schemas_dir)
    for problem in problems:
        console.print(f"[bold red]✗[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s)[/] in {escape(str(schemas_dir))}")
        raise typer.Exit(1)
    console.print(
        f"[green]✓[/] schemas in {escape(str(schemas_dir))} are valid, frozen and compatible",
        soft_wrap=True,
    )


@app.command("freeze")
@reports_errors
def freeze(ctx: typer.Context, schemas_dir: SchemasDir = SCHEMAS_DIR) -> None:
    """Write a new released version of every event whose schema changed, if all are compatible."""
    console = cli_context(ctx).console
    written = freeze_schemas(schemas_dir)
    for path in written:
        console.print(f"[green]froze[/] {escape(str(path))}", highlight=False, soft_wrap=True)
    if not written:
        console.print("nothing to freeze: every event's newest version is current")
