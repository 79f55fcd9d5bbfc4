"""The options every worker's ``run`` command shares, derived from the role registry.

Rules:

* :func:`worker_command` gives a ``run`` command ``--app-id`` (default: the role's consumer group)
  and one ``--<name>-topic`` option per topic the role reads or writes (``name`` is the topic's
  short name, ``dead-letter`` for ``deadletter``; default: the catalog's topic). The command
  receives them as ``app_id`` and ``topics`` (a :class:`~alignment_flywheel.roles.RoleTopics`).
* typer reads a command's options from its signature: the wrapper's signature is the command's,
  without ``app_id`` and ``topics``, followed by those options (keyword-only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any

import typer

from alignment_flywheel.roles import RoleTopics, group_for

OPTION_WORDS = {"deadletter": "dead-letter"}
"""Option words that differ from a topic's short name."""
RECEIVED = ("app_id", "topics")
"""What the command receives instead of the options."""

Command = Callable[..., None]


def worker_command(role: str) -> Callable[[Command], Command]:
    """Add the role's ``--app-id`` and topic options to a ``run`` command (module rules)."""

    def wrap(command: Command) -> Command:
        defaults = RoleTopics(role).by_short_name()
        names = {_parameter(short): short for short in defaults}

        @wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            app_id = kwargs.pop("app_id")
            overrides = {names[name]: kwargs.pop(name) for name in names}
            command(*args, app_id=app_id, topics=RoleTopics(role, overrides), **kwargs)

        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name not in RECEIVED]
        topics = [_topic(name, short, defaults[short]) for name, short in names.items()]
        added = [_app_id(role), *topics]
        parameters = kept + added
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return wrapper

    return wrap


def _parameter(short: str) -> str:
    return f"{short.replace('-', '_')}_topic"


def _keyword(name: str, annotation: Any, default: str) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _app_id(role: str) -> inspect.Parameter:
    return _keyword("app_id", Annotated[str, typer.Option("--app-id")], group_for(role))


def _topic(name: str, short: str, default: str) -> inspect.Parameter:
    option = typer.Option(f"--{OPTION_WORDS.get(short, short)}-topic")
    return _keyword(name, Annotated[str, option], default)
