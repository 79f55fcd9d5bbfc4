"""Entry point of the `flywheel` command: registers every command group."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler

from alignment_flywheel.cli import (
    audit,
    autoapprove,
    console,
    demo,
    drift,
    gate,
    incident,
    infra,
    intake,
    keys,
    ledger,
    patch,
    redteam,
    refine,
    release,
    replay,
    report,
    review,
    schemas,
    serve,
    sink,
    topics,
    triage,
    trust,
    verify,
)
from alignment_flywheel.cli.context import CliContext
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import FlywheelError

app = typer.Typer(
    name="flywheel",
    help="Alignment Flywheel: runtime safety governance for AI agents, on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(infra.app, name="infra")
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")
app.command("demo")(demo.demo)
app.add_typer(gate.app, name="gate")
app.add_typer(review.app, name="review")
app.add_typer(release.app, name="release")
app.command("serve")(serve.serve)
app.add_typer(serve.tokens_app, name="tokens")
app.add_typer(console.app, name="console")
app.add_typer(keys.app, name="keys")
app.add_typer(trust.app, name="trust")
app.add_typer(patch.app, name="patch")
app.add_typer(incident.app, name="incident")
app.add_typer(intake.app, name="intake")
app.add_typer(refine.app, name="refine")
app.add_typer(verify.app, name="verify")
app.add_typer(redteam.app, name="redteam")
app.add_typer(triage.app, name="triage")
app.add_typer(drift.app, name="drift")
app.add_typer(autoapprove.app, name="autoapprove")
app.add_typer(audit.app, name="audit")
app.add_typer(ledger.app, name="ledger")
app.command("replay")(replay.replay)
app.add_typer(sink.app, name="sink")
app.command("report")(report.report)


@app.callback()
def _root(ctx: typer.Context) -> None:
    try:
        settings = load_settings()
    except FlywheelError as exc:
        Console(stderr=True).print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(2) from exc
    console = Console()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )
    logging.getLogger("flywheel.kafka").setLevel(logging.ERROR)
    ctx.obj = CliContext(settings=settings, console=console)


def main() -> None:
    app()
