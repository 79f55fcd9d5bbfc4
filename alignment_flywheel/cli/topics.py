"""`flywheel topics`: apply the topic catalog, check a cluster against it, list it.

``apply`` creates, reconfigures and grows topics, never deletes or shrinks; it exits 1 when
differences it must not fix remain. ``check`` changes nothing and exits 1 on any difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.config import Settings
from alignment_flywheel.stack.broker import require_cluster
from alignment_flywheel.stack.kafka import admin_client
from alignment_flywheel.stack.topics import (
    ApplyReport,
    Catalog,
    Drift,
    apply_catalog,
    check_catalog,
    load_catalog,
)

app = typer.Typer(
    help="The topic catalog (infra/topics.yaml): apply, check, list.", no_args_is_help=True
)

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="Catalog file to use instead of infra/topics.yaml.",
        dir_okay=False,
    ),
]


@app.command("apply")
@reports_errors
def apply(ctx: typer.Context, catalog: CatalogOption = None) -> None:
    """Create missing topics, set differing configs, add partitions. Idempotent."""
    cli = cli_context(ctx)
    loaded = load_catalog(catalog)
    report = apply_catalog(_admin(cli.settings), loaded)
    print_apply_report(cli.console, report)
    if report.drift:
        raise typer.Exit(1)


@app.command("check")
@reports_errors
def check(ctx: typer.Context, catalog: CatalogOption = None) -> None:
    """Report every difference between the catalog and the cluster (exit 1 if any)."""
    cli = cli_context(ctx)
    loaded = load_catalog(catalog)
    drift = check_catalog(_admin(cli.settings), loaded)
    if not drift:
        cli.console.print(f"[green]{len(loaded.topics)} topics match the catalog[/]")
        return
    print_drift(cli.console, drift, title=f"{len(drift)} differences from the catalog")
    raise typer.Exit(1)


@app.command("list")
@reports_errors
def list_topics(ctx: typer.Context, catalog: CatalogOption = None) -> None:
    """Show the catalog: every topic, its kind, partitions, settings and event types."""
    cli = cli_context(ctx)
    cli.console.print(catalog_table(load_catalog(catalog)))


def _admin(settings: Settings) -> AdminClient:
    require_cluster(settings)
    return admin_client(settings)


def print_apply_report(console: Console, report: ApplyReport) -> None:
    """The changes made (a table), then what was left alone."""
    if report.changes:
        table = Table(title="topic changes")
        for column in ("topic", "change", "detail"):
            table.add_column(column)
        for change in report.changes:
            table.add_row(change.topic, change.action, change.detail)
        console.print(table)
    console.print(f"topics: {report.summary()}")
    if report.drift:
        print_drift(console, report.drift, title="differences apply does not fix")


def print_drift(console: Console, drift: list[Drift], title: str) -> None:
    table = Table(title=title)
    for column in ("topic", "aspect", "cluster", "catalog", "apply fixes it"):
        table.add_column(column)
    for item in drift:
        table.add_row(
            item.topic,
            item.aspect,
            item.actual or "-",
            item.expected,
            "yes" if item.fixable else "[red]no[/]",
        )
    console.print(table)


def catalog_table(catalog: Catalog) -> Table:
    table = Table(title=f"topic catalog (replication factor {catalog.replication_factor})")
    for column in ("topic", "kind", "partitions", "config", "events"):
        table.add_column(column)
    for spec in catalog.topics:
        config = "\n".join(f"{key}={value}" for key, value in spec.config.items())
        table.add_row(
            spec.name, spec.kind, str(spec.partitions), config, ", ".join(spec.events) or "-"
        )
    return table
