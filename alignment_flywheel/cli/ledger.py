"""`flywheel ledger run`: the tamper-evident ledger worker.

It appends every record of the audited topics to per-partition RFC 6962 logs and publishes signed
checkpoints (``--key``, a named key of the key store); ``flywheel audit verify`` checks them.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from alignment_flywheel.cli.audit import DEFAULT_KEY, LEDGER_TOPIC
from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.keys import Passphrase, signing_key
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.processors.ledger import (
    AUDITED_TOPICS,
    DEFAULT_EVERY,
    DEFAULT_INTERVAL_MS,
    LedgerTopics,
    LedgerWorker,
)

app = typer.Typer(
    help="The ledger worker: signed Merkle checkpoints of the audited topics.",
    no_args_is_help=True,
)


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    topics: Annotated[
        list[str] | None, typer.Option("--topic", help="Audited topic (repeat); default: all.")
    ] = None,
    ledger_topic: Annotated[str, typer.Option("--ledger-topic")] = LEDGER_TOPIC,
    key: Annotated[str, typer.Option("--key", help="Named signing key.")] = DEFAULT_KEY,
    passphrase: Passphrase = None,
    every: Annotated[int, typer.Option("--every", min=1, help="Checkpoint every N leaves.")] = (
        DEFAULT_EVERY
    ),
    interval_ms: Annotated[int, typer.Option("--interval-ms", min=1)] = DEFAULT_INTERVAL_MS,
    store: Annotated[Path | None, typer.Option("--store", help="Leaf store directory.")] = None,
) -> None:
    """Run the ledger worker until SIGTERM/Ctrl-C (one per deployment)."""
    settings = cli_context(ctx).settings
    private = signing_key(KeyStore(settings.effective_keys_dir), key, passphrase)
    names = LedgerTopics(tuple(topics) if topics else AUDITED_TOPICS, ledger_topic)
    worker = LedgerWorker(
        settings, private, topics=names, every=every, interval_ms=interval_ms, store_dir=store
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.run(stop)
