"""Hooks: the hidden ``run`` options that swap a worker's component for one named by a dotted path.

A hook is ``module:callable`` (``tests.support.doubles:scripted``); the callable is imported with
importlib, called with the component the command built (the enforcer, the norms, the
auto-approver, the drift watch), and the worker runs with what it returns. Hooks are for tests and
experiments (a scripted or slowed decider): they are off by default, hidden from ``--help``, and
refused when the settings' ``deployment`` is ``production``. A path that does not resolve to a
callable stops the command with a ConfigError.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ConfigError

T = TypeVar("T")

HOOK_HELP = "module:callable called with the {what} the command built; the worker uses its result."


def hook_option(name: str, what: str) -> Any:
    """A hidden ``--<name> module:callable`` option."""
    return typer.Option(name, hidden=True, help=HOOK_HELP.format(what=what))


def load_hook(settings: Settings, path: str) -> Callable[[Any], Any]:
    """The callable at ``module:callable``; ConfigError if it does not resolve or in production."""
    if settings.deployment == "production":
        raise ConfigError(f"hook {path} refused: hooks are for tests, deployment is production")
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"hook {path!r} is not module:callable")
    try:
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"hook {path} does not resolve: {exc}") from None
    if not callable(found):
        raise ConfigError(f"hook {path} is not callable")
    return found


def hooked(settings: Settings, path: str | None, built: T) -> Any:
    """``built``, or what the hook at ``path`` returns for it."""
    return built if path is None else load_hook(settings, path)(built)
