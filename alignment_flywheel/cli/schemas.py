"""`flywheel schemas`: check the Avro contract and freeze released versions.

``check`` exits 1, naming each event and problem, when a schema file is invalid, a change is not
frozen, or a kept version is not backward and forward compatible with every earlier one.
``freeze`` writes ``history/<Event>/v<N>.avsc`` for every changed event, if all changes are
compatible; otherwise it writes nothing and exits 1.
``docs`` renders the event catalog (``docs/events.md``) from the contract and the topic catalog,
and the role graph and table of ``docs/architecture.md`` from the role registry; with ``--check``
it writes nothing and exits 1 when a page is missing or out of date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from alignment_flywheel.cli.catalog_docs import render_catalog
from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.role_docs import splice_roles
from alignment_flywheel.codec.evolution import check_schemas, freeze_schemas
from alignment_flywheel.errors import InvalidInputError
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


@app.command("docs")
@reports_errors
def docs(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The page to write.", dir_okay=False)] = Path(
        "docs/events.md"
    ),
    architecture: Annotated[
        Path, typer.Option("--architecture", help="The page with the role graph.", dir_okay=False)
    ] = Path("docs/architecture.md"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a page is not current.")
    ] = False,
    schemas_dir: SchemasDir = SCHEMAS_DIR,
) -> None:
    """Render the event catalog (topics, keys, versions, fields) from the Avro contract, and the
    role graph and table of the architecture page from the role registry."""
    console = cli_context(ctx).console
    if not architecture.is_file():
        raise InvalidInputError(f"{architecture} does not exist: it holds the role graph")
    pages = {
        out: render_catalog(schemas_dir),
        architecture: splice_roles(architecture.read_text(encoding="utf-8")),
    }
    stale = [page for page, text in pages.items() if not _update(console, page, text, check)]
    if stale:
        raise typer.Exit(1)


def _update(console: Console, page: Path, text: str, check: bool) -> bool:
    """Write ``text`` to ``page`` unless it is current (or ``check``); whether it was current."""
    current = page.read_text(encoding="utf-8") if page.is_file() else None
    if current == text:
        console.print(f"[green]✓[/] {escape(str(page))} is current", soft_wrap=True)
        return True
    if check:
        console.print(
            f"[bold red]✗[/] {escape(str(page))} is not current: run `flywheel schemas docs`",
            soft_wrap=True,
        )
        return False
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    console.print(f"[green]wrote[/] {escape(str(page))}", soft_wrap=True)
    return True
