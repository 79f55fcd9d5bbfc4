"""Operating-system helpers for the local broker: pid files, liveness, signals, ports.

Rules: free ports are taken below the kernel's ephemeral range (never handed out to outgoing
connections); a pid file is trusted only while its process is alive and, where ``/proc`` exists, its
command line names the expected main class and configuration file; otherwise it is stale. A
process is stopped with SIGTERM, then SIGKILL after the timeout; nothing is ever restarted here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alignment_flywheel.errors import BrokerError

POLL_INTERVAL_S = 0.1
PORT_FLOOR = 20000
EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file``, or None when the file is missing or unreadable."""
    try:
        text = pid_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.write_text(f"{pid}\n", encoding="utf-8")


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead; our own dead children are reaped)."""
    with contextlib.suppress(ChildProcessError):
        reaped, _status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) != "Z"


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else None


def command_line(pid: int) -> list[str] | None:
    """The arguments of ``pid`` from ``/proc``, or None where ``/proc`` is not available."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part]


def runs(pid: int, *markers: str) -> bool:
    """True when ``pid`` is alive and its command line contains every marker (if it can be read)."""
    if not process_alive(pid):
        return False
    args = command_line(pid)
    return args is None or all(marker in args for marker in markers)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; False when it is still alive after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)
    return True


def terminate(pid: int, timeout: float, kill_grace: float = 10.0) -> None:
    """SIGTERM, wait ``timeout`` s, then SIGKILL; :class:`BrokerError` if the process survives."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_for_exit(pid, timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not wait_for_exit(pid, kill_grace):
        raise BrokerError(f"process {pid} survived SIGTERM and SIGKILL")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on (or holds) ``host:port``; TIME_WAIT sockets do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free on ``host`` right now, below the kernel's ephemeral
    range, so that no outgoing connection takes one between this answer and the broker's bind."""
    top = ephemeral_range()[0]
    candidates = random.sample(range(PORT_FLOOR, top), k=top - PORT_FLOOR)
    picked: list[int] = []
    for port in candidates:
        if not port_in_use(port, host):
            picked.append(port)
            if len(picked) == count:
                return picked
    raise BrokerError(f"fewer than {count} free ports on {host} in {PORT_FLOOR}-{top - 1}")


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections (Linux default where it cannot be read)."""
    try:
        low, high = Path(EPHEMERAL_RANGE_FILE).read_text(encoding="utf-8").split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock held for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
