"""What every command receives: the settings, read once, and the console."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CliContext:
    settings: Settings
    console: Console


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise RuntimeError("the root callback did not set up the CLI context")
    return obj


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a FlywheelError into a one-line message and exit code 1, instead of a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FlywheelError as exc:
            Console(stderr=True).print(f"[bold red]error[/]: {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from exc

    return wrapper
