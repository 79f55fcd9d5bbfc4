"""`flywheel infra up | status | down` as separate processes, the way an operator runs them."""

from __future__ import annotations

import os
import re

import pytest

from alignment_flywheel.config import ENV_PREFIX
from alignment_flywheel.kafka.credentials import connection_env, read_credentials
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.topics import load_catalog
from tests.support.cli import flywheel


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update({f"{ENV_PREFIX}{key.upper()}": value for key, value in settings.items()})
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def local_stack(broker_settings_factory, tmp_path):
    settings = broker_settings_factory("stack")
    env = clean_env(
        state_dir=str(settings.state_dir),
        local_broker_port=str(settings.local_broker_port),
        local_controller_port=str(settings.local_controller_port),
        local_broker_heap_mb="512",
    )
    yield settings, env
    LocalBroker(settings).stop()


def test_infra_up_status_down(local_stack, tmp_path):
    settings, env = local_stack
    topics = len(load_catalog().topics)

    up = flywheel(env, tmp_path, "infra", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "broker ready in" in up.stdout
    assert f"{topics} created" in up.stdout
    assert re.search(r"ACLs: [1-9]\d* created, 0 deleted", up.stdout)
    assert "001_flywheel_database.sql" in up.stdout
    credentials = settings.state_dir.resolve() / "kafka" / "credentials"
    assert str(credentials) in " ".join(up.stdout.split())
    files = sorted(credentials.glob("*.json"))
    assert {f.stem for f in files} >= {"admin", "broker", "controller", "gate", "operator"}
    for file in files:  # nothing secret is printed
        assert read_credentials(file).password not in up.stdout + up.stderr

    status = LocalBroker(settings).status()
    assert status.running, "the broker keeps running after `infra up` returns"
    assert status.topic_count == topics

    shown = flywheel(env, tmp_path, "infra", "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert str(status.pid) in shown.stdout
    assert f"{topics} topics match" in shown.stdout
    assert "and their ACLs" in shown.stdout

    again = flywheel(env, tmp_path, "infra", "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"0 created, 0 reconfigured, 0 with partitions added, {topics} unchanged" in again.stdout
    assert "none pending" in again.stdout
    assert LocalBroker(settings).status().pid == status.pid

    down = flywheel(env, tmp_path, "infra", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"stopped the local broker (pid {status.pid})" in down.stdout
    assert not LocalBroker(settings).status().running

    after = flywheel(env, tmp_path, "infra", "status")
    assert after.returncode == 1
    assert "not running" in after.stdout
    assert "was not running" in flywheel(env, tmp_path, "infra", "down").stdout


def test_infra_with_a_configured_cluster_starts_nothing(kafka_settings, tmp_path):
    env = {**clean_env(state_dir=str(tmp_path / "state")), **connection_env(kafka_settings)}
    up = flywheel(env, tmp_path, "infra", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "there is no local broker to start" in up.stdout
    down = flywheel(env, tmp_path, "infra", "down")
    assert "there is no local broker to stop" in down.stdout
    shown = flywheel(env, tmp_path, "infra", "status")
    assert "kafka broker: configured cluster" in shown.stdout
    flat = " ".join(shown.stdout.split())  # the status detail column wraps within 80 columns
    assert f"cluster at {kafka_settings.effective_bootstrap_servers}: 1 brokers" in flat
