"""The environment of a process a test starts: the test's Kafka cluster and principal."""

from __future__ import annotations

import os
from pathlib import Path

from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.credentials import connection_env

REPO = Path(__file__).resolve().parents[2]


def worker_env(cluster: Settings, role: str | None = None, **extra: str) -> dict[str, str]:
    """``os.environ`` with the cluster of ``cluster`` and its principal (or ``role``'s), the
    repository on ``PYTHONPATH`` and ``extra`` variables."""
    return {
        **os.environ,
        **connection_env(cluster, role),
        "PYTHONPATH": str(REPO),
        **extra,
    }
