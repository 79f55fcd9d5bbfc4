"""Reading OpenAI-style tool calls.

Accepted forms: the dict ``{"id": ..., "type": "function", "function": {"name": ..., "arguments":
"<JSON text>"}}`` and any object with ``.id`` and ``.function.name`` / ``.function.arguments``
(the OpenAI Python SDK's ``ChatCompletionMessageToolCall``). ``arguments`` is JSON text of one
object; empty text means no arguments; an already parsed mapping is accepted as is. Anything else
raises :class:`InvalidToolCallError` naming the call id and what was wrong.

The tool *schemas* an agent is given become the oracle artifact's catalog with
:func:`catalog_from_openai_tools` (from :mod:`alignment_flywheel.oracle.catalog`): one entry per
function, its effect class and its arguments' roles, to put under ``tools:`` in the artifact::

    entries = catalog_from_openai_tools(tools, read_only_prefixes=("get_", "list_"))
    document["tools"] = [entry.model_dump(mode="json") for entry in entries]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.connectors.sdk.errors import InvalidToolCallError
from alignment_flywheel.oracle.catalog import catalog_from_openai_tools

__all__ = ["ToolCall", "catalog_from_openai_tools", "parse_tool_call"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call, read: its id, the tool's name and the parsed arguments."""

    call_id: str
    name: str
    arguments: dict[str, Any]


def _field(source: object, name: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_tool_call(call: object) -> ToolCall:
    """The tool call ``call`` in either form; InvalidToolCallError if it cannot be read."""
    call_id = _field(call, "id")
    label = str(call_id) if call_id is not None else "<no id>"
    kind = _field(call, "type")
    if kind is not None and kind != "function":
        raise InvalidToolCallError(label, "type", f"type {kind!r} is not 'function'")
    function = _field(call, "function")
    if function is None:
        raise InvalidToolCallError(label, "function", "has no 'function'")
    name = _field(function, "name")
    if not isinstance(name, str) or not name:
        raise InvalidToolCallError(label, "function.name", "has no function name")
    return ToolCall(label, name, _arguments(label, _field(function, "arguments")))


def _arguments(label: str, raw: object) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str | bytes):
        raise InvalidToolCallError(
            label, "function.arguments", f"must be JSON text, got {type(raw).__name__}"
        )
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidToolCallError(
            label, "function.arguments", f"arguments are not valid JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidToolCallError(
            label,
            "function.arguments",
            f"arguments must be a JSON object, got {type(value).__name__}",
        )
    return value
