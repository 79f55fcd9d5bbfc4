"""API tokens on the HTTP edge: ``flywheel serve`` refuses to start without a token store (unless
``--insecure-no-auth`` in development); ``/v1/decisions``, ``/v1/proposals`` and ``/v1/incidents``
need a bearer token of the right kind (401 without, 403 outside its kind or proposer id), the
token's identity goes into the proposal, and each identity is rate limited (429, Retry-After)."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import alignment_flywheel.connectors.http as http_package
from alignment_flywheel.cli import main as cli
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.connectors.http.auth import ApiAuth
from alignment_flywheel.connectors.http.tokens import TokenStore
from alignment_flywheel.errors import ConfigError, InvalidInputError
from tests.unit.test_sdk_fakes import ToolEnforcer

CALL = {"tool": "fs.read", "arguments": {"path": "/a"}}


@pytest.fixture
def state(settings_factory: Callable[..., Settings], tmp_path: Path) -> Path:
    settings_factory()  # isolates the environment from the caller's FLYWHEEL_* variables
    return tmp_path / "state"


def run_cli(state: Path, *args: str, **env: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"FLYWHEEL_STATE_DIR": str(state), **env})


class Served:
    """``flywheel serve`` with uvicorn replaced: the app it would serve, built without Kafka."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app: FastAPI | None = None
        self.options: dict[str, Any] = {}
        self.enforcer = ToolEnforcer()
        real = http_package.create_http_app

        def build(settings: Settings, **options: Any) -> FastAPI:
            self.options = options
            extra = {"auth": options["auth"]} if "auth" in options else {}
            return real(settings, enforcer=self.enforcer, publish=False, **extra)

        def run(app: FastAPI, **_: Any) -> None:
            self.app = app

        monkeypatch.setattr(http_package, "create_http_app", build)
        monkeypatch.setattr("uvicorn.run", run)

    def client(self) -> TestClient:
        assert self.app is not None, "flywheel serve did not start"
        return TestClient(self.app)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    return Served(monkeypatch)


def new_token(state: Path, name: str, *options: str) -> str:
    result = run_cli(state, "tokens", "new", name, *options)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[-1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_serve_refuses_to_start_without_a_token_store(state: Path, served: Served) -> None:
    result = run_cli(state, "serve")
    assert result.exit_code == 2, "a missing token store is configuration (exit code 2)"
    assert served.app is None
    assert "flywheel tokens new" in result.output and "--insecure-no-auth" in result.output


def test_insecure_no_auth_is_for_development_only(state: Path, served: Served) -> None:
    result = run_cli(state, "serve", "--insecure-no-auth", "--no-follow")
    assert result.exit_code == 0, result.output
    anyone = served.client().post("/v1/decisions", json={"proposer_id": "a", **CALL})
    assert anyone.status_code == 200
    served.app = None
    production = run_cli(
        state, "serve", "--insecure-no-auth", "--no-follow", FLYWHEEL_DEPLOYMENT="production"
    )
    assert production.exit_code != 0 and served.app is None
    assert "production" in production.output


def test_serve_with_tokens_needs_one_on_every_ingest_call(state: Path, served: Served) -> None:
    token = new_token(state, "billing", "--proposer", "billing-agent")
    assert run_cli(state, "serve", "--no-follow").exit_code == 0
    client = served.client()
    missing = client.post("/v1/decisions", json={"proposer_id": "billing-agent", **CALL})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["type"] == "unauthorized"
    assert served.enforcer.calls == []
    wrong = client.post("/v1/decisions", json=CALL, headers=bearer(token + "x"))
    assert wrong.status_code == 401
    for path in ("/v1/proposals", "/v1/incidents"):
        assert client.post(path, json={}).status_code == 401
    assert client.get("/v1/health").status_code == 200
    assert client.get("/v1/oracle").status_code == 200

    decided = client.post("/v1/decisions", json=CALL, headers=bearer(token))
    assert decided.status_code == 200, decided.text
    ((proposal, _),) = served.enforcer.calls
    assert proposal.proposer_id == "billing-agent"
    same = client.post(
        "/v1/proposals", json={"proposer_id": "billing-agent", **CALL}, headers=bearer(token)
    )
    assert same.status_code == 202


def test_a_token_is_refused_outside_its_kind_and_proposer(state: Path, served: Served) -> None:
    proposer = new_token(state, "billing", "--proposer", "billing-agent")
    reporter = new_token(state, "oncall", "--reporter")
    assert run_cli(state, "serve", "--no-follow").exit_code == 0
    client = served.client()
    other = client.post(
        "/v1/decisions", json={"proposer_id": "etl", **CALL}, headers=bearer(proposer)
    )
    assert other.status_code == 403
    assert other.json()["error"] == {
        "type": "forbidden",
        "field": "proposer_id",
        "message": "this token proposes as 'billing-agent', not as 'etl'",
    }
    assert client.post("/v1/decisions", json=CALL, headers=bearer(reporter)).status_code == 403
    decided = client.post("/v1/decisions", json=CALL, headers=bearer(proposer)).json()
    incident = {
        "proposal_id": decided["proposal_id"],
        "kind": "HARM",
        "severity": "HIGH",
        "description": "it read the wrong file",
    }
    refused = client.post("/v1/incidents", json=incident, headers=bearer(proposer))
    assert refused.status_code == 403 and "reporter" in refused.json()["error"]["message"]
    accepted = client.post("/v1/incidents", json=incident, headers=bearer(reporter))
    assert accepted.status_code == 202, accepted.text


def test_a_revoked_token_stops_working_on_the_running_server(state: Path, served: Served) -> None:
    token = new_token(state, "billing", "--proposer", "billing-agent")
    assert run_cli(state, "serve", "--no-follow").exit_code == 0
    client = served.client()
    assert client.post("/v1/decisions", json=CALL, headers=bearer(token)).status_code == 200
    revoked = run_cli(state, "tokens", "revoke", "billing")
    assert revoked.exit_code == 0, revoked.output
    assert client.post("/v1/decisions", json=CALL, headers=bearer(token)).status_code == 401


def test_the_store_keeps_hashes_only_and_prints_the_secret_once(state: Path) -> None:
    token = new_token(state, "billing", "--proposer", "billing-agent", "--reporter")
    assert token.startswith("fwt_") and len(token) > 40
    path = state / "http" / "tokens.json"
    text = path.read_text()
    assert token not in text and token.removeprefix("fwt_") not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(text)["tokens"]["billing"]
    assert (entry["proposer"], entry["reporter"]) == ("billing-agent", True)
    listed = run_cli(state, "tokens", "list")
    assert listed.exit_code == 0 and "billing" in listed.output and token not in listed.output
    again = run_cli(state, "tokens", "new", "billing", "--reporter")
    assert again.exit_code == 1 and "--rotate" in again.output
    rotated = new_token(state, "billing", "--reporter", "--rotate")
    assert rotated != token
    store = TokenStore(path)
    assert store.caller(token) is None
    caller = store.caller(rotated)
    assert caller is not None and (caller.name, caller.proposer, caller.reporter) == (
        "billing",
        None,
        True,
    )


def test_a_token_needs_a_kind_and_a_good_name(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(InvalidInputError, match="--proposer ID or --reporter"):
        store.issue("nobody")
    with pytest.raises(InvalidInputError, match="token name"):
        store.issue("../x", reporter=True)
    assert store.revoke("missing") is False


def test_each_identity_is_rate_limited(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    first = store.issue("a", proposer="agent-a")
    second = store.issue("b", proposer="agent-b")
    auth = ApiAuth(store, rate_per_s=0.5, burst=3)
    app = create_http_app(settings_factory(), enforcer=ToolEnforcer(), publish=False, auth=auth)
    with TestClient(app) as client:
        answers = [client.post("/v1/decisions", json=CALL, headers=bearer(first)) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["error"]["type"] == "rate_limited"
        assert int(answers[-1].headers["retry-after"]) == 2
        assert client.post("/v1/decisions", json=CALL, headers=bearer(second)).status_code == 200


def test_an_unreadable_store_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    token = store.issue("a", proposer="agent-a")
    assert store.caller(token) is not None
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        TokenStore(path).load()
    assert store.caller(token) is None  # a running server refuses rather than serve stale tokens


def test_request_ids_are_not_tokens(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.issue("a", proposer="agent-a")
    assert store.caller("") is None
    assert store.caller(str(uuid.uuid4())) is None
