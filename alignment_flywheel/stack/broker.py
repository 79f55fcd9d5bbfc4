"""The local single-node Kafka broker: start, stop, status.

Rules:

* The broker is a detached JVM (its own session, output to ``logs/kafka.out``): it outlives the
  process that started it, and any process finds it again through ``broker.pid``.
* :meth:`LocalBroker.start` is idempotent: a running broker is reused; a stale pid file is removed.
  It fetches the jars if needed, formats the storage on first start only, and returns once an
  AdminClient can read metadata. If the JVM dies or does not answer in time, it is stopped and a
  :class:`BrokerError` carries the end of its log. Nothing is ever restarted automatically.
* The broker authenticates every client and authorizes with ACLs
  (:mod:`~alignment_flywheel.stack.broker_auth`); the broker's own clients (readiness, status)
  connect as its admin. Once it answers, every catalog role's SCRAM user is set.
* Before starting, both ports are checked: a port held by another process is a clear error.
* :meth:`LocalBroker.stop` sends SIGTERM, then SIGKILL after the timeout.
* Starts and stops of one state directory are serialised by a lock file.
* With ``FLYWHEEL_BOOTSTRAP_SERVERS`` set there is no local broker; :func:`remote_status` reports on
  the configured cluster instead.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import BrokerError, KafkaTransportError
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import list_metadata, quiet_admin_client
from alignment_flywheel.stack.artifacts import (
    ensure_kafka_artifacts,
    java_executable,
    kafka_version,
)
from alignment_flywheel.stack.broker_auth import ensure_role_users, local_admin_settings
from alignment_flywheel.stack.broker_files import (
    BrokerLayout,
    broker_command,
    format_storage,
    log_tail,
    render_server_properties,
    write_config_files,
)
from alignment_flywheel.stack.processes import (
    file_lock,
    free_ports,
    port_in_use,
    process_alive,
    read_pid,
    runs,
    terminate,
    write_pid,
)

MAIN_CLASS = "kafka.Kafka"
READY_POLL_S = 0.25
STATUS_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class BrokerStatus:
    """What is known about the broker (local or remote) right now."""

    running: bool
    local: bool
    bootstrap: str
    version: str | None = None
    pid: int | None = None
    uptime_s: float | None = None
    data_dir: Path | None = None
    topic_count: int | None = None
    broker_count: int | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for a status table."""
        if not self.running:
            return self.detail or f"nothing answers at {self.bootstrap}"
        if not self.local:
            return (
                f"cluster at {self.bootstrap}: "
                f"{self.broker_count} brokers, {self.topic_count} topics"
            )
        return (
            f"local Kafka {self.version} at {self.bootstrap}, pid {self.pid}, "
            f"up {format_duration(self.uptime_s or 0)}, {self.topic_count} topics"
        )


class LocalBroker:
    """The single-node KRaft broker kept under ``<state_dir>/kafka``."""

    def __init__(self, settings: Settings) -> None:
        if not settings.uses_local_broker:
            raise BrokerError(
                f"FLYWHEEL_BOOTSTRAP_SERVERS is set ({settings.bootstrap_servers}): "
                "there is no local broker to manage"
            )
        self.settings = settings
        self.layout = BrokerLayout.for_settings(settings)
        self._admin_settings = local_admin_settings(settings)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.settings.effective_bootstrap_servers

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> BrokerStatus:
        """Start the broker (or reuse the running one) and wait until it answers."""
        with file_lock(self.layout.lock_file):
            pid = self.running_pid()
            if pid is not None:
                self._check_same_config(pid)
                self._wait_until_ready(pid, timeout, launched=False)
                return self.status()
            self._check_ports()
            libs = ensure_kafka_artifacts(self.settings)
            java = java_executable()
            write_config_files(self.settings, self.layout)
            format_storage(java, libs, self.layout, self.settings)
            pid = self._launch(java, libs)
            self._wait_until_ready(pid, timeout, launched=True)
            admin = quiet_admin_client(self._admin_settings)
            ensure_role_users(admin, self.settings, load_catalog())
        return self.status()

    def stop(self, timeout: float = 30) -> int | None:
        """Stop the broker; returns the pid that was stopped, or None when none was running."""
        if not self.layout.pid_file.exists():
            return None
        with file_lock(self.layout.lock_file):
            pid = self.running_pid()
            if pid is not None:
                terminate(pid, timeout)
                self._reap()
            self.layout.pid_file.unlink(missing_ok=True)
            self._process = None
            return pid

    def status(self) -> BrokerStatus:
        """Running, pid, bootstrap, version, uptime, data dir and topic count."""
        base = BrokerStatus(
            running=False,
            local=True,
            bootstrap=self.bootstrap,
            version=kafka_version(),
            data_dir=self.layout.data_dir,
        )
        pid = self.running_pid()
        if pid is None:
            return replace(base, detail="local broker not running (start it: flywheel infra up)")
        try:
            admin = quiet_admin_client(self._admin_settings)
            metadata = list_metadata(admin, timeout=STATUS_TIMEOUT_S)
        except KafkaTransportError as exc:
            return replace(base, pid=pid, detail=f"process {pid} runs but does not answer: {exc}")
        return replace(
            base,
            running=True,
            pid=pid,
            uptime_s=self._uptime(),
            topic_count=_user_topic_count(metadata.topics),
            broker_count=len(metadata.brokers),
        )

    def running_pid(self) -> int | None:
        """The pid of this state directory's broker, or None (a stale pid file is removed)."""
        pid = read_pid(self.layout.pid_file)
        if pid is None:
            return None
        if self._process is not None and self._process.pid == pid:
            alive = self._process.poll() is None
        else:
            alive = runs(pid, MAIN_CLASS, str(self.layout.server_properties))
        if not alive:
            self.layout.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def _check_ports(self) -> None:
        ports = {
            "local_broker_port (FLYWHEEL_LOCAL_BROKER_PORT)": self.settings.local_broker_port,
            "local_controller_port (FLYWHEEL_LOCAL_CONTROLLER_PORT)": (
                self.settings.local_controller_port
            ),
        }
        for name, port in ports.items():
            if port_in_use(port):
                raise BrokerError(
                    f"cannot start the local broker: port {port} on 127.0.0.1 ({name}) is "
                    "already in use by another process; stop it or choose another port"
                )

    def _check_same_config(self, pid: int) -> None:
        try:
            running = self.layout.server_properties.read_text(encoding="utf-8")
        except OSError:
            running = ""
        if running != render_server_properties(self.settings, self.layout):
            raise BrokerError(
                f"the local broker (pid {pid}) runs with another configuration than these "
                f"settings (ports?); stop it first with `flywheel infra down`"
            )

    def _launch(self, java: str, libs: Path) -> int:
        command = broker_command(java, libs, self.layout, self.settings.local_broker_heap_mb)
        with self.layout.jvm_output.open("ab") as output:
            try:
                self._process = subprocess.Popen(
                    command,
                    cwd=self.layout.home,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BrokerError(f"cannot launch the Kafka broker JVM ({java}): {exc}") from exc
        write_pid(self.layout.pid_file, self._process.pid)
        return self._process.pid

    def _wait_until_ready(self, pid: int, timeout: float, *, launched: bool) -> None:
        admin = quiet_admin_client(self._admin_settings)
        deadline = time.monotonic() + timeout
        while not _answers(admin):
            if not self._alive(pid):
                self._forget()
                raise BrokerError(
                    f"the local Kafka broker (pid {pid}) exited during start-up"
                    f"{self._exit_code_text()}:\n{log_tail(self.layout)}"
                )
            if time.monotonic() >= deadline:
                if launched:
                    self._abandon(pid)
                raise BrokerError(
                    f"the local Kafka broker (pid {pid}) did not answer at {self.bootstrap} "
                    f"within {timeout:g} s{', so it was stopped' if launched else ''}:\n"
                    + log_tail(self.layout)
                )
            time.sleep(READY_POLL_S)

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        return process_alive(pid)

    def _exit_code_text(self) -> str:
        if self._process is None or self._process.returncode is None:
            return ""
        return f" with exit code {self._process.returncode}"

    def _abandon(self, pid: int) -> None:
        terminate(pid, timeout=10)
        self._reap()
        self._forget()

    def _forget(self) -> None:
        self.layout.pid_file.unlink(missing_ok=True)

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()

    def _uptime(self) -> float | None:
        try:
            return max(0.0, time.time() - self.layout.pid_file.stat().st_mtime)
        except OSError:
            return None


def remote_status(settings: Settings, timeout: float = 5.0) -> BrokerStatus:
    """Reachability, broker count and topic count of the configured cluster."""
    base = BrokerStatus(running=False, local=False, bootstrap=settings.effective_bootstrap_servers)
    try:
        metadata = list_metadata(quiet_admin_client(settings), timeout=timeout)
    except KafkaTransportError as exc:
        return replace(base, detail=f"cluster at {base.bootstrap} unreachable: {exc}")
    return replace(
        base,
        running=True,
        topic_count=_user_topic_count(metadata.topics),
        broker_count=len(metadata.brokers),
    )


def broker_status(settings: Settings) -> BrokerStatus:
    """The local broker's status, or the configured cluster's."""
    if settings.uses_local_broker:
        return LocalBroker(settings).status()
    return remote_status(settings)


def require_cluster(settings: Settings, timeout: float = 10.0) -> BrokerStatus:
    """The running broker's status, or a :class:`KafkaTransportError` saying what to do."""
    bootstrap = settings.effective_bootstrap_servers
    if settings.uses_local_broker and LocalBroker(settings).running_pid() is None:
        raise KafkaTransportError(
            f"the local broker is not running (expected at {bootstrap}); "
            "start it with `flywheel infra up`"
        )
    try:
        metadata = list_metadata(quiet_admin_client(settings), timeout=timeout)
    except KafkaTransportError as exc:
        raise KafkaTransportError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return BrokerStatus(
        running=True,
        local=settings.uses_local_broker,
        bootstrap=bootstrap,
        topic_count=_user_topic_count(metadata.topics),
        broker_count=len(metadata.brokers),
    )


@contextmanager
def broker_for(base: Settings, state_dir: Path) -> Iterator[Settings]:
    """``base`` with ``state_dir``, on its configured cluster or, when it names none, on a fresh
    local broker on free loopback ports (stopped on exit): for benchmarks and tools that need a
    cluster of their own for a while."""
    if not base.uses_local_broker:
        yield base.model_copy(update={"state_dir": state_dir})
        return
    broker_port, controller_port = free_ports(2)
    settings = base.model_copy(
        update={
            "state_dir": state_dir,
            "local_broker_port": broker_port,
            "local_controller_port": controller_port,
        }
    )
    broker = LocalBroker(settings)
    broker.start()
    try:
        yield settings
    finally:
        broker.stop()


def format_duration(seconds: float) -> str:
    """``3725`` → ``"1h 2m 5s"``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _answers(admin: AdminClient) -> bool:
    try:
        metadata = admin.list_topics(timeout=1.0)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def _user_topic_count(topics: Mapping[str, object]) -> int:
    return sum(1 for name in topics if not name.startswith("__"))
