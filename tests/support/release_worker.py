"""A release controller for the integration tests, run in a subprocess.

The cluster and its credentials come from the environment (``start_*`` sets them). Run as
``python -m tests.support.release_worker SPEC_JSON``: the spec names the state directory, the
app id, the controller's topics and the rollout policy (a mapping). A patch counts as approved
when it has a ``PatchApproved`` with role ``approver`` (signature verification is tested on its
own; here the rollout is under test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.events import PatchApproved
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.patches import Patch
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.release import ControllerTopics, build_controller
from alignment_flywheel.release.rollout import RolloutPolicy
from tests.support.env import worker_env

REPO = Path(__file__).resolve().parents[2]


def has_approver(_patch: Patch, approvals: Sequence[PatchApproved]) -> bool:
    return any(a.role == "approver" for a in approvals)


def main(raw: str) -> None:
    spec = json.loads(raw)
    settings = load_settings(state_dir=Path(spec["state_dir"]))
    controller = build_controller(
        settings,
        load_oracle(settings).artifact,
        RolloutPolicy.model_validate(spec["policy"]),
        has_approver,
        app_id=spec["app_id"],
        topics=ControllerTopics(**spec["topics"]),
        tick_s=0.2,
    )
    run_worker(controller.app)


def start_release_worker(
    spec: dict[str, Any], log_path: Path, cluster: Settings
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.release_worker", json.dumps(spec)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_env(cluster),
        )


if __name__ == "__main__":
    main(sys.argv[1])
