"""Building faust apps from the settings: one function, no app created at import time.

Rules: the broker comes from the settings (the local broker or ``FLYWHEEL_BOOTSTRAP_SERVERS``); the
web server is off; tables live in memory (state topics are compacted changelogs on Kafka, so a
restarted worker rebuilds them). Agents are declared with :func:`agent`, which gives them mode's
``CrashingSupervisor``: an agent that raises stops the worker instead of being restarted in a silent
loop, and the process supervisor (systemd, Kubernetes, the test) sees the failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from mode import CrashingSupervisor

from alignment_flywheel.config import Settings

INPUT_PREFETCH = 1000


def create_app(settings: Settings, app_id: str, **overrides: Any) -> faust.App:
    """A faust app bound to the configured cluster. Call it; never import an app object."""
    datadir = settings.state_dir / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.effective_bootstrap_servers}",
        "store": "memory://",
        "web_enabled": False,
        "topic_replication_factor": 1,
        "stream_buffer_maxsize": INPUT_PREFETCH,
        "datadir": str(datadir),
        "producer_acks": -1,
    }
    options.update(overrides)
    return faust.App(app_id, **options)


def agent(app: faust.App, channel: Any, **options: Any) -> Callable[[Any], Any]:
    """``app.agent`` with the crashing supervisor: a failure ends the worker, visibly."""
    return app.agent(channel, supervisor_strategy=CrashingSupervisor, **options)


def run_worker(app: faust.App, *, loglevel: str = "warning") -> None:
    """Run a faust worker in this process until it is stopped (SIGTERM/SIGINT) or an agent fails."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
