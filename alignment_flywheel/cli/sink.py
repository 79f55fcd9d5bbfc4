"""`flywheel sink run`: store the events of the topics in the ClickHouse tables, exactly once.

The sink resumes from the progress stored in ClickHouse itself (see
``alignment_flywheel/connectors/clickhouse/sink.py``), so it can be stopped, killed and restarted
at any time. It prints one line per stored batch.

Started before the broker, it waits: each failed probe logs one line on stderr (``waiting for
Kafka at <servers>: <why>; retrying in N s``) and the pause doubles up to :data:`MAX_PAUSE_S`,
until the broker answers or the process is stopped (then it exits 0 having stored nothing).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.clickhouse.sink import ClickHouseSink, SinkOptions, SinkStats
from alignment_flywheel.errors import CredentialsError, KafkaTransportError
from alignment_flywheel.kafka.clients import list_metadata, quiet_admin_client
from alignment_flywheel.kafka.deadletter import DEFAULT_DEAD_LETTER_TOPIC
from alignment_flywheel.stack.clickhouse import clickhouse_client, redact

app = typer.Typer(help="The ClickHouse sink: topics into analytics tables.", no_args_is_help=True)
FIRST_PAUSE_S = 1.0
MAX_PAUSE_S = 30.0
PROBE_TIMEOUT_S = 5.0


def _probe(settings: Settings) -> Callable[[], object]:
    return lambda: list_metadata(quiet_admin_client(settings), PROBE_TIMEOUT_S)


def wait_for_broker(
    where: str,
    probe: Callable[[], object],
    stop: threading.Event,
    *,
    say: Callable[[str], None],
    first_pause_s: float = FIRST_PAUSE_S,
    max_pause_s: float = MAX_PAUSE_S,
) -> bool:
    """Call ``probe`` until it answers (True) or ``stop`` is set (False), saying each wait."""
    pause = first_pause_s
    while not stop.is_set():
        try:
            probe()
            return True
        except (KafkaTransportError, CredentialsError) as exc:
            say(f"waiting for Kafka at {where}: {exc}; retrying in {pause:g} s")
        stop.wait(pause)
        pause = min(pause * 2, max_pause_s)
    return False


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Option("--name", help="sink name; its progress is kept")] = (
        "clickhouse"
    ),
    topics: Annotated[
        list[str] | None, typer.Option("--topic", help="topic to read (repeat); default: all")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=500_000)] = 50_000,
    linger_s: Annotated[float, typer.Option("--linger", help="seconds to fill a batch")] = 0.5,
    until_end: Annotated[
        bool, typer.Option("--until-end", help="stop once the topics' current ends are stored")
    ] = False,
    dead_letter_topic: Annotated[
        str, typer.Option("--dead-letter-topic", help="where undecodable records go")
    ] = DEFAULT_DEAD_LETTER_TOPIC,
    idle_timeout: Annotated[
        float | None, typer.Option("--idle-timeout", help="stop after this many idle seconds")
    ] = None,
    max_rejections: Annotated[
        int,
        typer.Option(
            "--max-rejections", min=1, help="stop after the server rejects this many in a row"
        ),
    ] = 5,
) -> None:
    """Run the sink until SIGTERM/Ctrl-C (or --until-end / --idle-timeout)."""
    settings = cli_context(ctx).settings
    options = SinkOptions(
        name=name,
        topics=tuple(topics or ()),
        batch_size=batch_size,
        linger_s=linger_s,
        dead_letter_topic=dead_letter_topic,
        max_rejections=max_rejections,
    )
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def _report(stats: SinkStats) -> None:
        typer.echo(
            f"batch {stats.batches}: {stats.rows} rows stored, {stats.records} records read, "
            f"{stats.skipped} already stored, {stats.passed_over} passed over, "
            f"{stats.dead_lettered} dead-lettered"
        )

    typer.echo(f"sink {name} -> {redact(settings.effective_clickhouse_url)}")
    where = settings.bootstrap_servers or "the local broker"
    if not wait_for_broker(where, _probe(settings), stop, say=lambda s: typer.echo(s, err=True)):
        typer.echo("stopped before Kafka answered: nothing stored")
        return
    with ClickHouseSink(
        settings, lambda: clickhouse_client(settings), options, on_batch=_report
    ) as sink:
        typer.echo(f"reading {', '.join(sink.topics)}")
        stats = sink.run(stop=stop, until_end=until_end, idle_timeout=idle_timeout)
    typer.echo(f"stopped: {stats.rows} rows stored in {stats.batches} batches")
