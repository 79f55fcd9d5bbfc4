"""Strict JSON at every HTTP edge: a body with a duplicate key (at any depth), a lone surrogate,
NaN or Infinity, or bytes that are not UTF-8 is a 400 ``malformed_body`` naming the problem and
where it is; it is never decided on (``{"cmd": "rm -rf /", "cmd": "ls"}`` was decided on ``ls``)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console.auth import COOKIE, Operators
from alignment_flywheel.console.routes import ConsoleOptions
from tests.unit.test_sdk_fakes import ToolEnforcer

ENDPOINTS = ["/v1/decisions", "/v1/proposals"]
JSON = {"content-type": "application/json"}
PASSWORD = "correct horse battery"


@pytest.fixture
def enforcer() -> ToolEnforcer:
    return ToolEnforcer()


@pytest.fixture
def client(
    settings_factory: Callable[..., Settings], enforcer: ToolEnforcer, tmp_path: Path
) -> Iterator[TestClient]:
    operators = Operators(tmp_path / "operators.json")
    operators.add("alice", PASSWORD)
    app = create_http_app(
        settings_factory(),
        enforcer=enforcer,
        publish=False,
        console=ConsoleOptions(operators=operators.path),
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def post(client: TestClient, path: str, raw: str | bytes) -> Any:
    return client.post(path, content=raw, headers=JSON)


def malformed(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["type"] == "malformed_body"
    return error


PREFIX = '{"proposer_id": "agent-j", "tool": "shell.exec", "arguments": '


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_duplicate_argument_key_is_refused_not_decided_on_the_last(
    client: TestClient, enforcer: ToolEnforcer, path: str
) -> None:
    error = malformed(post(client, path, PREFIX + '{"cmd": "rm -rf /", "cmd": "ls"}}'))
    assert error["field"] == "arguments.cmd"
    assert "duplicate key 'cmd'" in error["message"]
    assert enforcer.calls == []


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        (
            '{"proposer_id": "a", "proposer_id": "b", "tool": "fs.read", "arguments": {}}',
            "proposer_id",
            "duplicate key 'proposer_id'",
        ),
        (
            PREFIX + '{"rows": [{"k": 1}, {"k": 1, "k": 2}]}}',
            "arguments.rows[1].k",
            "duplicate key 'k'",
        ),
        (PREFIX + '{"a": {"b": {"c": 1, "c": 1}}}}', "arguments.a.b.c", "duplicate key 'c'"),
        (PREFIX + '{"cmd": "\\ud800"}}', "arguments.cmd", "lone surrogate"),
        (PREFIX + '{"cmd": ["ok", "x\\udfffy"]}}', "arguments.cmd[1]", "lone surrogate"),
        (PREFIX + '{"\\udc00": 1}}', "arguments", "lone surrogate"),
        (PREFIX + '{"x": NaN}}', "arguments.x", "NaN is not a JSON number"),
        (PREFIX + '{"x": [1, Infinity]}}', "arguments.x[1]", "Infinity is not a JSON number"),
        (PREFIX + '{"x": -Infinity}}', "arguments.x", "-Infinity is not a JSON number"),
        (PREFIX + '{"x": 1e400}}', "arguments.x", "out of range"),
    ],
)
def test_strictness_at_any_depth_names_the_place(
    client: TestClient, raw: str, field: str, fragment: str
) -> None:
    for path in ENDPOINTS:
        error = malformed(post(client, path, raw))
        assert error["field"] == field, path
        assert fragment in error["message"], path


def test_bytes_that_are_not_utf8_are_refused(client: TestClient) -> None:
    encoded_surrogate = (PREFIX + '{"cmd": "x"}}').encode().replace(b'"x"', b'"\xed\xa0\x80"')
    error = malformed(post(client, "/v1/decisions", encoded_surrogate))
    assert "not UTF-8" in error["message"]
    latin1 = (PREFIX + '{"cmd": "caf\u00e9"}}').encode("latin-1")
    assert "not UTF-8" in malformed(post(client, "/v1/decisions", latin1))["message"]


def test_strict_json_still_accepts_ordinary_json(client: TestClient) -> None:
    body = PREFIX + '{"cmd": "ls \\ud83d\\ude00", "n": 1.5e3, "big": 12345678901234567890}}'
    answer = post(client, "/v1/decisions", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "ALLOW"


def test_incidents_are_strict_too(client: TestClient) -> None:
    decided = client.post(
        "/v1/decisions", json={"proposer_id": "a", "tool": "fs.read", "arguments": {}}
    ).json()
    raw = json.dumps(
        {"proposal_id": decided["proposal_id"], "kind": "HARM", "severity": "LOW"}
    ).replace("}", ', "description": "x", "description": "y"}')
    error = malformed(post(client, "/v1/incidents", raw))
    assert (error["field"], "duplicate key 'description'" in error["message"]) == (
        "description",
        True,
    )


def test_the_console_api_is_strict_too(client: TestClient) -> None:
    login = {"name": "alice", "password": PASSWORD}
    assert client.post("/console/login", data=login, follow_redirects=False).status_code == 303
    payload = str(client.cookies.get(COOKIE)).split(".")[0]
    token = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["csrf"]
    raw = '{"outcome": "DENY", "outcome": "APPROVE", "reason": "ok"}'
    answer = client.post(
        f"/console/api/reviews/{uuid.uuid4()}",
        content=raw,
        headers={**JSON, "X-CSRF-Token": token},
    )
    error = malformed(answer)
    assert error["field"] == "outcome"


def test_a_login_form_with_a_repeated_field_is_refused(client: TestClient) -> None:
    answer = client.post(
        "/console/login",
        content="name=mallory&name=alice&password=" + PASSWORD.replace(" ", "+"),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 400
    assert COOKIE not in client.cookies
