"""Verification and red-team workers for the integration tests, run in a subprocess.

Run as ``python -m tests.support.governance_worker SPEC_JSON``; the spec names the role
(``verification`` or ``redteam``), the bootstrap servers, the app id, the topics (the
processor's topics dataclass fields), settings overrides, and ``delay_ms``: a pause per norms
judgement, so a test can kill the worker mid-stream. The red team attacks the shipped oracle
through the shipped risk policy (no release following), with ``seed`` and ``budget``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.consumer import consumer_config
from alignment_flywheel.enforcement.policy import load_policy
from alignment_flywheel.events import Proposal
from alignment_flywheel.governance.norms import NormJudgement, Norms, load_norms
from alignment_flywheel.governance.redteam import Target, targets
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY, load_oracle
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.redteam import RedTeamTopics, build_redteam
from alignment_flywheel.processors.verification import VerificationTopics, build_verification

REPO = Path(__file__).resolve().parents[2]
FAST_FAILOVER = {
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 1.0,
    "broker_rebalance_timeout": 8.0,
}
"""faust options so that a replacement worker takes over a SIGKILLed one's partitions quickly."""


class SlowNorms(Norms):
    """The shipped norms, pausing before each judgement."""

    def __init__(self, base: Norms, delay_s: float) -> None:
        super().__init__(base.spec, base.norms)
        self.delay_s = delay_s

    def judge(self, proposal: Proposal) -> NormJudgement:
        time.sleep(self.delay_s)
        return super().judge(proposal)


def shipped_targets(settings: Settings) -> tuple[Target, ...]:
    """What the red-team worker attacks: the shipped oracle and risk policy."""
    return targets(load_policy(DEFAULT_RISK_POLICY), load_oracle(settings))


def main(spec_text: str) -> None:
    spec = json.loads(spec_text)
    settings = load_settings(bootstrap_servers=spec["bootstrap"], **spec.get("settings", {}))
    norms = SlowNorms(load_norms(), float(spec.get("delay_ms", 0)) / 1000)
    if spec["role"] == "verification":
        topics = VerificationTopics(**spec["topics"])
        app = build_verification(
            settings, norms, app_id=spec["app_id"], topics=topics, **spec.get("app_options", {})
        ).app
    else:
        attacked = shipped_targets(settings)
        app = build_redteam(
            settings, norms, lambda: attacked, seed=spec["seed"], budget=spec["budget"],
            app_id=spec["app_id"], topics=RedTeamTopics(**spec["topics"]),
            app_options=spec.get("app_options", {}),
        ).app  # fmt: skip
    run_worker(app)


def start_worker(spec: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a worker in a subprocess, its output going to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.governance_worker", json.dumps(spec)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )


def wait_for_records(settings: Settings, topic: str, partitions: int, count: int) -> None:
    """Until ``topic`` holds at least ``count`` records (by its end offsets)."""
    consumer = Consumer(consumer_config(settings, "watermarks"))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            total = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                for p in range(partitions)
            )
            if total >= count:
                return
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} records on {topic} after 90 s")
    finally:
        consumer.close()


if __name__ == "__main__":
    main(sys.argv[1])
