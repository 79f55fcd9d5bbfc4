"""Running a `flywheel <role> run` command as a subprocess worker in the integration tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event
from tests.support.env import worker_env
from tests.support.kafka import read_records

REPO = Path(__file__).resolve().parents[2]


def start_cli_worker(
    settings: Settings, args: list[str], state_dir: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """``flywheel *args`` against the test broker, as the principal of ``settings``, its output
    appended to ``log_path``."""
    command = [str(Path(sys.executable).with_name("flywheel")), *args]
    env = worker_env(settings, FLYWHEEL_STATE_DIR=str(state_dir))
    with log_path.open("ab") as log:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


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
