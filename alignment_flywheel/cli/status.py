"""The status of the stack as one table: broker, controller quorum, partition health, topic
catalog (topics and ACLs), ClickHouse.

The partitions row is DEGRADED while any partition has no leader or fewer in-sync replicas than
replicas; the topics row compares the catalog (``infra/topics.yaml`` or the file given) with the
cluster, replication and ``min.insync.replicas`` included. A cluster without an authorizer has no
ACLs to compare: the topics row says so, and is healthy when the topics match."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from alignment_flywheel.cli.output import Column, OutputFormat, emit
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.replication import ReplicationPolicy
from alignment_flywheel.stack.access import NoAuthorizerError, check_access
from alignment_flywheel.stack.broker import LocalBroker, remote_status
from alignment_flywheel.stack.broker_auth import local_admin_settings
from alignment_flywheel.stack.clickhouse import clickhouse_client
from alignment_flywheel.stack.health import partition_health, quorum_row
from alignment_flywheel.stack.topics import Catalog, check_catalog, load_catalog

DEGRADED = "DEGRADED"


class Row(NamedTuple):
    name: str
    healthy: bool
    detail: str
    degraded: bool = False  # reachable but unhealthy

    @property
    def state(self) -> str:
        if self.healthy:
            return "[green]ok[/]"
        return f"[red]{DEGRADED}[/]" if self.degraded else "[red]down[/]"

    @property
    def plain_state(self) -> str:
        if self.healthy:
            return "ok"
        return DEGRADED if self.degraded else "down"


STATUS_COLUMNS = (
    Column("component", "component", 10),
    Column("state", "state", 8),
    Column("detail", "detail", 60),
)


def stack_status(settings: Settings, catalog: Path | None = None) -> list[Row]:
    """A row for the broker, the quorum, the partitions, the topics and ClickHouse."""
    broker = _broker_row(settings)
    if broker.healthy:
        rows = [broker, *_cluster_rows(settings), _topics_row(settings, catalog)]
    else:
        unreachable = "broker unreachable"
        rows = [broker, *(Row(n, False, unreachable) for n in ("quorum", "partitions", "topics"))]
    return [*rows, _clickhouse_row(settings)]


def emit_status(rows: list[Row], output: OutputFormat, extra: dict[str, Any] | None = None) -> None:
    """The status rows as ``output`` asks (the detail column wraps, nothing is cut)."""
    degraded = [row.name for row in rows if row.degraded]
    facts = dict(extra or {})
    if degraded:
        facts[DEGRADED] = ", ".join(degraded)
    emit(
        [{"component": r.name, "state": r.plain_state, "detail": r.detail} for r in rows],
        STATUS_COLUMNS,
        output=output,
        title="Alignment Flywheel stack",
        empty="no components",
        extra=facts,
        wrap="detail",
    )


def render_status(settings: Settings, console: Console, catalog: Path | None = None) -> bool:
    """Print the status table (and DEGRADED under it when partitions or the quorum are unhealthy);
    True when every component is healthy."""
    table = Table(title="Alignment Flywheel stack")
    table.add_column("component")
    table.add_column("state")
    table.add_column("detail")
    rows = stack_status(settings, catalog)
    for row in rows:
        table.add_row(row.name, row.state, row.detail)
    console.print(table)
    degraded = [row.name for row in rows if row.degraded]
    if degraded:
        console.print(f"[red]{DEGRADED}[/]: {', '.join(degraded)}")
    return all(row.healthy for row in rows)


def _admin_settings(settings: Settings) -> Settings:
    return local_admin_settings(settings) if settings.uses_local_broker else settings


def _broker_row(settings: Settings) -> Row:
    try:
        status = (
            LocalBroker(settings).status()
            if settings.uses_local_broker
            else remote_status(settings)
        )
    except FlywheelError as exc:
        return Row("kafka", False, str(exc))
    return Row("kafka", status.running, status.describe())


def _cluster_rows(settings: Settings) -> list[Row]:
    admin_settings = _admin_settings(settings)
    try:
        health = partition_health(admin_client(admin_settings))
    except FlywheelError as exc:
        return [Row("quorum", False, str(exc)), Row("partitions", False, str(exc))]
    quorum_ok, quorum_detail = quorum_row(admin_settings, health)
    return [
        Row("quorum", quorum_ok, quorum_detail, degraded=not quorum_ok),
        Row("partitions", health.healthy, health.describe(), degraded=not health.healthy),
    ]


def _topics_row(settings: Settings, path: Path | None) -> Row:
    try:
        catalog = load_catalog(path)
        admin = admin_client(settings)
        policy = ReplicationPolicy.from_settings(settings)
        drift = [str(d) for d in check_catalog(admin, catalog, policy)]
        acls = _acl_lines(admin, catalog)
    except FlywheelError as exc:
        return Row("topics", False, str(exc))
    differences = drift + (acls or [])
    if differences:
        return Row(
            "topics", False, f"{len(differences)} differences from the catalog: {differences[0]}"
        )
    ok = f"{len(catalog.topics)} topics match {path or 'infra/topics.yaml'}"
    return Row("topics", True, ok + (", and their ACLs" if acls is not None else ""))


def _acl_lines(admin: AdminClient, catalog: Catalog) -> list[str] | None:
    """The ACL differences, or None when the cluster has no authorizer."""
    try:
        return list(check_access(admin, catalog).lines())
    except NoAuthorizerError:
        return None


def _clickhouse_row(settings: Settings) -> Row:
    try:
        with clickhouse_client(settings) as client:
            version = client.server_version
    except FlywheelError as exc:
        return Row("clickhouse", False, str(exc))
    return Row("clickhouse", True, f"{settings.effective_clickhouse_url} (ClickHouse {version})")
