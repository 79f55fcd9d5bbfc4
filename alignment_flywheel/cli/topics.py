"""`flywheel topics`: apply the topic catalog and its ACLs, check a cluster against them, list them.

``apply`` creates, reconfigures, grows and re-replicates topics (replication factor and
``min.insync.replicas`` from the settings or the cluster's size), never deletes or shrinks, and
creates the ACLs the catalog's roles need (deleting extra ones only with ``--prune-acls``); it
exits 1 when differences it must not fix remain. ``check`` changes nothing and exits 1 on any
difference: topic drift (replication and ``min.insync.replicas`` included), offline or
under-replicated partitions of catalog topics, missing and extra ACL bindings. On a cluster
without an authorizer both say so, in a warning, and leave the ACLs alone; ``--no-acls`` leaves
them alone anyway. ``rights`` prints who may write and read what (``--markdown`` renders the
table of docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.output import Column, OutputFormat, OutputOption, emit
from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.replication import ReplicationPolicy
from alignment_flywheel.stack.access import (
    AccessDrift,
    AccessReport,
    NoAuthorizerError,
    apply_access,
    check_access,
)
from alignment_flywheel.stack.broker import require_cluster
from alignment_flywheel.stack.reassign import reassigner
from alignment_flywheel.stack.rights import rights_markdown, rights_rows
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


NoAclsOption = Annotated[bool, typer.Option("--no-acls", help="Leave access control (ACLs) alone.")]


@app.command("apply")
@reports_errors
def apply(
    ctx: typer.Context,
    catalog: CatalogOption = None,
    no_acls: NoAclsOption = False,
    prune_acls: Annotated[
        bool, typer.Option("--prune-acls", help="Delete ACL bindings the catalog does not ask for.")
    ] = False,
) -> None:
    """Create missing topics, set differing configs, add partitions, move replicas to the wanted
    replication factor; create the roles' ACLs. Idempotent."""
    cli = cli_context(ctx)
    loaded = load_catalog(catalog)
    admin = _admin(cli.settings)
    report = apply_catalog(
        admin,
        loaded,
        policy=ReplicationPolicy.from_settings(cli.settings),
        reassign=reassigner(cli.settings),
    )
    print_apply_report(cli.console, report)
    access = None
    if not no_acls:
        access = apply_access(admin, loaded, prune=prune_acls, require_authorizer=False)
        print_access_report(cli.console, access)
    if report.drift or (access is not None and access.extra):
        raise typer.Exit(1)


@app.command("check")
@reports_errors
def check(ctx: typer.Context, catalog: CatalogOption = None, no_acls: NoAclsOption = False) -> None:
    """Report every difference between the catalog and the cluster, topics and ACLs (exit 1 if
    any)."""
    cli = cli_context(ctx)
    loaded = load_catalog(catalog)
    admin = _admin(cli.settings)
    drift = check_catalog(admin, loaded, ReplicationPolicy.from_settings(cli.settings))
    if drift:
        print_drift(cli.console, drift, title=f"{len(drift)} differences from the catalog")
    else:
        cli.console.print(f"[green]{len(loaded.topics)} topics match the catalog[/]")
    access = AccessDrift() if no_acls else _acl_drift(cli.console, admin, loaded)
    if access:
        print_access_drift(cli.console, access)
    if drift or access:
        raise typer.Exit(1)


@app.command("rights")
@reports_errors
def rights(
    ctx: typer.Context,
    catalog: CatalogOption = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="As a Markdown table.")] = False,
) -> None:
    """Each role's principal and the topics it writes and reads, from the catalog."""
    loaded = load_catalog(catalog)
    if markdown:
        typer.echo(rights_markdown(loaded), nl=False)
        return
    table = Table(title=f"roles and rights ({len(loaded.roles)} roles)")
    for column in ("role", "principal", "writes", "reads", "groups and internal topics"):
        table.add_column(column)
    for row in rights_rows(loaded):
        table.add_row(*row)
    cli_context(ctx).console.print(table)


@app.command("list")
@reports_errors
def list_topics(
    ctx: typer.Context, catalog: CatalogOption = None, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Show the catalog: every topic, its kind, partitions, settings and event types."""
    loaded = load_catalog(catalog)
    factor = loaded.replication_factor or "from the cluster"
    rows = [
        {
            "topic": spec.name,
            "kind": spec.kind,
            "partitions": spec.partitions,
            "events": list(spec.events),
            "config": dict(spec.config),
        }
        for spec in loaded.topics
    ]
    emit(
        rows,
        (
            Column("topic", "topic", 28),
            Column("kind", "kind", 8),
            Column("partitions", "parts", 5),
            Column("events", "events", 60),
        ),
        output=output,
        title=f"topic catalog (replication factor {factor})",
        empty="no topics in the catalog",
        wrap="events",
    )


def _acl_drift(console: Console, admin: AdminClient, catalog: Catalog) -> AccessDrift:
    try:
        drift = check_access(admin, catalog)
    except NoAuthorizerError as exc:
        console.print(f"[yellow]warning[/]: {exc}: any client may write any topic")
        return AccessDrift()
    if not drift:
        console.print(f"[green]the ACLs of {len(catalog.roles)} roles match the catalog[/]")
    return drift


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


def print_access_report(console: Console, report: AccessReport) -> None:
    """The ACL bindings created or deleted, then the extra ones left."""
    for binding in report.created:
        console.print(f"ACL created: {binding}")
    for binding in report.deleted:
        console.print(f"ACL deleted: {binding}")
    console.print(("[yellow]warning[/]: " if report.no_authorizer else "") + report.summary())
    if report.extra:
        print_access_drift(console, AccessDrift(extra=report.extra))


def print_access_drift(console: Console, drift: AccessDrift) -> None:
    table = Table(title=f"{len(drift.missing) + len(drift.extra)} ACL differences")
    for column in ("binding", "principal", "operation", "resource"):
        table.add_column(column)
    for kind, bindings in (("missing", drift.missing), ("[red]extra[/]", drift.extra)):
        for b in bindings:
            star = "*" if b.pattern == "prefixed" else ""
            resource = f"{b.resource} {b.name}{star}"
            table.add_row(kind, b.principal, f"{b.permission} {b.operation}", resource)
    console.print(table)


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
