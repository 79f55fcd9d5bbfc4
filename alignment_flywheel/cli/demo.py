"""`flywheel demo`: the main job. Brings up the local stack, proves the event path, shows status.

Steps: start the broker (fetching its artifacts the first time) unless a cluster is configured;
provision the topic catalog; apply the ClickHouse migrations; send one event of every type through
the topics and read each back; send one malformed record and show it dead-lettered; decide a
handful of agent tool calls with the default oracle and risk policy through the SDK, publish them
and read the verdicts back; print the status.
The local broker is stopped at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import threading
import time

import typer
from rich.console import Console
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.demo_runtime import decide_sample_calls
from alignment_flywheel.cli.status import render_status
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.consumer import EventConsumer
from alignment_flywheel.connectors.producer import EventProducer
from alignment_flywheel.events import Event
from alignment_flywheel.samples import sample_events
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from alignment_flywheel.stack.kafka import admin_client
from alignment_flywheel.stack.topics import apply_catalog, load_catalog

DEAD_LETTER_TOPIC = "flywheel.deadletter"
DEMO_GROUP = "flywheel-demo"


@reports_errors
def demo(
    ctx: typer.Context,
    keep: bool = typer.Option(False, "--keep", help="Leave the local broker running."),
) -> None:
    """Bring up the local stack, send every event type through Kafka, show the status."""
    cli = cli_context(ctx)
    settings, console = cli.settings, cli.console
    broker = LocalBroker(settings) if settings.uses_local_broker else None
    try:
        _bring_up(settings, console, broker)
        _prove_event_path(settings, console)
        decide_sample_calls(settings, console)
        render_status(settings, console)
    finally:
        if broker is not None and not keep:
            with console.status("stopping the local broker"):
                broker.stop()
            console.print("local broker stopped (run with --keep to leave it up)")


def _bring_up(settings: Settings, console: Console, broker: LocalBroker | None) -> None:
    if broker is not None:
        with console.status("starting the local Kafka broker (first run fetches its jars)"):
            started = time.perf_counter()
            broker.start()
        console.print(f"broker ready in {time.perf_counter() - started:.1f} s")
    with console.status("provisioning topics"):
        report = apply_catalog(admin_client(settings), load_catalog())
    console.print(f"topics: {report.summary()}")
    with console.status("applying ClickHouse migrations"):
        applied = apply_migrations(clickhouse_client(settings))
    console.print(
        f"ClickHouse at {settings.effective_clickhouse_url}: {len(applied)} migrations applied"
    )


def _prove_event_path(settings: Settings, console: Console) -> None:
    codec = EventCodec.from_settings(settings)
    catalog = load_catalog()
    routes = [(event, catalog.topic_for(type(event).__name__)) for event in sample_events()]
    with EventProducer(settings, codec) as producer:
        for event, topic in routes:
            producer.send(topic, event)
        producer.send_bytes(routes[0][1], b"demo", b"not an event")
    wanted = {event.envelope.event_id for event, _topic in routes}
    seen: set[str] = set()
    done = threading.Event()

    def handler(event: Event, _msg: object) -> None:
        if event.envelope.event_id in wanted:
            seen.add(type(event).__name__)
            if len(seen) == len(routes):
                done.set()

    with EventConsumer(
        settings,
        codec,
        group_id=DEMO_GROUP,
        topics=sorted({topic for _event, topic in routes}),
        handler=handler,
        dead_letter_topic=DEAD_LETTER_TOPIC,
    ) as consumer:
        consumer.run(stop=done, idle_timeout=30)
        dead_lettered = consumer.stats.dead_lettered
    _print_event_table(console, routes, seen, dead_lettered)


def _print_event_table(
    console: Console, routes: list[tuple[Event, str]], seen: set[str], dead_lettered: int
) -> None:
    table = Table(title="every event type through Kafka")
    table.add_column("event")
    table.add_column("topic")
    table.add_column("read back")
    for event, topic in routes:
        name = type(event).__name__
        table.add_row(name, topic, "yes" if name in seen else "[red]no[/]")
    console.print(table)
    console.print(f"malformed records dead-lettered to {DEAD_LETTER_TOPIC}: {dead_lettered}")
    if len(seen) < len(routes):
        raise typer.Exit(1)
