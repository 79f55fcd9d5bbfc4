"""The local broker on a real JVM: start, restart with data kept, detached life, failures, status.

Each test runs a private broker (free ports, own state dir), except those that only read the
session broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, Producer

from alignment_flywheel.errors import BrokerError
from alignment_flywheel.kafka.clients import admin_client, client_config
from alignment_flywheel.stack.artifacts import (
    ensure_kafka_artifacts,
    java_executable,
    kafka_version,
)
from alignment_flywheel.stack.broker import LocalBroker, broker_status, remote_status
from alignment_flywheel.stack.broker_files import BrokerLayout, format_storage, write_config_files
from alignment_flywheel.stack.processes import free_ports, process_alive
from alignment_flywheel.stack.topics import create_topic


def produce(settings, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer({**client_config(settings, "test"), "acks": "all"})
    producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def consume_all(settings, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer(
        {
            **client_config(settings, "test"),
            "group.id": f"reader-{os.getpid()}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    records = []
    try:
        deadline = time.monotonic() + 60
        while len(records) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None:
                assert msg.error() is None, msg.error()
                records.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return records


def test_restart_keeps_topics_and_records(broker_settings_factory):
    settings = broker_settings_factory()
    broker = LocalBroker(settings)
    try:
        first = broker.start(timeout=120)
        assert first.running and first.local and first.pid is not None
        assert first.version == kafka_version()
        assert first.bootstrap == f"127.0.0.1:{settings.local_broker_port}"
        assert first.data_dir == settings.state_dir.resolve() / "kafka" / "data"
        assert (first.topic_count, first.broker_count) == (0, 1)
        assert broker.start().pid == first.pid, "start() on a running broker reuses it"
        moved = settings.model_copy(update={"local_broker_port": free_ports(1)[0]})
        with pytest.raises(BrokerError, match="runs with another configuration"):
            LocalBroker(moved).start(timeout=5)
        assert broker.status().running

        create_topic(admin_client(settings), "kept", partitions=2)
        produce(settings, "kept", b"key-1", b"survives a restart")

        assert broker.stop() == first.pid
        assert not process_alive(first.pid)
        assert not broker.layout.pid_file.exists()
        assert not broker.status().running

        second = broker.start(timeout=120)
        assert second.pid != first.pid
        assert second.topic_count == 1
        assert consume_all(settings, "kept", 1) == [(b"key-1", b"survives a restart")]
    finally:
        broker.stop()


def test_the_broker_outlives_the_process_that_started_it(broker_settings_factory):
    settings = broker_settings_factory()
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from alignment_flywheel.config import load_settings\n"
        "from alignment_flywheel.stack.broker import LocalBroker\n"
        "settings = load_settings(state_dir=Path(sys.argv[1]), local_broker_port=int(sys.argv[2]),"
        " local_controller_port=int(sys.argv[3]), local_broker_heap_mb=512, bootstrap_servers='')\n"
        "print(LocalBroker(settings).start(timeout=120).pid)\n"
    )
    args = [
        str(settings.state_dir),
        str(settings.local_broker_port),
        str(settings.local_controller_port),
    ]
    broker = LocalBroker(settings)
    try:
        started = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        pid = int(started.stdout.strip())
        status = broker.status()
        assert status.running and status.pid == pid
        assert os.getsid(pid) == pid, "the JVM leads its own session"
    finally:
        assert broker.stop() is not None, "another process finds the broker by its pid file"


def test_a_broker_that_dies_during_start_up_raises_with_its_log(broker_settings_factory):
    settings = broker_settings_factory()
    layout = BrokerLayout.for_settings(settings)
    write_config_files(settings, layout)
    format_storage(java_executable(), ensure_kafka_artifacts(settings), layout, settings)
    meta = layout.data_dir / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))
    broker = LocalBroker(settings)
    with pytest.raises(BrokerError) as failure:
        broker.start(timeout=120)
    message = str(failure.value)
    assert "exited during start-up with exit code 1" in message
    assert "cause:" in message and "Stored node id 7 doesn't match previous node id 1" in message
    assert not layout.pid_file.exists()
    assert not broker.status().running


def test_a_port_held_by_another_broker_is_reported(kafka_settings, broker_settings_factory):
    with socket.socket() as holder:
        if kafka_settings.uses_local_broker:
            busy = kafka_settings.local_broker_port  # held by the session broker
        else:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            busy = holder.getsockname()[1]
        settings = broker_settings_factory(local_broker_port=busy)
        with pytest.raises(BrokerError, match=rf"port {busy} on 127.0.0.1 .* already in use"):
            LocalBroker(settings).start(timeout=30)


def test_status_of_the_session_broker(kafka_settings):
    status = broker_status(kafka_settings)
    assert status.running and status.broker_count == 1
    remote = remote_status(kafka_settings)
    assert remote.running and not remote.local and remote.broker_count == 1
    assert remote.topic_count is not None and remote.topic_count >= 0
    assert "cluster at" in remote.describe()


def test_status_of_an_unreachable_cluster(settings_factory):
    (port,) = free_ports(1)
    status = remote_status(settings_factory(bootstrap_servers=f"127.0.0.1:{port}"), timeout=1)
    assert not status.running
    assert f"cluster at 127.0.0.1:{port} unreachable" in status.describe()
