"""OpenAI-style tool calls: both forms are read, malformed ones name the call."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import (
    Guard,
    InvalidToolCallError,
    parse_tool_call,
)
from alignment_flywheel.events import Decision
from tests.unit.test_sdk_fakes import ToolEnforcer


def _dict_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _object_call(call_id: str, name: str, arguments: Any) -> SimpleNamespace:
    function = SimpleNamespace(name=name, arguments=arguments)
    return SimpleNamespace(id=call_id, type="function", function=function)


@pytest.mark.parametrize("make", [_dict_call, _object_call])
def test_both_forms_are_read(make: Callable[..., Any]) -> None:
    call = parse_tool_call(make("call_1", "fs.read", json.dumps({"path": "/x"})))
    assert (call.call_id, call.name, call.arguments) == ("call_1", "fs.read", {"path": "/x"})


@pytest.mark.parametrize("make", [_dict_call, _object_call])
def test_empty_arguments_mean_none(make: Callable[..., Any]) -> None:
    assert parse_tool_call(make("c", "fs.list", "")).arguments == {}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ('{"path": ', "not valid JSON"),
        ('{"x": NaN}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        (12, "must be JSON text, got int"),
    ],
)
@pytest.mark.parametrize("make", [_dict_call, _object_call])
def test_malformed_arguments_name_the_call(
    make: Callable[..., Any], arguments: Any, fragment: str
) -> None:
    with pytest.raises(InvalidToolCallError) as caught:
        parse_tool_call(make("call_42", "fs.read", arguments))
    assert caught.value.call_id == "call_42"
    assert "call_42" in str(caught.value)
    assert fragment in str(caught.value)


def test_missing_function_and_wrong_type() -> None:
    with pytest.raises(InvalidToolCallError, match="has no 'function'"):
        parse_tool_call({"id": "c1", "type": "function"})
    with pytest.raises(InvalidToolCallError, match="type 'retrieval' is not 'function'"):
        parse_tool_call({"id": "c2", "type": "retrieval", "function": {"name": "x"}})
    with pytest.raises(InvalidToolCallError, match="has no function name"):
        parse_tool_call({"id": "c3", "function": {"arguments": "{}"}})


def test_guard_checks_each_call_in_order(settings_factory: Callable[..., Settings]) -> None:
    guard = Guard(settings_factory(), enforcer=ToolEnforcer(), publish=False, proposer_id="a")
    calls = [
        _dict_call("c1", "fs.read", '{"path": "/a"}'),
        _object_call("c2", "danger.rm", '{"path": "/"}'),
        _dict_call("c3", "sql.query", '{"sql": "s"}'),
    ]
    results = guard.check_tool_calls(calls)
    assert [r.decision for r in results] == [Decision.ALLOW, Decision.BLOCK, Decision.REVISE]
    assert [r.proposal.tool for r in results] == ["fs.read", "danger.rm", "sql.query"]
    assert guard.check_tool_call(calls[0], reasoning="why").proposal.reasoning == "why"
