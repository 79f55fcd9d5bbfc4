"""Entry point of the `flywheel` command: every command group, each imported when it runs."""

from __future__ import annotations

import importlib
import logging
import os
import tomllib

import typer
from rich.console import Console
from rich.logging import RichHandler
from typer import _click as click
from typer.core import TyperGroup

from alignment_flywheel.cli.context import EXIT_CONFIG, CliContext, error_line
from alignment_flywheel.config import CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE, load_settings
from alignment_flywheel.errors import FlywheelError

COMMANDS: dict[str, tuple[str, str]] = {
    "infra": ("infra", "app"),
    "topics": ("topics", "app"),
    "schemas": ("schemas", "app"),
    "demo": ("demo", "demo"),
    "gate": ("gate", "app"),
    "review": ("review", "app"),
    "release": ("release", "app"),
    "serve": ("serve", "serve"),
    "tokens": ("serve", "tokens_app"),
    "console": ("console", "app"),
    "keys": ("keys", "app"),
    "trust": ("trust", "app"),
    "patch": ("patch", "app"),
    "incident": ("incident", "app"),
    "intake": ("intake", "app"),
    "refine": ("refine", "app"),
    "verify": ("verify", "app"),
    "redteam": ("redteam", "app"),
    "triage": ("triage", "app"),
    "drift": ("drift", "app"),
    "autoapprove": ("autoapprove", "app"),
    "audit": ("audit", "app"),
    "ledger": ("ledger", "app"),
    "replay": ("replay", "replay"),
    "sink": ("sink", "app"),
    "report": ("report", "report"),
    "oracle": ("oracle", "app"),
}
"""Each command: the module under ``alignment_flywheel.cli`` and the Typer app (a group) or
function (a command) it defines. A module is imported only when its command runs (or help lists
it), so ``flywheel gate run`` loads what the gate needs and nothing of the other roles."""


class LazyGroup(TyperGroup):
    """The root group: its commands are imported on first use (see :data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        module = importlib.import_module(f"alignment_flywheel.cli.{found[0]}")
        target = getattr(module, found[1])
        command: click.Command
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target)
        else:
            single = typer.Typer()
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="flywheel",
    help="Alignment Flywheel: runtime safety governance for AI agents, on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    try:
        settings = load_settings()
    except FlywheelError as exc:
        typer.echo(error_line(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from exc
    except tomllib.TOMLDecodeError as exc:
        typer.echo(f"error: {_config_name()} is not valid TOML: {exc}; fix that line", err=True)
        raise typer.Exit(EXIT_CONFIG) from exc
    except OSError as exc:
        typer.echo(f"error: cannot read {_config_name()}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from exc
    console = Console()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )
    logging.getLogger("flywheel.kafka").setLevel(logging.ERROR)
    for noisy in ("urllib3", "clickhouse_connect"):  # their retries end in one error line
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    ctx.obj = CliContext(settings=settings, console=console)


def _config_name() -> str:
    """The config file the settings were read from, as the user named it."""
    return os.environ.get(CONFIG_FILE_ENV) or str(DEFAULT_CONFIG_FILE)


def main() -> None:
    app()
