"""A local Kafka cluster of several KRaft nodes, for tests and trials of replication.

Rules:

* Each node is a combined broker and controller (one JVM), from the same jars, template and
  authentication as the single local broker (:mod:`~alignment_flywheel.stack.broker_files`,
  :mod:`~alignment_flywheel.stack.broker_auth`): SCRAM-SHA-512 clients, a PLAIN controller
  listener, the ACL authorizer, the same super users. The nodes form a static quorum
  (``controller.quorum.voters``) and share one cluster id and one credentials directory.
* Ports are free loopback ports below the kernel's ephemeral range
  (:func:`~alignment_flywheel.stack.processes.free_ports`), two per node.
* The cluster's own internal topics (consumer offsets, transaction state) have
  ``min(nodes, 3)`` replicas; brokers are fenced a few seconds after they stop heartbeating, so
  a killed node's partitions show as under-replicated quickly.
* :meth:`LocalCluster.start` returns once every node is registered and the role users are set;
  :meth:`LocalCluster.kill` sends SIGKILL to one node, :meth:`LocalCluster.restart` starts it
  again on the same data and waits until it is registered. Nothing restarts on its own.
* :attr:`LocalCluster.settings` connect to every node as the admin (super user).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from alignment_flywheel.config import LOCAL_SASL_MECHANISM, LOCAL_SECURITY_PROTOCOL, Settings
from alignment_flywheel.errors import BrokerError, KafkaTransportError
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import list_metadata, quiet_admin_client
from alignment_flywheel.stack.artifacts import ensure_kafka_artifacts, java_executable
from alignment_flywheel.stack.broker_auth import ensure_role_users, local_admin_settings
from alignment_flywheel.stack.broker_files import (
    BrokerLayout,
    broker_command,
    format_storage,
    log_tail,
    new_cluster_id,
    write_config_files,
)
from alignment_flywheel.stack.processes import free_ports, terminate, wait_for_exit

POLL_S = 0.25
FENCE_AFTER_MS = 6000
HEARTBEAT_MS = 1000
_REMOVED_KEYS = ("controller.quorum.bootstrap.servers",)


@dataclass(frozen=True)
class Node:
    """One node of the cluster: its id, ports and files."""

    node_id: int
    broker_port: int
    controller_port: int
    layout: BrokerLayout

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"


class LocalCluster:
    """``size`` combined broker+controller nodes under ``<state_dir>/cluster``."""

    def __init__(self, base: Settings, size: int = 3, heap_mb: int = 384) -> None:
        self.size = size
        self.heap_mb = heap_mb
        home = base.state_dir.resolve() / "cluster"
        self._local = base.model_copy(
            update={
                "bootstrap_servers": "",
                "kafka_credentials_dir": home / "credentials",
                "kafka_username": None,
                "kafka_password": None,
                "kafka_role": None,
                "kafka_security_protocol": None,
            }
        )
        ports = free_ports(2 * size)
        self.nodes = [
            Node(i + 1, ports[2 * i], ports[2 * i + 1], BrokerLayout(home / f"node-{i + 1}"))
            for i in range(size)
        ]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def settings(self) -> Settings:
        """Settings on this cluster, as its admin."""
        return local_admin_settings(self._local).model_copy(
            update={
                "bootstrap_servers": self.bootstrap,
                "kafka_security_protocol": LOCAL_SECURITY_PROTOCOL,
                "kafka_sasl_mechanism": LOCAL_SASL_MECHANISM,
            }
        )

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 180.0) -> None:
        """Write, format and launch every node; wait until all are registered."""
        libs = ensure_kafka_artifacts(self._local)
        java = java_executable()
        cluster_id = new_cluster_id()
        for node in self.nodes:
            self._prepare(node, java, libs, cluster_id)
        for node in self.nodes:
            self._launch(node, java, libs)
        self.wait_for_brokers(self.size, timeout)
        ensure_role_users(quiet_admin_client(self.settings), self._local, load_catalog())

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node: SIGTERM to all at once (a node stopped last alone would wait for a
        quorum that is gone), then SIGKILL what is left after ``timeout``."""
        processes = [self._processes.pop(index) for index in list(self._processes)]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in processes:
            if process.poll() is None:
                terminate(process.pid, max(0.0, deadline - time.monotonic()))
            process.wait()

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (0-based) and wait until its process is gone."""
        process = self._processes.pop(index, None)
        if process is None:
            raise BrokerError(f"node {index} of the local cluster is not running")
        os.kill(process.pid, signal.SIGKILL)
        wait_for_exit(process.pid, 30)
        process.wait()

    def restart(self, index: int, timeout: float = 120.0) -> None:
        """Start node ``index`` again on its data; wait until every node is registered."""
        if index in self._processes:
            raise BrokerError(f"node {index} of the local cluster is running")
        node = self.nodes[index]
        self._launch(node, java_executable(), ensure_kafka_artifacts(self._local))
        self.wait_for_brokers(self.size, timeout, node)

    def wait_for_brokers(self, count: int, timeout: float, node: Node | None = None) -> None:
        """Until the metadata lists ``count`` brokers (asked of ``node`` alone when given: then it
        serves metadata and is registered); a node that exits fails at once."""
        settings = self.settings
        if node is not None:
            settings = settings.model_copy(update={"bootstrap_servers": node.bootstrap})
        admin = quiet_admin_client(settings)
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if _lists_brokers(admin, count, node):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise BrokerError(
                    f"the local cluster did not register {count} brokers within {timeout:g} s:\n"
                    + "\n".join(log_tail(node.layout, 10) for node in self.nodes)
                )
            time.sleep(POLL_S)

    def _check_alive(self) -> None:
        for index, process in self._processes.items():
            if process.poll() is not None:
                node = self.nodes[index]
                self.stop()
                raise BrokerError(
                    f"node {node.node_id} of the local cluster exited with code "
                    f"{process.returncode}:\n{log_tail(node.layout)}"
                )

    def _prepare(self, node: Node, java: str, libs: Path, cluster_id: str) -> None:
        settings = self._node_settings(node)
        write_config_files(settings, node.layout)
        rendered = node.layout.server_properties.read_text(encoding="utf-8")
        properties = cluster_properties(rendered, node, self.voters, self.size)
        node.layout.server_properties.write_text(properties, encoding="utf-8")
        if not node.layout.cluster_id_file.exists():
            node.layout.cluster_id_file.write_text(cluster_id + "\n", encoding="utf-8")
        format_storage(java, libs, node.layout, settings, quorum_arguments=())

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    def _node_settings(self, node: Node) -> Settings:
        return self._local.model_copy(
            update={
                "local_broker_port": node.broker_port,
                "local_controller_port": node.controller_port,
            }
        )

    def _launch(self, node: Node, java: str, libs: Path) -> None:
        command = broker_command(java, libs, node.layout, self.heap_mb)
        with node.layout.jvm_output.open("ab") as output:
            try:
                process = subprocess.Popen(
                    command,
                    cwd=node.layout.home,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BrokerError(f"cannot launch a Kafka node ({java}): {exc}") from exc
        self._processes[node.node_id - 1] = process


def _lists_brokers(admin: AdminClient, count: int, node: Node | None) -> bool:
    try:
        brokers = list_metadata(admin, timeout=2.0).brokers
    except KafkaTransportError:
        return False
    return len(brokers) >= count and (node is None or node.node_id in brokers)


def cluster_properties(rendered: str, node: Node, voters: str, size: int) -> str:
    """The single broker's ``server.properties`` turned into one node of a static quorum."""
    factor = min(size, 3)
    min_isr = factor - 1 if factor >= 3 else 1
    listeners = (
        f"CLIENT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
    )
    overrides = {
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": listeners,
        "advertised.listeners": listeners,
        "offsets.topic.replication.factor": str(factor),
        "transaction.state.log.replication.factor": str(factor),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(factor),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "broker.session.timeout.ms": str(FENCE_AFTER_MS),
        "broker.heartbeat.interval.ms": str(HEARTBEAT_MS),
    }
    lines = []
    for line in rendered.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") else None
        if key in _REMOVED_KEYS or key in overrides:
            continue
        lines.append(line)
    lines.append("")
    lines.append("# One node of a local cluster (alignment_flywheel/stack/cluster.py).")
    lines += [f"{key}={value}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"
