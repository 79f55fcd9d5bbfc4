"""A triage worker for the integration tests, run in a subprocess with fast failover.

The cluster and its credentials come from the environment (``start_*`` sets them). Run as
``python -m tests.support.triage_worker SPEC_JSON``: the spec names the state directory, the
app id, the topics (:class:`TriageTopics` fields) and faust overrides (short session timeouts,
so a worker started after a SIGKILL takes over quickly).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.triage import TriageTopics, build_triage
from tests.support.env import worker_env
from tests.support.kafka import FAST_FAILOVER

REPO = Path(__file__).resolve().parents[2]


def main(raw: str) -> None:
    spec = json.loads(raw)
    settings = load_settings(state_dir=Path(spec["state_dir"]))
    worker = build_triage(
        settings, app_id=spec["app_id"], topics=TriageTopics(**spec["topics"]), **FAST_FAILOVER
    )
    run_worker(worker.app)


def start_triage_worker(
    spec: dict[str, Any], log_path: Path, cluster: Settings
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.triage_worker", json.dumps(spec)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_env(cluster),
        )


if __name__ == "__main__":
    main(sys.argv[1])
