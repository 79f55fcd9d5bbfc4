"""The status of the stack as one table: broker, topic catalog, ClickHouse."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.stack.broker import LocalBroker, remote_status
from alignment_flywheel.stack.clickhouse import clickhouse_client
from alignment_flywheel.stack.kafka import admin_client
from alignment_flywheel.stack.topics import check_catalog, load_catalog


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
        drift = check_catalog(admin_client(settings), catalog)
    except FlywheelError as exc:
        return ("topics", False, str(exc))
    if drift:
        return ("topics", False, f"{len(drift)} differences from the catalog: {drift[0]}")
    return ("topics", True, f"{len(catalog.topics)} topics match infra/topics.yaml")


def _clickhouse_row(settings: Settings) -> tuple[str, bool, str]:
    try:
        with clickhouse_client(settings) as client:
            version = client.server_version
    except FlywheelError as exc:
        return ("clickhouse", False, str(exc))
    return ("clickhouse", True, f"{settings.effective_clickhouse_url} (ClickHouse {version})")
