"""``flywheel serve`` follows oracle releases like the gate and the SDK: the newest verified STABLE
is enforced by ``POST /v1/decisions`` and reported by ``GET /v1/oracle``, at start (also after a
restart) and live; a candidate is run per the rollout; an unsigned release is not enforced.

It once answered with version 1 whatever was released, even after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.events import Event, ReleaseStage
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.credentials import connection_env, connection_settings
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.release.follower import ReleaseTopics
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.processes import free_ports
from alignment_flywheel.stack.topics import create_topic
from tests.support.cli import FLYWHEEL
from tests.support.kafka import publish
from tests.support.oracles import artifact_doc, rule
from tests.support.releases import patch_chain, promoted, staged
from tests.support.signing import Keyring, approvals

pytestmark = pytest.mark.integration

GENESIS_DOC = artifact_doc(rule("base", "false"))
GENESIS = build_artifact(GENESIS_DOC)
S, C, ST = ReleaseStage.SHADOW, ReleaseStage.CANARY, ReleaseStage.STABLE
START_LIMIT_S = 120.0  # a bound against a hang, not a performance target


def signed(ring: Keyring, patch: Patch) -> list[Event]:
    return [patch.to_event("test"), *approvals(ring, patch)]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def server_settings(cluster: Settings, state: Path) -> Settings:
    oracle = state.parent / "genesis.json"
    oracle.write_text(json.dumps(GENESIS_DOC))
    return load_settings(
        **connection_settings(cluster), state_dir=state, oracle_path=oracle, identity="serve-test"
    )


def trusted(settings: Settings) -> Keyring:
    ring = Keyring()
    expires = datetime.now(UTC) + timedelta(days=30)
    save_root(settings.effective_trust_root_path, ring.root(expires=expires))
    return ring


def decide(client: httpx.Client | TestClient, cmd: str, session: str = "s") -> dict[str, Any]:
    body = {"proposer_id": "agent", "session_id": session, "tool": "shell.exec"}
    answer = client.post("/v1/decisions", json={**body, "arguments": {"cmd": cmd}})
    assert answer.status_code == 200, answer.text
    decided: dict[str, Any] = answer.json()
    return decided


# --- flywheel serve, as a process, on a broker of its own (the catalog's topic names) -----------


@pytest.fixture
def private_broker(broker_settings_factory: Callable[..., Settings]) -> Iterator[Settings]:
    settings = broker_settings_factory("serve-broker")
    broker = LocalBroker(settings)
    broker.start(timeout=START_LIMIT_S)
    try:
        admin = admin_client(settings)
        for topic in (ReleaseTopics().patches, ReleaseTopics().releases):
            create_topic(admin, topic)
        yield settings
    finally:
        broker.stop()


class ServeProcess:
    def __init__(self, settings: Settings, log: Path) -> None:
        (self.port,) = free_ports(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")}
        env.update(
            connection_env(settings),
            FLYWHEEL_STATE_DIR=str(settings.state_dir),
            FLYWHEEL_ORACLE_PATH=str(settings.oracle_path),
            FLYWHEEL_HTTP_INSECURE_NO_AUTH="true",
        )
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [FLYWHEEL, "serve", "--port", str(self.port), "--loglevel", "warning"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        assert wait_for(self._up, START_LIMIT_S), log.read_text()[-3000:]

    def _up(self) -> bool:
        assert self.process.poll() is None, "flywheel serve exited"
        try:
            return self.client.get("/v1/health").status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def test_flywheel_serve_enforces_the_released_stable_after_a_restart(
    private_broker: Settings, tmp_path: Path
) -> None:
    settings = server_settings(private_broker, tmp_path / "serve")
    ring = trusted(settings)
    topics = ReleaseTopics()
    (first, v2), (second, _) = patch_chain(GENESIS, 2)
    release = staged(first, C, 1.0)
    publish(settings, topics.patches, signed(ring, first))
    publish(settings, topics.releases, [release, promoted(release, ST, C)])

    served = ServeProcess(settings, tmp_path / "serve.log")
    try:
        oracle = served.client.get("/v1/oracle").json()
        assert (oracle["oracle_version"], oracle["oracle_digest"]) == (2, v2.digest)
        assert oracle["releases"]["following"] is True
        decided = decide(served.client, "bad-0")
        assert (decided["oracle_version"], decided["oracle_digest"]) == (2, v2.digest)
        assert decided["decision"] == "BLOCK"
    finally:
        served.stop()

    next_release = staged(second, C, 1.0)
    publish(settings, topics.patches, signed(ring, second))
    publish(settings, topics.releases, [next_release, promoted(next_release, ST, C)])
    restarted = ServeProcess(settings, tmp_path / "serve.log")
    try:
        assert restarted.client.get("/v1/oracle").json()["oracle_version"] == 3
        decided = decide(restarted.client, "bad-1")
        assert (decided["oracle_version"], decided["decision"]) == (3, "BLOCK")
    finally:
        restarted.stop()


# --- the app in process, on the session broker (topics of its own) --------------------------


def test_the_endpoint_follows_releases_live_and_only_verified_ones(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = server_settings(kafka_settings, tmp_path / "state")
    ring = trusted(settings)
    topics = ReleaseTopics(make_topic(unique_name("patches")), make_topic(unique_name("releases")))
    chain: list[tuple[Patch, OracleArtifact]] = patch_chain(GENESIS, 3)
    (first, v2), (second, v3), (third, _) = chain
    release = staged(first)
    publish(settings, topics.patches, signed(ring, first) + signed(ring, second))
    publish(settings, topics.releases, [release, promoted(release, ST, S)])

    app = create_http_app(settings, publish=False, follow=topics)
    with TestClient(app) as client:
        oracle = client.get("/v1/oracle").json()
        assert (oracle["oracle_version"], oracle["oracle_digest"]) == (2, v2.digest)
        assert oracle["candidate"] is None
        assert decide(client, "bad-0")["oracle_version"] == 2

        canary = staged(second, C, 1.0)
        publish(settings, topics.releases, [canary])
        assert wait_for(lambda: client.get("/v1/oracle").json()["candidate"] is not None)
        candidate = client.get("/v1/oracle").json()["candidate"]
        assert candidate == {
            "oracle_version": 3,
            "oracle_digest": v3.digest,
            "stage": "CANARY",
            "canary_fraction": 1.0,
        }
        in_canary = decide(client, "bad-1")
        assert (in_canary["oracle_version"], in_canary["decision"]) == (3, "BLOCK")

        publish(settings, topics.releases, [promoted(canary, ST, C)])
        assert wait_for(lambda: client.get("/v1/oracle").json()["oracle_version"] == 3)

        unsigned = staged(third, C, 1.0)
        publish(settings, topics.patches, [third.to_event("test")])
        publish(settings, topics.releases, [unsigned, promoted(unsigned, ST, C)])
        assert wait_for(lambda: client.get("/v1/oracle").json()["releases"]["errors"] > 0)
        oracle = client.get("/v1/oracle").json()
        assert (oracle["oracle_version"], oracle["oracle_digest"]) == (3, v3.digest)
        assert decide(client, "bad-2")["oracle_version"] == 3
        assert oracle["releases"]["degraded"] is True and oracle["releases"]["reason"]
        assert oracle["releases"]["released_version"] == 4
        assert client.get("/v1/health").json()["status"] == "degraded"
