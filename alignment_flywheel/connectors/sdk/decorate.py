"""The ``@guard.tool(name)`` decorator, for sync and async tool functions.

Rules: each call's arguments are bound by parameter name (:mod:`.binding`) and become the
proposal's arguments; the function runs only when the guard allows it, with the revised arguments
when a revision was applied automatically; otherwise the guard's exception propagates and the
function does not run. An async function is decided on the event loop (the in-process decision
does no network I/O); only what may wait for a reviewer runs in a worker thread. Arguments that do
not fit the signature raise :class:`TypeError` as a plain call would, before any decision.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from alignment_flywheel.connectors.sdk.binding import bind_arguments, call_arguments
from alignment_flywheel.events import Decision

if TYPE_CHECKING:
    from alignment_flywheel.connectors.sdk.guard import Guard

F = TypeVar("F", bound=Callable[..., Any])

_CHECK_OPTIONS = ("risk", "reasoning")
_RESOLVE_OPTIONS = ("review_timeout_s", "auto_apply_revisions")


def _split(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    unknown = set(options) - {*_CHECK_OPTIONS, *_RESOLVE_OPTIONS}
    if unknown:
        raise TypeError(f"unknown guard.tool options: {', '.join(sorted(unknown))}")
    check = {k: v for k, v in options.items() if k in _CHECK_OPTIONS}
    resolve = {k: v for k, v in options.items() if k in _RESOLVE_OPTIONS}
    return check, resolve


def guarded(guard: Guard, name: str, function: F, options: Mapping[str, Any]) -> F:
    """``function`` wrapped so that ``guard`` decides on every call as tool ``name``."""
    check_options, resolve_options = _split(options)
    if inspect.iscoroutinefunction(function):
        return cast(F, _async_wrapper(guard, name, function, check_options, resolve_options))

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        arguments = bind_arguments(function, args, kwargs)
        allowed = guard.enforce(name, arguments, **check_options, **resolve_options)
        positional, keywords = call_arguments(function, allowed)
        return function(*positional, **keywords)

    return cast(F, wrapper)


def _async_wrapper(
    guard: Guard,
    name: str,
    function: Callable[..., Any],
    check_options: dict[str, Any],
    resolve_options: dict[str, Any],
) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        arguments = bind_arguments(function, args, kwargs)
        allowed = await decide_async(guard, name, arguments, check_options, resolve_options)
        positional, keywords = call_arguments(function, allowed)
        return await function(*positional, **keywords)

    return wrapper


async def decide_async(
    guard: Guard,
    name: str,
    arguments: Mapping[str, Any],
    check_options: Mapping[str, Any],
    resolve_options: Mapping[str, Any],
) -> dict[str, Any]:
    """The arguments to run with; ALLOW and BLOCK are settled on the event loop, anything that
    may wait for a reviewer (ESCALATE, or a revision that escalates) in a worker thread."""
    result = guard.check(name, arguments, **check_options)
    if result.decision in (Decision.ALLOW, Decision.BLOCK):
        return guard.resolve(result, **resolve_options)
    return await asyncio.to_thread(guard.resolve, result, **resolve_options)
