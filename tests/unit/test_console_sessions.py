"""Issue 17: console sessions survive a server restart (the signing key is kept on disk)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console.auth import COOKIE, Operators, session_key_path
from alignment_flywheel.console.routes import ConsoleOptions
from tests.unit.test_console_auth import PASSWORD, login
from tests.unit.test_sdk_fakes import ToolEnforcer


def _server(settings: Settings, operators: Path) -> TestClient:
    app = create_http_app(
        settings,
        enforcer=ToolEnforcer(),
        publish=False,
        console=ConsoleOptions(operators=operators),
    )
    return TestClient(app, base_url="http://127.0.0.1")


def test_a_session_survives_a_restart_and_a_new_key_ends_it(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory()
    operators = Operators(tmp_path / "operators.json")
    operators.add("alice", PASSWORD)
    with _server(settings, operators.path) as first:
        cookie = login(first)
    key = session_key_path(settings)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32

    with _server(settings, operators.path) as restarted:
        restarted.cookies.set(COOKIE, cookie, path="/console")
        page = restarted.get("/console", follow_redirects=False)
        assert page.status_code == 200, "the restarted server knows the session"
        assert '<b id="operator">alice</b>' in page.text

    key.unlink()
    with _server(settings, operators.path) as rekeyed:
        rekeyed.cookies.set(COOKIE, cookie, path="/console")
        page = rekeyed.get("/console", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].endswith("/console/login")
