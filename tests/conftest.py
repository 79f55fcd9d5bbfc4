"""Fixtures shared by every test tier.

* ``kafka_settings`` (session): settings pointing at a running broker. With
  ``FLYWHEEL_BOOTSTRAP_SERVERS`` set, that cluster (and the ``FLYWHEEL_KAFKA_*`` credentials of the
  environment); otherwise a local broker started once for the session, on free ports, under a
  temporary state directory, and stopped at the end. The local broker authenticates and
  authorizes like any other: the settings connect as its admin (super user); a test that wants a
  role's principal uses ``as_role(kafka_settings, "gate")``, and processes started by tests get
  the same cluster and principal from ``tests.support.env.worker_env``. If the broker cannot
  start, the fixture fails: integration tests are never skipped for want of Kafka.
* ``kafka_cluster`` (session): a local three-node KRaft cluster
  (:class:`~alignment_flywheel.stack.cluster.LocalCluster`), started on first use only, stopped at
  the end; it yields ``.settings`` (its admin), ``.bootstrap``, ``.kill_broker(i)`` and
  ``.restart_broker(i)``. If it cannot start, the fixture fails.
* ``unique_name``: ``unique_name("orders")`` → ``"orders-1a2b3c4d5e"``, for per-test topics/groups.
* ``make_topic``: creates a topic on that broker, waits until it is usable, returns its name, and
  deletes it after the test.
* ``broker_settings_factory``: settings for a private local broker (free ports, own state dir).
* ``settings_factory``: settings for unit tests, isolated from the caller's ``FLYWHEEL_*``
  environment and ``flywheel.toml``, with a temporary state directory.

Everything under ``tests/integration`` is marked ``integration``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from alignment_flywheel.config import ENV_PREFIX, Settings, load_settings
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.stack.broker import LocalBroker, require_cluster
from alignment_flywheel.stack.cluster import LocalCluster
from alignment_flywheel.stack.processes import free_ports
from alignment_flywheel.stack.topics import create_topic

INTEGRATION_DIR = Path(__file__).parent / "integration"
TEST_BROKER_HEAP_MB = 512
CLUSTER_SIZE = 3
CLUSTER_HEAP_MB = 384
BROKER_START_TIMEOUT_S = 120.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def local_broker_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings for a local broker of its own: free ports, the given state directory, its own
    credentials (none inherited from the environment)."""
    broker_port, controller_port = free_ports(2)
    values: dict[str, Any] = {
        "bootstrap_servers": "",
        "kafka_username": None,
        "kafka_password": None,
        "kafka_credentials_dir": None,
        "kafka_role": None,
        "kafka_security_protocol": None,
        "state_dir": state_dir,
        "local_broker_port": broker_port,
        "local_controller_port": controller_port,
        "local_broker_heap_mb": TEST_BROKER_HEAP_MB,
        **overrides,
    }
    return load_settings(**values)


@pytest.fixture(scope="session")
def kafka_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state_dir = tmp_path_factory.mktemp("flywheel-state")
    external = os.environ.get(f"{ENV_PREFIX}BOOTSTRAP_SERVERS", "").strip()
    if external:
        settings = load_settings(bootstrap_servers=external, state_dir=state_dir)
        require_cluster(settings)
        yield settings
        return
    settings = local_broker_settings(state_dir)
    broker = LocalBroker(settings)
    broker.start(timeout=BROKER_START_TIMEOUT_S)
    try:
        yield settings
    finally:
        broker.stop()


@dataclass(frozen=True)
class ClusterHandle:
    """What a test may do with the session's three-node cluster."""

    cluster: LocalCluster

    @property
    def settings(self) -> Settings:
        return self.cluster.settings

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def kill_broker(self, index: int) -> None:
        self.cluster.kill(index)

    def restart_broker(self, index: int) -> None:
        self.cluster.restart(index)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHandle]:
    base = local_broker_settings(tmp_path_factory.mktemp("flywheel-cluster"))
    cluster = LocalCluster(base, size=CLUSTER_SIZE, heap_mb=CLUSTER_HEAP_MB)
    cluster.start(timeout=BROKER_START_TIMEOUT_S * 2)
    try:
        yield ClusterHandle(cluster)
    finally:
        cluster.stop()


@pytest.fixture
def broker_settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a private local broker (free ports, its own state dir), for lifecycle tests."""

    def make(name: str = "broker", **overrides: Any) -> Settings:
        return local_broker_settings(tmp_path / name, **overrides)

    return make


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    def make(prefix: str) -> str:
        return f"{prefix}-{uuid4().hex[:10]}"

    return make


@pytest.fixture
def make_topic(kafka_settings: Settings) -> Iterator[Callable[..., str]]:
    admin = admin_client(kafka_settings)
    created: list[str] = []

    def make(name: str, partitions: int = 1, config: Mapping[str, str] | None = None) -> str:
        create_topic(admin, name, partitions=partitions, config=config)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.result(timeout=30)


@pytest.fixture
def settings_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"state_dir": tmp_path / "state", **overrides}
        return load_settings(**values)

    return make
