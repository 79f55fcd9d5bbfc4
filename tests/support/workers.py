"""Running a `flywheel <role> run` command as a subprocess worker in the integration tests.

:func:`start_cli_worker` is the one launcher of the real CLI: it starts the command and, unless
told not to, waits until the worker holds partitions of its consumer group (``--app-id``, or the
role's group in the registry; roles without one, the ledger and the sink, are not waited for),
failing at once if the worker exits first. :func:`stop_worker` stops one."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event
from alignment_flywheel.roles import ROLES
from tests.support.cli import FLYWHEEL
from tests.support.doubles import DELAY_ENV
from tests.support.env import worker_env
from tests.support.kafka import FAST_FAILOVER, read_records, wait_for_group

REPO = Path(__file__).resolve().parents[2]


def start_cli_worker(
    settings: Settings,
    args: list[str],
    state_dir: Path,
    log_path: Path,
    *,
    wait: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``flywheel *args`` against the test broker, as the principal of ``settings`` (with ``env``
    added to its environment), its output appended to ``log_path``; with ``wait``, once it holds
    partitions of its group."""
    command = [FLYWHEEL, *args]
    env = {**worker_env(settings, FLYWHEEL_STATE_DIR=str(state_dir)), **(env or {})}
    with log_path.open("ab") as log:
        worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    group = group_of(args)
    if wait and group is not None:
        try:
            wait_for_group(settings, group, 1, [log_path], workers=[worker])
        except BaseException:
            worker.kill()
            worker.wait(10)
            raise
    return worker


def replaceable_worker(
    settings: Settings,
    args: list[str],
    directory: Path,
    *,
    delay_ms: int,
    env: Mapping[str, str] | None = None,
) -> Callable[[int], subprocess.Popen[bytes]]:
    """Starts worker ``n`` of a kill-and-replace test: ``flywheel *args`` as identity
    ``worker-n`` with state ``directory/s<n>``, log ``directory/w<n>.log``, fast failover
    (:data:`FAST_FAILOVER`), a pause of ``delay_ms`` per record in the test doubles and ``env``."""

    def start(n: int) -> subprocess.Popen[bytes]:
        identity = {"FLYWHEEL_IDENTITY": f"worker-{n}", DELAY_ENV: str(delay_ms)}
        env_n = {**identity, **FAST_FAILOVER, **(env or {})}
        log = directory / f"w{n}.log"
        return start_cli_worker(settings, args, directory / f"s{n}", log, env=env_n)

    return start


def stop_worker(worker: subprocess.Popen[bytes], *, kill: bool = False) -> int:
    """SIGTERM (or SIGKILL) a worker and wait for it; returns its exit code."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        return worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.wait(10)


def topic_options(topics: Mapping[str, object]) -> list[str]:
    """``--<name>-topic NAME`` for each topic of ``topics`` (keys as the processors' topics
    dataclass fields: ``dead_letters``, ``proposals``...); values that are not names are skipped."""
    options: list[str] = []
    for key, name in topics.items():
        if isinstance(name, str):
            option = "dead-letter" if key == "dead_letters" else key.replace("_", "-")
            options += [f"--{option}-topic", name]
    return options


def hook(name: str) -> str:
    """The CLI hook path of the test double ``name`` in :mod:`tests.support.doubles`."""
    return f"tests.support.doubles:{name}"


def group_of(args: list[str]) -> str | None:
    """The consumer group of the worker ``flywheel *args`` starts (None: it has none)."""
    if "--app-id" in args:
        return args[args.index("--app-id") + 1]
    role = ROLES.get(args[0]) if args else None
    return None if role is None or role.command != tuple(args[:2]) else role.group


def read_events(
    settings: Settings, codec: EventCodec, topic: str, count: int, *, timeout: float = 90.0
) -> list[Event]:
    """Up to ``count`` events from the start of ``topic`` (fewer if ``timeout`` passes)."""
    return [codec.decode(r.value) for r in read_records(settings, topic, count, timeout=timeout)]


def read_until(
    settings: Settings,
    codec: EventCodec,
    topic: str,
    done: Callable[[list[Event]], bool],
    *,
    timeout: float = 150.0,
) -> list[Event]:
    """Every event of ``topic`` once ``done`` holds for them (or all of them after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        events = read_events(settings, codec, topic, 100_000, timeout=3.0)
        if done(events) or time.monotonic() > deadline:
            return events
