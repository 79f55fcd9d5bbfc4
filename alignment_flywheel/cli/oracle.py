"""``flywheel oracle explain``: which rules of an oracle artifact run on the fast path and which on
the CEL engine, and why (:mod:`alignment_flywheel.oracle.fastpath`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.fastpath import explain as explain_rules
from alignment_flywheel.oracle.loader import oracle_path

app = typer.Typer(help="The oracle artifact: how its rules are evaluated.", no_args_is_help=True)


@app.command()
@reports_errors
def explain(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Artifact file (default: the settings' oracle).")
    ] = None,
) -> None:
    """List each rule with the engine that evaluates it: the fast path, or CEL and why."""
    cli = cli_context(ctx)
    settings = cli.settings
    artifact = load_artifact(path or oracle_path(settings))
    reasons = explain_rules([rule.spec.when for rule in artifact.rules])
    table = Table(title=f"oracle {artifact.spec.name} v{artifact.version}")
    for column in ("rule", "tools", "engine", "why"):
        table.add_column(column)
    for rule, reason in zip(artifact.rules, reasons, strict=True):
        engine = "fast" if reason is None else "cel"
        table.add_row(rule.spec.id, ", ".join(rule.spec.tools), engine, reason or "")
    console = cli.console
    console.print(table)
    fast = sum(reason is None for reason in reasons)
    console.print(f"{fast} of {len(reasons)} rules on the fast path, {len(reasons) - fast} on CEL")
