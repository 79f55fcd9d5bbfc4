"""The review console's authentication without Kafka: operators, sessions, cookies and CSRF."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app as cli_app
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console.auth import (
    COOKIE,
    ConsoleAuthError,
    LoginThrottle,
    Operators,
    Sessions,
    check_csrf,
)
from alignment_flywheel.console.routes import ConsoleOptions
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import key_id
from tests.unit.test_sdk_fakes import ToolEnforcer

PASSWORD = "correct horse battery"


@pytest.fixture
def operators(tmp_path: Path) -> Operators:
    store = Operators(tmp_path / "console" / "operators.json")
    store.add("alice", PASSWORD)
    return store


@pytest.fixture
def client(settings_factory: Callable[..., Settings], operators: Operators) -> Iterator[TestClient]:
    settings = settings_factory()
    app = create_http_app(
        settings,
        enforcer=ToolEnforcer(),
        publish=False,
        console=ConsoleOptions(operators=operators.path),
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def login(client: TestClient, name: str = "alice", password: str = PASSWORD) -> str:
    answer = client.post(
        "/console/login", data={"name": name, "password": password}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return str(client.cookies.get(COOKIE))


def test_operators_file_keeps_scrypt_hashes_only(operators: Operators) -> None:
    text = operators.path.read_text()
    assert PASSWORD not in text
    entry = json.loads(text)["operators"]["alice"]
    assert set(entry) == {"salt", "hash", "n", "r", "p", "keys"} and entry["keys"] == []
    assert stat.S_IMODE(operators.path.stat().st_mode) == 0o600
    assert operators.check("alice", PASSWORD) == "alice"
    with pytest.raises(ConsoleAuthError):
        operators.check("alice", PASSWORD + "!")
    with pytest.raises(ConsoleAuthError):
        operators.check("mallory", PASSWORD)


def test_bad_names_and_short_passwords_are_refused(operators: Operators) -> None:
    with pytest.raises(InvalidInputError, match="operator name"):
        operators.add("../evil", PASSWORD)
    with pytest.raises(InvalidInputError, match="at least"):
        operators.add("bob", "short")


def test_sessions_refuse_forged_expired_and_foreign_cookies() -> None:
    sessions = Sessions(ttl_s=60)
    session, cookie = sessions.issue("alice", now=1000.0)
    assert sessions.read(cookie, now=1030.0) == session
    with pytest.raises(ConsoleAuthError, match="expired"):
        sessions.read(cookie, now=1060.0)
    payload, mac = cookie.split(".")
    with pytest.raises(ConsoleAuthError, match="not valid"):
        sessions.read(payload.replace(payload[2], "A" if payload[2] != "A" else "B") + "." + mac)
    with pytest.raises(ConsoleAuthError, match="not valid"):
        Sessions(ttl_s=60).read(cookie, now=1030.0)
    with pytest.raises(ConsoleAuthError, match="not logged in"):
        sessions.read(None)
    with pytest.raises(ConsoleAuthError, match="CSRF"):
        check_csrf(session, "nope")
    check_csrf(session, session.csrf)


def test_without_a_session_pages_redirect_and_api_calls_are_401(client: TestClient) -> None:
    page = client.get("/console", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/console/login"
    review = client.post(
        f"/console/api/reviews/{uuid.uuid4()}", json={"outcome": "APPROVE", "reason": "ok"}
    )
    assert review.status_code == 401
    assert review.json()["error"]["type"] == "unauthorized"
    assert client.get(f"/console/api/patches/{uuid.uuid4()}/signing-request").status_code == 401
    assert client.get("/console/charts/overrides.png").status_code == 401
    login_form = client.get("/console/login")
    assert login_form.status_code == 200 and "Operator login" in login_form.text
    assert "script-src 'self'" in login_form.headers["content-security-policy"]


def test_wrong_password_is_401_without_a_cookie(client: TestClient) -> None:
    answer = client.post(
        "/console/login",
        data={"name": "alice", "password": "wrong password"},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "wrong password" in answer.text
    assert COOKIE not in answer.cookies


def test_login_sets_a_strict_httponly_cookie(client: TestClient) -> None:
    answer = client.post(
        "/console/login", data={"name": "alice", "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/console" in header
    assert "max-age=" in header


def test_api_posts_need_the_session_csrf_token(client: TestClient) -> None:
    login(client)
    url = f"/console/api/reviews/{uuid.uuid4()}"
    missing = client.post(url, json={"outcome": "APPROVE", "reason": "ok"})
    assert missing.status_code == 403 and "CSRF" in missing.json()["error"]["message"]
    wrong = client.post(
        url, json={"outcome": "APPROVE", "reason": "ok"}, headers={"X-CSRF-Token": "guess"}
    )
    assert wrong.status_code == 403
    rollback = client.post("/console/api/releases/rollback", json={"reason": "x"})
    assert rollback.status_code == 403
    logout = client.post("/console/logout", data={"csrf": "guess"}, follow_redirects=False)
    assert logout.status_code == 403


def test_unknown_chart_is_404_and_missing_clickhouse_is_503(client: TestClient) -> None:
    login(client)
    assert client.get("/console/charts/nope.png").status_code == 404
    answer = client.get("/console/charts/overrides.png")
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "no_data"
    assert "no ClickHouse data yet" in answer.json()["error"]["message"]


def test_console_js_is_served_and_the_spec_leaves_the_console_out(client: TestClient) -> None:
    script = client.get("/console/static/console.js")
    assert script.status_code == 200 and "crypto.subtle.importKey" in script.text
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_cli_adds_an_operator_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    result = CliRunner().invoke(
        cli_app,
        ["console", "operator", "add", "bob", "--password-stdin", "--operators", str(path)],
        input="a long enough password\n",
        env={"FLYWHEEL_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.exit_code == 0, result.output
    assert Operators(path).check("bob", "a long enough password") == "bob"
    listed = CliRunner().invoke(
        cli_app,
        ["console", "operator", "list", "--operators", str(path)],
        env={"FLYWHEEL_STATE_DIR": str(tmp_path / "state")},
    )
    assert listed.exit_code == 0
    assert listed.output.splitlines()[-1].split() == ["bob", "any", "approver", "key"]


def test_cli_binds_an_operator_to_named_keys(tmp_path: Path) -> None:
    env = {"FLYWHEEL_STATE_DIR": str(tmp_path / "state")}
    runner = CliRunner()
    assert runner.invoke(cli_app, ["keys", "new", "carol-key"], env=env).exit_code == 0
    path = tmp_path / "ops.json"
    added = runner.invoke(
        cli_app,
        [
            "console",
            "operator",
            "add",
            "carol",
            "--password-stdin",
            "--key",
            "carol-key",
            "--operators",
            str(path),
        ],
        input="carol's password\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    expected = key_id(KeyStore(tmp_path / "state" / "keys").public("carol-key"))
    assert Operators(path).keys_of("carol") == (expected,)
    again = runner.invoke(
        cli_app,
        ["console", "operator", "add", "carol", "--password-stdin", "--operators", str(path)],
        input="a new password\n",
        env=env,
    )
    assert again.exit_code == 0 and Operators(path).keys_of("carol") == (expected,)
    bad = runner.invoke(
        cli_app,
        [
            "console",
            "operator",
            "add",
            "dave",
            "--password-stdin",
            "--key-id",
            "xyz",
            "--operators",
            str(path),
        ],
        input="dave's password\n",
        env=env,
    )
    assert bad.exit_code != 0 and "not a key id" in bad.output


def test_repeated_failures_lock_the_name_for_a_while() -> None:
    throttle = LoginThrottle(limit=2, window_s=10)
    throttle.check("alice", now=0)
    throttle.failed("alice", now=0)
    throttle.failed("alice", now=1)
    with pytest.raises(ConsoleAuthError, match="too many"):
        throttle.check("alice", now=5)
    throttle.check("bob", now=5)
    throttle.check("alice", now=10.5)
    throttle.failed("alice", now=11)
    throttle.succeeded("alice")
    throttle.check("alice", now=11)


def test_the_login_form_refuses_a_name_after_five_failures(client: TestClient) -> None:
    for _ in range(5):
        client.post("/console/login", data={"name": "alice", "password": "wrong password"})
    answer = client.post("/console/login", data={"name": "alice", "password": PASSWORD})
    assert answer.status_code == 401 and "too many failed logins" in answer.text
    assert COOKIE not in client.cookies


def test_a_login_posted_from_another_site_is_refused(client: TestClient) -> None:
    answer = client.post(
        "/console/login",
        data={"name": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403 and COOKIE not in client.cookies
    hidden = client.post(
        "/console/login",
        data={"name": "alice", "password": PASSWORD},
        headers={"Origin": "null"},
        follow_redirects=False,
    )
    assert hidden.status_code == 403 and COOKIE not in client.cookies
    same = client.post(
        "/console/login",
        data={"name": "alice", "password": PASSWORD},
        headers={"Origin": "http://127.0.0.1"},
        follow_redirects=False,
    )
    assert same.status_code == 303
