"""Bad input at the HTTP endpoint: the status and an error body naming the culprit, on both
``POST /v1/decisions`` and ``POST /v1/proposals``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.enforcement import Enforcer
from tests.support.oracles import policy, rule, rule_oracle
from tests.unit.test_sdk_fakes import ToolEnforcer

ENDPOINTS = ["/v1/decisions", "/v1/proposals"]
MAX_BYTES = 4096


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(max_event_bytes=MAX_BYTES)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_http_app(settings, enforcer=ToolEnforcer(), publish=False)) as client:
        yield client


def body(**fields: Any) -> dict[str, Any]:
    return {"proposer_id": "agent-e", "tool": "fs.read", "arguments": {"path": "/a"}, **fields}


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in body().items() if k != name}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def error_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        (without("tool"), "tool", "Field required"),
        (without("proposer_id"), "proposer_id", "Field required"),
        (without("arguments"), "arguments", "Field required"),
        (body(proposer_id=""), "proposer_id", "at least 1 character"),
        (body(tool=""), "tool", "must not be empty"),
        (body(tool="rm -rf"), "tool", "is not a dotted name"),
        (body(tool=7), "tool", "valid string"),
        (body(arguments=["ls"]), "arguments", "valid dictionary"),
        (body(arguments="ls"), "arguments", "valid dictionary"),
        (body(arguments=nested(40)), "arguments" + ".a" * 32, "nested deeper than 32 levels"),
        (body(colour="red"), "colour", "Extra inputs are not permitted"),
        (body(parent_proposal_id="p-1"), "parent_proposal_id", "valid UUID"),
        (body(risk={"proposer_confidence": 1.5}), "risk.proposer_confidence", "less than or equal"),
        (body(risk={"blast_radius": "HUGE"}), "risk.blast_radius", "'HUGE'"),
        (body(risk={"colour": "red"}), "risk.colour", "Extra inputs are not permitted"),
        (body(risk="high"), "risk", "valid dictionary"),
        ([body()], "body", "valid dictionary"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    client: TestClient, path: str, payload: Any, field: str, fragment: str
) -> None:
    error = error_of(client.post(path, json=payload), 422)
    assert error["type"] == "invalid_field"
    assert error["field"] == field
    assert fragment in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ('{"x": NaN}', "arguments.x", "NaN is not a JSON number"),
        ('{"x": [1, Infinity]}', "arguments.x[1]", "Infinity is not a JSON number"),
    ],
)
def test_non_json_argument_values_are_400(
    client: TestClient, path: str, raw: str, field: str, fragment: str
) -> None:
    text = json.dumps(body()).replace('{"path": "/a"}', raw)
    answer = client.post(path, content=text, headers={"content-type": "application/json"})
    error = error_of(answer, 400)
    assert (error["type"], error["field"]) == ("malformed_body", field)
    assert fragment in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"proposer_id": "a", ', "not JSON: Expecting property name"),
        ("not json at all", "not JSON: Expecting value"),
    ],
)
def test_malformed_json_is_400(client: TestClient, path: str, raw: str, fragment: str) -> None:
    answer = client.post(path, content=raw, headers={"content-type": "application/json"})
    error = error_of(answer, 400)
    assert (error["type"], error["field"]) == ("malformed_body", None)
    assert fragment in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_json_too_deep_to_read_is_400(client: TestClient, path: str) -> None:
    raw = "[" * 2000 + "]" * 2000
    answer = client.post(path, content=raw, headers={"content-type": "application/json"})
    error = error_of(answer, 400)
    assert error["type"] == "malformed_body"
    assert error["message"] == "unreadable body: JSON nested too deeply"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_body_over_the_limit_is_413(client: TestClient, path: str) -> None:
    error = error_of(client.post(path, json=body(arguments={"x": "y" * MAX_BYTES})), 413)
    assert (error["type"], error["field"]) == ("payload_too_large", "body")
    assert f"larger than max_event_bytes ({MAX_BYTES} bytes)" in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_proposal_too_large_to_publish_is_413(client: TestClient, path: str) -> None:
    payload = body(arguments={"x": "y" * 3700}, reasoning="z" * 300)
    error = error_of(client.post(path, json=payload), 413)
    assert (error["type"], error["field"]) == ("payload_too_large", "arguments")
    assert "cannot be published, it is too large" in error["message"]


def test_an_unknown_tool_is_422(settings: Settings) -> None:
    catalogued = Enforcer(rule_oracle(rule("r", "false"), tools=["fs.read"]), policy())
    app = create_http_app(settings, enforcer=catalogued, publish=False)
    with TestClient(app) as client:
        assert client.post("/v1/decisions", json=body(tool="fs.read")).status_code == 200
        error = error_of(client.post("/v1/decisions", json=body(tool="fs.wipe")), 422)
    assert error == {
        "type": "unknown_tool",
        "field": "tool",
        "message": "tool: unknown tool 'fs.wipe' (not in the oracle's tool catalog)",
    }
