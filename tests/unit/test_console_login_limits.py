"""A login spray cannot slow decisions: failed logins are limited per client address and across
names, and the password hashing runs on its own bounded executor, never on the thread pool that
decides (a spray of unknown names once raised the decision p50 from ~2 ms to ~150 ms)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console import auth
from alignment_flywheel.console import login as console_login
from alignment_flywheel.console.auth import COOKIE, Operators
from alignment_flywheel.console.routes import ConsoleOptions
from tests.unit.test_sdk_fakes import ToolEnforcer

PASSWORD = "correct horse battery"
LIVENESS_S = 30.0  # a bound against a hang, not a performance target


@pytest.fixture
def operators(tmp_path: Path) -> Operators:
    store = Operators(tmp_path / "operators.json")
    store.add("alice", PASSWORD)
    return store


@pytest.fixture
def client(settings_factory: Callable[..., Settings], operators: Operators) -> Iterator[TestClient]:
    app = create_http_app(
        settings_factory(),
        enforcer=ToolEnforcer(),
        publish=False,
        console=ConsoleOptions(operators=operators.path, refusal_delay_s=0.01),
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def login(client: TestClient, name: str, password: str = "wrong password") -> Any:
    return client.post(
        "/console/login", data={"name": name, "password": password}, follow_redirects=False
    )


def test_a_spray_of_unknown_names_from_one_address_is_limited(client: TestClient) -> None:
    answers = [login(client, f"nobody-{i}") for i in range(15)]
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}, statuses
    limited = answers[-1]
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many failed logins from this address" in limited.text
    # the right password from the same address waits too: the address is limited, not the name
    assert login(client, "alice", PASSWORD).status_code == 429
    assert COOKIE not in client.cookies


def test_hashing_never_takes_the_decision_threads(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = auth._scrypt

    def stuck(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        release.wait(LIVENESS_S)
        return real(password, salt, n, r, p)

    monkeypatch.setattr(auth, "_scrypt", stuck)
    spray = [threading.Thread(target=login, args=(client, f"x-{i}")) for i in range(60)]
    for thread in spray:
        thread.start()
    answer: list[Any] = []
    decide = threading.Thread(
        target=lambda: answer.append(
            client.post(
                "/v1/decisions",
                json={"proposer_id": "a", "tool": "fs.read", "arguments": {}},
            )
        )
    )
    try:
        decide.start()
        decide.join(LIVENESS_S / 2)
        assert answer and answer[0].status_code == 200, "a decision waited behind the logins"
    finally:
        release.set()
        for thread in spray:
            thread.join(LIVENESS_S)
        decide.join(LIVENESS_S)


def test_failed_logins_are_limited_across_names_and_addresses() -> None:
    limits = console_login.LoginLimits(per_address=3, global_per_minute=6, global_burst=4)
    for i in range(4):
        limits.check(f"name-{i}", f"10.0.0.{i}", now=0.0)
        limits.failed(f"name-{i}", f"10.0.0.{i}", now=0.0)
    with pytest.raises(
        console_login.LoginLimited, match="too many failed logins on this server"
    ) as raised:
        limits.check("someone", "10.0.0.99", now=1.0)
    assert raised.value.retry_after_s == pytest.approx(9.0)
    limits.check("someone", "10.0.0.99", now=10.0)  # the budget refills at 6 per minute


def test_the_per_address_limit_lets_other_addresses_in() -> None:
    limits = console_login.LoginLimits(per_address=3, global_per_minute=600, global_burst=100)
    for i in range(3):
        limits.failed(f"n{i}", "10.0.0.1", now=float(i))
    with pytest.raises(console_login.LoginLimited, match="from this address") as raised:
        limits.check("n9", "10.0.0.1", now=5.0)
    assert raised.value.retry_after_s == pytest.approx(auth.FAILURE_WINDOW_S - 5.0)
    limits.check("n9", "10.0.0.2", now=5.0)
    limits.check("n9", "10.0.0.1", now=auth.FAILURE_WINDOW_S + 0.5)


def test_the_limits_forget_old_names_so_a_spray_cannot_fill_memory() -> None:
    limits = console_login.LoginLimits(
        per_address=10**6, global_per_minute=10**9, global_burst=10**9
    )
    for i in range(5000):
        limits.failed(f"n{i}", f"a{i}", now=float(i) / 100)
    limits.check("late", "late", now=auth.FAILURE_WINDOW_S + 100.0)
    limits.failed("late", "late", now=auth.FAILURE_WINDOW_S + 100.0)
    assert limits.tracked() <= 2
