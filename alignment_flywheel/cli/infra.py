"""`flywheel infra`: the local stack (Kafka broker, topics, ClickHouse).

``up`` fetches the broker's jars if needed, starts the broker detached (it keeps running after the
command returns; it authenticates every client and authorizes with ACLs), applies the topic
catalog with its ACLs and the ClickHouse migrations, and prints the status. It names the
credentials directory but never prints a password.
``down`` stops the broker. With ``FLYWHEEL_BOOTSTRAP_SERVERS`` set there is no local broker: ``up``
and ``down`` say so and do nothing, and ``status`` reports on that cluster. ``status`` shows the
brokers, the controller quorum and the partitions' health (DEGRADED, exit 1, while any partition
is offline or under-replicated), and checks the catalog (``--catalog`` names another file).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.output import OutputFormat, OutputOption
from alignment_flywheel.cli.status import emit_status, render_status, stack_status
from alignment_flywheel.cli.topics import print_apply_report
from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.replication import ReplicationPolicy
from alignment_flywheel.stack.access import provision
from alignment_flywheel.stack.artifacts import ensure_kafka_artifacts, kafka_version
from alignment_flywheel.stack.broker import BrokerStatus, LocalBroker, broker_status
from alignment_flywheel.stack.broker import format_duration as duration
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from alignment_flywheel.stack.topics import load_catalog

app = typer.Typer(
    help="The local stack: Kafka broker, topic catalog, ClickHouse.", no_args_is_help=True
)

Timeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the broker.")]


@app.command("up")
@reports_errors
def up(ctx: typer.Context, timeout: Timeout = 60.0) -> None:
    """Start the local broker, apply the topic catalog and the ClickHouse migrations."""
    cli = cli_context(ctx)
    settings, console = cli.settings, cli.console
    if not settings.uses_local_broker:
        _no_local_broker(console, settings, "start")
        return
    with console.status("fetching the Kafka broker jars (first run only)"):
        ensure_kafka_artifacts(settings)
    with console.status("starting the local Kafka broker"):
        started = time.perf_counter()
        status = LocalBroker(settings).start(timeout=timeout)
    console.print(f"broker ready in {time.perf_counter() - started:.1f} s: {status.describe()}")
    where = settings.effective_kafka_credentials_dir
    console.print(f"Kafka credentials (one file per role, mode 0600): {where}")
    with console.status("applying the topic catalog and its ACLs"):
        policy = ReplicationPolicy.from_settings(settings)
        report, access = provision(admin_client(settings), load_catalog(), policy=policy)
    print_apply_report(console, report)
    console.print(access.summary())
    with console.status("applying the ClickHouse migrations"), clickhouse_client(settings) as ch:
        applied = apply_migrations(ch)
    console.print(f"ClickHouse migrations applied: {', '.join(applied) or 'none pending'}")
    render_status(settings, console)


@app.command("down")
@reports_errors
def down(ctx: typer.Context, timeout: Timeout = 30.0) -> None:
    """Stop the local broker (SIGTERM, then SIGKILL after the timeout)."""
    cli = cli_context(ctx)
    if not cli.settings.uses_local_broker:
        _no_local_broker(cli.console, cli.settings, "stop")
        return
    pid = LocalBroker(cli.settings).stop(timeout=timeout)
    if pid is None:
        cli.console.print("the local broker was not running")
    else:
        cli.console.print(f"stopped the local broker (pid {pid})")


@app.command("status")
@reports_errors
def status(
    ctx: typer.Context,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog", help="Catalog file to check instead of infra/topics.yaml.", dir_okay=False
        ),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The broker (local or configured), controller quorum, partition health, topic drift and
    ClickHouse; exit 1 if anything is down or DEGRADED (partitions offline or under-replicated)."""
    cli = cli_context(ctx)
    broker = broker_status(cli.settings)
    rows = stack_status(cli.settings, catalog)
    facts = {f"kafka {key}": value for key, value in broker_facts(broker).items()}
    emit_status(rows, output, facts)
    if not all(row.healthy for row in rows):
        raise typer.Exit(1)


@app.command("fetch")
@reports_errors
def fetch(ctx: typer.Context) -> None:
    """Only fetch the broker's jars from Maven Central into the cache directory."""
    cli = cli_context(ctx)
    started = time.perf_counter()
    with cli.console.status(f"fetching the Kafka {kafka_version()} jars"):
        libs = ensure_kafka_artifacts(cli.settings)
    jars = len(list(libs.glob("*.jar")))
    cli.console.print(
        f"Kafka {kafka_version()}: {jars} jars in {libs} ({time.perf_counter() - started:.1f} s)"
    )


def broker_facts(status: BrokerStatus) -> dict[str, object]:
    """Every known fact about the broker (local or configured), by name."""
    facts: dict[str, object] = {
        "broker": "local" if status.local else "configured cluster",
        "state": "running" if status.running else "not running",
        "bootstrap": status.bootstrap,
        "version": status.version,
        "pid": status.pid,
        "uptime": duration(status.uptime_s) if status.uptime_s is not None else None,
        "data": status.data_dir,
        "brokers": status.broker_count,
        "topics": status.topic_count,
        "detail": status.detail or None,
    }
    return {key: value for key, value in facts.items() if value is not None}


def _no_local_broker(console: Console, settings: Settings, verb: str) -> None:
    console.print(
        f"FLYWHEEL_BOOTSTRAP_SERVERS is set ({settings.bootstrap_servers}): "
        f"using that cluster, there is no local broker to {verb}."
    )
