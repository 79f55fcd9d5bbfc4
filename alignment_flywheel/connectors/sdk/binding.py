"""Turning a Python call into proposal arguments, and (revised) arguments back into a call.

Rules: parameters are bound with :func:`inspect.signature` (defaults applied), so the proposal
carries every argument by parameter name, whether it was passed by position or keyword.
``*args`` becomes a list under its parameter name; ``**kwargs`` is merged into the top level.
When calling back, each named parameter takes its value from the (possibly revised) arguments;
keys that name no parameter go to ``**kwargs`` when the function has one, otherwise the call is
refused, naming the key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from alignment_flywheel.connectors.sdk.errors import InvalidProposalError

_P = inspect.Parameter


def bind_arguments(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name; TypeError if they do not fit the signature."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is _P.VAR_KEYWORD:
            arguments.update(value)
        elif kind is _P.VAR_POSITIONAL:
            arguments[name] = list(value)
        else:
            arguments[name] = value
    return arguments


def call_arguments(
    function: Callable[..., Any], arguments: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments that call ``function`` with ``arguments``."""
    parameters = inspect.signature(function).parameters
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    rest = dict(arguments)
    var_keyword = False
    for name, parameter in parameters.items():
        if parameter.kind is _P.VAR_KEYWORD:
            var_keyword = True
        elif name not in rest:
            continue
        elif parameter.kind is _P.POSITIONAL_ONLY:
            positional.append(rest.pop(name))
        elif parameter.kind is _P.VAR_POSITIONAL:
            positional.extend(rest.pop(name))
        else:
            keywords[name] = rest.pop(name)
    if rest and not var_keyword:
        raise InvalidProposalError(
            f"arguments.{next(iter(rest))}",
            f"is not a parameter of {getattr(function, '__qualname__', function)!r}",
        )
    keywords.update(rest)
    return positional, keywords
