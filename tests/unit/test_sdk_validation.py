"""Edge validation of SDK proposals: every kind of bad input names what was wrong."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard, InvalidProposalError, OversizedProposalError
from alignment_flywheel.errors import InvalidInputError
from tests.unit.test_sdk_fakes import ToolEnforcer


@pytest.fixture
def guard(settings_factory: Callable[..., Settings]) -> Guard:
    return Guard(
        settings_factory(max_event_bytes=4096),
        enforcer=ToolEnforcer(),
        publish=False,
        proposer_id="agent-1",
    )


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("tool", "field", "fragment"),
    [
        ("", "tool", "must not be empty"),
        ("shell exec", "tool", "not a dotted name"),
        ("shell..exec", "tool", "not a dotted name"),
        ("9shell", "tool", "not a dotted name"),
        ("x" * 201, "tool", "longer than 200"),
        (42, "tool", "must be a string"),
    ],
)
def test_bad_tool_names(guard: Guard, tool: Any, field: str, fragment: str) -> None:
    with pytest.raises(InvalidProposalError) as caught:
        guard.check(tool, {})
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)


@pytest.mark.parametrize(
    ("arguments", "field", "fragment"),
    [
        ([1, 2], "arguments", "must be a mapping"),
        ({"tags": {"a", "b"}}, "arguments.tags", "set is not a JSON value"),
        ({"blob": b"\x00"}, "arguments.blob", "bytes is not a JSON value"),
        ({"x": float("nan")}, "arguments.x", "not a JSON number"),
        ({"x": float("inf")}, "arguments.x", "not a JSON number"),
        ({"when": datetime(2026, 1, 1)}, "arguments.when", "datetime is not a JSON value"),
        ({"rows": [{"ok": 1}, {"bad": object()}]}, "arguments.rows[1].bad", "object"),
        ({"m": {1: "x"}}, "arguments.m", "key 1 is not a string"),
    ],
)
def test_bad_arguments_name_the_key(
    guard: Guard, arguments: Any, field: str, fragment: str
) -> None:
    with pytest.raises(InvalidProposalError) as caught:
        guard.check("fs.read", arguments)
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_arguments_too_deep(guard: Guard) -> None:
    guard.check("fs.read", _nested(32))
    with pytest.raises(InvalidProposalError, match="deeper than 32 levels"):
        guard.check("fs.read", _nested(33))


def test_arguments_too_large(guard: Guard) -> None:
    with pytest.raises(OversizedProposalError, match="larger than max_event_bytes") as caught:
        guard.check("fs.read", {"data": "x" * 5000})
    assert caught.value.field == "arguments"


def test_arguments_too_large_once_encoded(guard: Guard) -> None:
    with pytest.raises(OversizedProposalError, match="cannot be published, it is too large"):
        guard.check("fs.read", {"data": "x" * 3500}, reasoning="y" * 1000)


@pytest.mark.parametrize(
    ("risk", "field", "fragment"),
    [
        ({"proposer_confidence": 1.5}, "risk.proposer_confidence", "less than or equal to 1"),
        ({"proposer_confidence": -0.1}, "risk.proposer_confidence", "greater than or equal"),
        ({"blast_radius": "HUGE"}, "risk.blast_radius", "HUGE"),
        ({"colour": "red"}, "risk.colour", "Extra inputs"),
        ("high", "risk", "must be a RiskContext or a mapping"),
    ],
)
def test_bad_risk_context_names_the_field(
    guard: Guard, risk: Any, field: str, fragment: str
) -> None:
    with pytest.raises(InvalidProposalError) as caught:
        guard.check("fs.read", {}, risk=risk)
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_risk_mapping_is_merged_over_the_default(guard: Guard) -> None:
    result = guard.check("fs.read", {}, risk={"blast_radius": "HIGH", "environment": "prod"})
    assert result.proposal.risk.blast_radius == "HIGH"
    assert result.proposal.risk.environment == "prod"
    assert result.proposal.risk.proposer_confidence == 0.5


def test_valid_arguments_are_carried_as_json(guard: Guard) -> None:
    result = guard.check("fs.read", {"path": "/tmp/x", "n": 3, "opts": (1, None, True)})
    assert result.proposal.arguments_object() == {"path": "/tmp/x", "n": 3, "opts": [1, None, True]}
    assert result.arguments == {"path": "/tmp/x", "n": 3, "opts": [1, None, True]}
