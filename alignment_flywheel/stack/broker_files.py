"""The files of the local broker under ``<state_dir>/kafka/``, and the storage format step.

Layout: ``server.properties`` and ``log4j2.properties`` (rendered from ``infra/kafka/`` before every
start), ``data/`` (the KRaft log directory), ``logs/`` (``server.log`` and the JVM's own output in
``kafka.out``), ``broker.pid`` and ``cluster.id``.

Rules: the storage is formatted once, when ``data/meta.properties`` is missing, with the SCRAM users
of the broker's super users (:mod:`~alignment_flywheel.stack.broker_auth`); the cluster id is kept
in ``cluster.id`` and reused if the data directory is formatted again. ``server.properties`` holds
passwords: it is written with mode 0600, in a 0700 directory. A cluster id is 16
random bytes in URL-safe base64 without padding, and never starts with ``-`` (the storage tool
would read it as an option).
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import BrokerError
from alignment_flywheel.kafka.credentials import write_private
from alignment_flywheel.resources import INFRA_DIR
from alignment_flywheel.stack.artifacts import tail
from alignment_flywheel.stack.broker_auth import (
    credentials_dir,
    local_secrets,
    missing_super_users,
    scram_arguments,
    template_values,
)

log = logging.getLogger(__name__)

SERVER_TEMPLATE = INFRA_DIR / "kafka" / "server.properties.template"
LOG4J2_CONFIG = INFRA_DIR / "kafka" / "log4j2.properties"
FORMAT_TIMEOUT_S = 120


@dataclass(frozen=True)
class BrokerLayout:
    """Where the local broker keeps its files."""

    home: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> BrokerLayout:
        return cls(settings.state_dir.resolve() / "kafka")

    @property
    def server_properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j2_properties(self) -> Path:
        return self.home / "log4j2.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def jvm_output(self) -> Path:
        return self.logs_dir / "kafka.out"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def cluster_id_file(self) -> Path:
        return self.home / "cluster.id"

    @property
    def lock_file(self) -> Path:
        return self.home / ".lifecycle.lock"

    @property
    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").is_file()


def render_server_properties(settings: Settings, layout: BrokerLayout) -> str:
    """The broker's ``server.properties``: ports from the settings, data in ``layout.data_dir``,
    the super users' credentials from the credentials directory (generated on first use)."""
    template = Template(SERVER_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        broker_port=settings.local_broker_port,
        controller_port=settings.local_controller_port,
        data_dir=layout.data_dir,
        **template_values(local_secrets(settings)),
    )


def write_config_files(settings: Settings, layout: BrokerLayout) -> None:
    """Create the directories and write both configuration files."""
    if settings.local_broker_port == settings.local_controller_port:
        raise BrokerError(
            f"local_broker_port and local_controller_port are both {settings.local_broker_port}; "
            "the broker needs two different ports"
        )
    for directory in (layout.home, layout.data_dir, layout.logs_dir):
        directory.mkdir(parents=True, exist_ok=True)
    layout.home.chmod(0o700)
    if layout.formatted and not credentials_dir(settings).exists():
        set_aside_unauthenticated_data(layout)
    if layout.formatted and (missing := missing_super_users(settings)):
        raise BrokerError(
            f"the broker data in {layout.data_dir} was formatted without the credentials of "
            f"{', '.join(missing)} (before access control, or they were deleted): remove that "
            "directory to start from an empty broker"
        )
    rendered = render_server_properties(settings, layout)
    layout.server_properties.touch(mode=0o600)
    layout.server_properties.chmod(0o600)
    layout.server_properties.write_text(rendered, encoding="utf-8")
    shutil.copyfile(LOG4J2_CONFIG, layout.log4j2_properties)


def set_aside_unauthenticated_data(layout: BrokerLayout) -> Path:
    """Move broker data formatted before access control (no credentials were ever made for it)
    aside, under a dated name beside it, so the broker starts empty and authenticated; the old
    data is kept, never deleted."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = layout.data_dir.with_name(f"{layout.data_dir.name}.before-access-control-{stamp}")
    layout.data_dir.rename(kept)
    layout.data_dir.mkdir()
    log.warning(
        "the broker data predates access control: moved to %s; the broker starts empty", kept
    )
    return kept


def new_cluster_id() -> str:
    """A fresh KRaft cluster id that the storage tool accepts."""
    while True:
        candidate = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")
        if not candidate.startswith("-"):
            return candidate


def cluster_id(layout: BrokerLayout) -> str:
    """The id kept in ``cluster.id``, created on first use."""
    if layout.cluster_id_file.is_file():
        kept = layout.cluster_id_file.read_text(encoding="utf-8").strip()
        if kept and not kept.startswith("-"):
            return kept
    fresh = new_cluster_id()
    layout.cluster_id_file.write_text(fresh + "\n", encoding="utf-8")
    return fresh


def jvm_logging_options(layout: BrokerLayout) -> list[str]:
    return [
        f"-Dlog4j2.configurationFile={layout.log4j2_properties}",
        f"-Dkafka.logs.dir={layout.logs_dir}",
    ]


def format_storage(
    java: str,
    libs: Path,
    layout: BrokerLayout,
    settings: Settings,
    quorum_arguments: tuple[str, ...] = ("--standalone",),
) -> None:
    """Format ``data/`` for a KRaft quorum (by default one node) with the super users, unless it
    already is. A node of a static quorum (``controller.quorum.voters``) passes no quorum
    arguments.

    The storage tool's arguments (the SCRAM passwords among them) go in a 0600 argument file
    (``java @file``), not on a command line that other local users can read in ``/proc``."""
    if layout.formatted:
        return
    arguments = [
        "kafka.tools.StorageTool",
        "format",
        *quorum_arguments,
        "-t",
        cluster_id(layout),
        "-c",
        str(layout.server_properties),
        *scram_arguments(local_secrets(settings)),
    ]
    argfile = layout.home / "format.args"
    write_private(argfile, " ".join(_argfile_quoted(argument) for argument in arguments))
    command = [java, *jvm_logging_options(layout), "-cp", f"{libs}/*", f"@{argfile}"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"cannot run the Kafka storage tool: {exc}") from exc
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise BrokerError(
            f"formatting the broker storage in {layout.data_dir} failed "
            f"(exit {result.returncode}):\n{tail(result.stdout + result.stderr)}"
        )


def _argfile_quoted(argument: str) -> str:
    """One argument of a java ``@file``: double-quoted, backslashes and quotes escaped."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


def broker_command(java: str, libs: Path, layout: BrokerLayout, heap_mb: int) -> list[str]:
    """The JVM command line of the broker (the options of Kafka's own start scripts)."""
    return [
        java,
        f"-Xmx{heap_mb}m",
        f"-Xms{heap_mb}m",
        "-server",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        *jvm_logging_options(layout),
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(layout.server_properties),
    ]


def log_tail(layout: BrokerLayout, lines: int = 30) -> str:
    """The last error of the server log, then the end of the server log and of the JVM output."""
    parts = []
    for path in (layout.server_log, layout.jvm_output):
        text = _read_end(path)
        if text:
            parts.append(f"--- {path} ---\n{tail(text, lines)}")
    cause = last_error(_read_end(layout.server_log))
    if cause:
        parts.insert(0, f"cause: {cause}")
    return "\n".join(parts) or f"(no log in {layout.logs_dir})"


def last_error(log: str) -> str | None:
    """The last ERROR line of a Kafka log, with the exception line that follows it."""
    lines = log.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if "] ERROR " in lines[index]:
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            return f"{lines[index].strip()} {following}".strip()
    return None


def _read_end(path: Path, size: int = 64 * 1024) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
