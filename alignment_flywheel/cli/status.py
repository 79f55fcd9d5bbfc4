"""The status of the stack as one table: broker, topic catalog (topics and ACLs), ClickHouse.

A cluster without an authorizer has no ACLs to compare: the topics row says so, and is healthy
when the topics match."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.stack.access import NoAuthorizerError, check_access
from alignment_flywheel.stack.broker import LocalBroker, remote_status
from alignment_flywheel.stack.clickhouse import clickhouse_client
from alignment_flywheel.stack.topics import Catalog, check_catalog, load_catalog


def stack_status(settings: Settings) -> list[tuple[str, bool, str]]:
    """(component, healthy, detail) for the broker, the topics and ClickHouse."""
    rows = [_broker_row(settings)]
    rows.append(_topics_row(settings) if rows[0][1] else ("topics", False, "broker unreachable"))
    rows.append(_clickhouse_row(settings))
    return rows


def render_status(settings: Settings, console: Console) -> bool:
    """Print the status table; True when every component is healthy."""
    table = Table(title="Alignment Flywheel stack")
    table.add_column("component")
    table.add_column("state")
    table.add_column("detail")
    rows = stack_status(settings)
    for name, healthy, detail in rows:
        table.add_row(name, "[green]ok[/]" if healthy else "[red]down[/]", detail)
    console.print(table)
    return all(healthy for _name, healthy, _detail in rows)


def _broker_row(settings: Settings) -> tuple[str, bool, str]:
    try:
        status = (
            LocalBroker(settings).status()
            if settings.uses_local_broker
            else remote_status(settings)
        )
    except FlywheelError as exc:
        return ("kafka", False, str(exc))
    return ("kafka", status.running, status.describe())


def _topics_row(settings: Settings) -> tuple[str, bool, str]:
    try:
        catalog = load_catalog()
        admin = admin_client(settings)
        drift = [str(d) for d in check_catalog(admin, catalog)]
        acls = _acl_lines(admin, catalog)
    except FlywheelError as exc:
        return ("topics", False, str(exc))
    differences = drift + (acls or [])
    if differences:
        detail = f"{len(differences)} differences from the catalog: {differences[0]}"
        return ("topics", False, detail)
    ok = f"{len(catalog.topics)} topics match infra/topics.yaml"
    return ("topics", True, ok + (", and their ACLs" if acls is not None else ""))


def _acl_lines(admin: AdminClient, catalog: Catalog) -> list[str] | None:
    """The ACL differences, or None when the cluster has no authorizer."""
    try:
        return list(check_access(admin, catalog).lines())
    except NoAuthorizerError:
        return None


def _clickhouse_row(settings: Settings) -> tuple[str, bool, str]:
    try:
        with clickhouse_client(settings) as client:
            version = client.server_version
    except FlywheelError as exc:
        return ("clickhouse", False, str(exc))
    return ("clickhouse", True, f"{settings.effective_clickhouse_url} (ClickHouse {version})")
