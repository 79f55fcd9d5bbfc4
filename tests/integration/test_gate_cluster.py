"""Two gates on a three-broker cluster under a steady producer lose one broker and one gate.

The ``kafka_cluster`` session fixture (three brokers: ``.settings``, ``.bootstrap``,
``.kill_broker(i)``, ``.restart_broker(i)``) is requested, never skipped: without it the test
fails. Every proposal must get a verdict within a bounded time, exactly one per proposal as a
``read_committed`` consumer sees it, and never two different decisions.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import VerdictIssued
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.stack.topics import create_topic
from tests.support.kafka import FAST_FAILOVER, collect_events
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import hook, start_cli_worker, stop_worker, topic_options

pytestmark = pytest.mark.integration

PROPOSALS = 3000
RATE_PER_S = 200
REPLICATED = {"min.insync.replicas": "2"}
VERDICT_DEADLINE_S = 120


def _topics(settings: Settings) -> dict[str, Any]:
    admin, tag = admin_client(settings), uuid.uuid4().hex[:8]

    def make(name: str, partitions: int) -> str:
        return create_topic(
            admin, f"{name}-{tag}", partitions=partitions, config=REPLICATED, replication_factor=3
        )

    return {
        "proposals": make("proposals", 6),
        "verdicts": make("verdicts", 6),
        "reviews": make("reviews", 1),
        "dead_letters": make("dlq", 1),
    }


def _produce_steadily(settings: Settings, topic: str, codec: EventCodec) -> None:
    start = time.monotonic()
    with EventProducer(settings, codec) as producer:
        for i in range(PROPOSALS):
            ahead = start + i / RATE_PER_S - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            producer.send(topic, sample_proposal_submitted(i))


def test_two_gates_lose_a_broker_and_a_gate_and_issue_exactly_one_verdict_per_proposal(
    kafka_cluster: Any, tmp_path: Path
) -> None:
    settings: Settings = kafka_cluster.settings
    codec = EventCodec.from_settings(settings)
    topics = _topics(settings)
    group = f"flywheel-gate-cluster-{uuid.uuid4().hex[:8]}"
    args = ["gate", "run", "--no-follow", "--app-id", group, *topic_options(topics)]
    args += ["--decider", hook("scripted")]

    def start(n: int) -> Any:
        env = {"FLYWHEEL_IDENTITY": f"gate-{n}", **FAST_FAILOVER}
        return start_cli_worker(settings, args, tmp_path / f"s{n}", tmp_path / f"g{n}.log", env=env)

    gates = [start(0), start(1)]
    producer = threading.Thread(
        target=_produce_steadily, args=(settings, topics["proposals"], codec), daemon=True
    )
    try:
        producer.start()
        time.sleep(3)
        kafka_cluster.kill_broker(1)
        time.sleep(3)
        assert stop_worker(gates[0], kill=True) == -9
        time.sleep(4)
        kafka_cluster.restart_broker(1)
        producer.join(PROPOSALS / RATE_PER_S + 60)
        verdicts = collect_events(
            settings,
            codec,
            topics["verdicts"],
            group=f"c-{uuid.uuid4().hex[:8]}",
            count=PROPOSALS * 2,
            dead_letter_topic=topics["dead_letters"],
            idle_timeout=VERDICT_DEADLINE_S / 4,
        )
    finally:
        for gate in gates:
            stop_worker(gate)
    logs = "\n".join(log.read_text()[-1500:] for log in tmp_path.glob("g*.log"))
    by_proposal: dict[object, list[VerdictIssued]] = defaultdict(list)
    for verdict in verdicts:
        assert isinstance(verdict, VerdictIssued)
        by_proposal[verdict.proposal_id].append(verdict)
    assert len(by_proposal) == PROPOSALS, logs
    assert all({v.decision for v in vs} == {vs[0].decision} for vs in by_proposal.values())
    assert len(verdicts) == PROPOSALS, f"{len(verdicts) - PROPOSALS} duplicate verdicts\n{logs}"
