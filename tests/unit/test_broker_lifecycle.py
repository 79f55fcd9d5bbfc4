"""Broker lifecycle rules that need no JVM: ports, pid files, status text."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from alignment_flywheel.errors import BrokerError, KafkaTransportError
from alignment_flywheel.kafka.clients import CLIENT_LOG, client_config
from alignment_flywheel.kafka.credentials import ensure_credentials
from alignment_flywheel.stack.broker import (
    BrokerStatus,
    LocalBroker,
    format_duration,
    require_cluster,
)
from alignment_flywheel.stack.processes import (
    ephemeral_range,
    free_ports,
    port_in_use,
    process_alive,
    read_pid,
    terminate,
)


@pytest.fixture
def listening_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def sleeper():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_port_in_use_sees_a_listening_socket(listening_port):
    assert port_in_use(listening_port)


def test_free_ports_are_distinct_free_and_below_the_ephemeral_range():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert not any(port_in_use(port) for port in ports)
    assert all(20000 <= port < ephemeral_range()[0] for port in ports)


def test_start_on_an_occupied_port_fails_before_fetching_anything(
    settings_factory, listening_port, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    settings = settings_factory(
        cache_dir=tmp_path / "cache",
        local_broker_port=listening_port,
        local_controller_port=free_ports(1)[0],
    )
    with pytest.raises(BrokerError, match=rf"port {listening_port} on 127.0.0.1 .*already in use"):
        LocalBroker(settings).start(timeout=5)
    assert not (tmp_path / "cache").exists()


def test_occupied_controller_port_is_named(settings_factory, listening_port, tmp_path):
    settings = settings_factory(
        cache_dir=tmp_path / "cache",
        local_broker_port=free_ports(1)[0],
        local_controller_port=listening_port,
    )
    with pytest.raises(BrokerError, match="FLYWHEEL_LOCAL_CONTROLLER_PORT"):
        LocalBroker(settings).start(timeout=5)


def test_no_local_broker_when_a_cluster_is_configured(settings_factory):
    settings = settings_factory(bootstrap_servers="kafka:9092")
    with pytest.raises(BrokerError, match=r"FLYWHEEL_BOOTSTRAP_SERVERS is set \(kafka:9092\)"):
        LocalBroker(settings)


def test_status_without_a_pid_file_is_not_running(settings_factory):
    status = LocalBroker(settings_factory(local_broker_port=31111)).status()
    assert not status.running and status.local and status.pid is None
    assert status.bootstrap == "127.0.0.1:31111"
    assert status.version == "4.1.1"
    assert "not running" in status.describe()


def test_a_pid_file_of_a_dead_process_is_stale_and_removed(settings_factory):
    broker = LocalBroker(settings_factory())
    dead = subprocess.Popen(["true"])
    dead.wait()
    broker.layout.home.mkdir(parents=True)
    broker.layout.pid_file.write_text(f"{dead.pid}\n")
    assert broker.running_pid() is None
    assert not broker.layout.pid_file.exists()
    assert broker.stop() is None


def test_a_pid_file_naming_another_program_is_stale_and_that_program_is_left_alone(
    settings_factory, sleeper
):
    broker = LocalBroker(settings_factory())
    broker.layout.home.mkdir(parents=True)
    broker.layout.pid_file.write_text(f"{sleeper.pid}\n")
    assert not broker.status().running
    assert broker.stop() is None
    assert sleeper.poll() is None, "stop() must not signal a process that is not our broker"


def test_garbage_in_the_pid_file_is_ignored(tmp_path):
    pid_file = tmp_path / "broker.pid"
    pid_file.write_text("not a pid")
    assert read_pid(pid_file) is None
    assert read_pid(tmp_path / "missing.pid") is None


def test_terminate_stops_a_process_and_kills_one_that_ignores_sigterm():
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    started = time.monotonic()
    terminate(stubborn.pid, timeout=0.5)
    assert time.monotonic() - started >= 0.5, "SIGTERM was ignored, so SIGKILL came after 0.5 s"
    assert not process_alive(stubborn.pid)
    stubborn.wait()
    stubborn.stdout.close()


def test_status_descriptions():
    local = BrokerStatus(
        running=True,
        local=True,
        bootstrap="127.0.0.1:1",
        version="4.1.1",
        pid=42,
        uptime_s=3725,
        topic_count=14,
    )
    assert local.describe() == "local Kafka 4.1.1 at 127.0.0.1:1, pid 42, up 1h 2m 5s, 14 topics"
    remote = BrokerStatus(
        running=True, local=False, bootstrap="k:9092", broker_count=3, topic_count=9
    )
    assert remote.describe() == "cluster at k:9092: 3 brokers, 9 topics"
    assert format_duration(59.9) == "59s" and format_duration(61) == "1m 1s"


def test_require_cluster_says_how_to_start_the_local_broker(settings_factory):
    with pytest.raises(KafkaTransportError, match=r"not running .* `flywheel infra up`"):
        require_cluster(settings_factory(local_broker_port=31222))


def test_client_config_names_the_cluster_and_the_client(settings_factory):
    settings = settings_factory(local_broker_port=31333)
    admin = ensure_credentials(settings.state_dir / "kafka" / "credentials", "admin", "u")
    local = client_config(settings)
    assert local == {
        "bootstrap.servers": "127.0.0.1:31333",
        "client.id": "flywheel",
        "logger": CLIENT_LOG,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "u",
        "sasl.password": admin.password,
    }
    remote = client_config(settings_factory(bootstrap_servers="k1:9092,k2:9092"), "gate")
    assert remote["bootstrap.servers"] == "k1:9092,k2:9092"
    assert remote["client.id"] == "flywheel-gate"
    assert CLIENT_LOG.name == "flywheel.kafka"
