"""What every command receives: the settings, read once, and the console; how a failure ends it.

Exit codes (docs/operations.md lists them for operators):

* 0: done.
* 1: refused: the input is wrong or the state does not allow it (unknown id, already decided,
  missing reason, a check that found problems).
* 2: usage or configuration: a bad option (click's own code), an invalid setting or config file.
* 3: unavailable: Kafka or ClickHouse did not answer; the same command may succeed later.
* 4: security: a signature, key or trust root check failed; never retry blindly.
* 5: too late: the review's deadline has passed (``ReviewExpiredError``).

A failure is one line on stderr, ``error: <what happened>; <what to do>``, without a traceback or
an internal class name. An error class may name its own code in an ``exit_code`` attribute."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import (
    ConfigError,
    FlywheelError,
    InvalidInputError,
    TransportError,
    UntrustedError,
)

OperatorOption = Annotated[
    str | None,
    typer.Option("--operator", help="The person signing off (default: the OS user name)."),
]
EXIT_REFUSED = 1
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_UNTRUSTED = 4
EXIT_EXPIRED = 5
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


def os_user() -> str:
    """The name of the person running the command: the OS login name (never a host or pid)."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        raise ConfigError(
            "cannot tell who you are (no USER and no passwd entry); pass --reviewer NAME"
        ) from None


def person(name: str | None) -> str:
    """``name`` (an ``--operator``/``--reviewer`` value) or the OS user: who signs off."""
    chosen = (name if name is not None else os_user()).strip()
    if not chosen:
        raise InvalidInputError("the operator name is empty; name the person who signs off")
    return chosen


def exit_code(exc: BaseException) -> int:
    """The documented exit code of a failure."""
    own = getattr(exc, "exit_code", None)
    if isinstance(own, int):
        return own
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG
    if isinstance(exc, TransportError) or _client_failure(exc):
        return EXIT_UNAVAILABLE
    if isinstance(exc, UntrustedError):
        return EXIT_UNTRUSTED
    return EXIT_REFUSED


def _client_failure(exc: BaseException) -> bool:
    """A Kafka or ClickHouse client error, or a refused connection, that no layer translated."""
    module = type(exc).__module__
    if isinstance(exc, BrokenPipeError):  # stdout closed by the reader (| head): not a server
        return False
    return module.startswith(("confluent_kafka", "clickhouse_connect")) or isinstance(
        exc, ConnectionError
    )


def error_line(exc: BaseException) -> str:
    """The one-line message of a failure: its text, never its class name."""
    text = " ".join(str(exc).split()) if not _multiline(exc) else str(exc).strip()
    if _client_failure(exc) and not isinstance(exc, FlywheelError):
        text = f"Kafka or ClickHouse did not answer ({text}); check that they run, then retry"
    return f"error: {text or 'failed'}"


def _multiline(exc: BaseException) -> bool:
    """True for errors that list problems one per line (e.g. a policy document's)."""
    return bool(getattr(exc, "problems", None))


def fail(exc: BaseException) -> typer.Exit:
    """Print ``exc`` as one line on stderr; the Exit to raise with its documented code."""
    typer.echo(error_line(exc), err=True)
    return typer.Exit(exit_code(exc))


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an expected failure into a one-line message and its exit code, not a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FlywheelError as exc:
            raise fail(exc) from exc
        except Exception as exc:
            if not _client_failure(exc):
                raise
            raise fail(exc) from exc

    return wrapper
