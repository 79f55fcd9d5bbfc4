"""Replication on a real three-node KRaft cluster (the ``kafka_cluster`` fixture).

Default replication follows the cluster (3 replicas, min.insync.replicas 2) for catalog topics
and faust's internal topics; check reports a single-replica topic and apply repairs it by
reassignment; infra status reports brokers, quorum and partition health, DEGRADED while a broker
is down and healthy again after its restart; the README tour's topic commands run unchanged
against the cluster.

Two gates under a steady producer lose one broker and one gate (SIGKILL): every proposal gets a
verdict within a bounded time, exactly one per proposal as a ``read_committed`` consumer sees it,
and never two different decisions. The cluster is one per test session, so these tests share a
file (one test process runs a file).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import VerdictIssued
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.processors.app import create_app
from alignment_flywheel.stack.health import partition_health
from alignment_flywheel.stack.reassign import reassigner
from alignment_flywheel.stack.topic_state import observe
from alignment_flywheel.stack.topics import (
    Drift,
    apply_catalog,
    check_catalog,
    create_topic,
    load_catalog,
    parse_catalog,
)
from tests.integration.test_readme_quickstart import (
    _environment,
    check_tour,
    quickstart_block,
    run_tour,
)
from tests.support.cli import flywheel
from tests.support.kafka import FAST_FAILOVER, collect_events
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import hook, start_cli_worker, stop_worker, topic_options

SHIPPED = load_catalog()
HEALTH_TIMEOUT_S = 90.0


def flat(text: str) -> str:
    """The output with its line breaks and padding folded (the status detail column wraps)."""
    return " ".join(text.split())


def catalog_data(unique_name: Callable[[str], str]) -> dict:
    """Two topics with the shipped kind defaults and no replication of their own."""
    return {
        "kind_defaults": {kind.value: dict(c) for kind, c in SHIPPED.kind_defaults.items()},
        "topics": [
            {"name": unique_name("cluster-events"), "kind": "event", "partitions": 3},
            {"name": unique_name("cluster-state"), "kind": "state", "partitions": 2},
        ],
    }


def cluster_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment of a reader of the README pointed at the cluster as its admin."""
    env = _environment(settings, tmp_path / "state")
    env.update(connection_env(settings))
    return env


def wait_until(condition: Callable[[], bool], what: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.5)


def test_catalog_topics_get_three_replicas_and_min_isr_two(kafka_cluster, unique_name):
    admin = admin_client(kafka_cluster.settings)
    catalog = parse_catalog(catalog_data(unique_name))
    report = apply_catalog(admin, catalog)
    assert {c.action for c in report.changes} == {"created"}
    view = observe(admin, catalog.names)
    assert view.brokers == (1, 2, 3)
    for topic in view.topics.values():
        assert topic.replication_factor == 3
        assert all(len(replicas) == 3 for replicas in topic.replicas.values())
        assert topic.config["min.insync.replicas"] == "2"
    assert check_catalog(admin, catalog) == []


def test_faust_internal_topics_get_three_replicas_and_min_isr_two(kafka_cluster, unique_name):
    app = create_app(kafka_cluster.settings, unique_name("flywheel-cluster-test"))
    table = app.Table("counts", default=int, partitions=2)
    changelog = table.changelog_topic.get_topic_name()

    async def declare() -> None:
        await table.changelog_topic.declare()
        await app.producer.stop()

    app.loop.run_until_complete(asyncio.wait_for(declare(), 60))
    admin = admin_client(kafka_cluster.settings)
    wait_until(
        lambda: changelog in observe(admin, [changelog]).topics, f"{changelog} in the metadata"
    )
    observed = observe(admin, [changelog]).topics[changelog]
    assert observed.replication_factor == 3
    assert observed.config["min.insync.replicas"] == "2"
    assert "compact" in observed.config["cleanup.policy"]


def test_check_reports_and_apply_repairs_a_single_replica_topic(kafka_cluster, unique_name):
    settings = kafka_cluster.settings
    admin = admin_client(settings)
    catalog = parse_catalog(catalog_data(unique_name))
    events = catalog.names[0]
    create_topic(admin, events, partitions=3, replication_factor=1)

    drift = check_catalog(admin, catalog)
    assert Drift(events, "replication", "3", "1", fixable=True) in drift
    assert Drift(events, "config min.insync.replicas", "2", "1", fixable=True) in drift

    without = apply_catalog(admin, catalog)
    assert [d.aspect for d in without.drift] == ["replication"]

    report = apply_catalog(admin, catalog, reassign=reassigner(settings))
    assert (events, "replication", "1 → 3 replicas") in {
        (c.topic, c.action, c.detail) for c in report.changes
    }
    assert not report.drift
    assert check_catalog(admin, catalog) == []
    observed = observe(admin, [events]).topics[events]
    assert all(sorted(r) == [1, 2, 3] for r in observed.replicas.values())
    assert observed.under_replicated == ()

    pinned = parse_catalog({**catalog_data_of(catalog), "replication_factor": 2})
    lowered = apply_catalog(admin, pinned, reassign=reassigner(settings))
    assert {(c.topic, c.detail) for c in lowered.changes if c.action == "replication"} == {
        (name, "3 → 2 replicas") for name in catalog.names
    }
    assert check_catalog(admin, pinned) == []
    assert all(len(r) == 2 for r in observe(admin, [events]).topics[events].replicas.values())


def test_the_readme_topic_commands_and_status_run_against_the_cluster(kafka_cluster, tmp_path):
    env = cluster_env(kafka_cluster.settings, tmp_path)
    commands = [
        line.split("#")[0].split()
        for line in quickstart_block().splitlines()
        if line.startswith(("flywheel infra up", "flywheel topics apply"))
    ]
    assert [c[:2] for c in commands] == [["flywheel", "infra"], ["flywheel", "topics"]]
    for command in commands:
        done = flywheel(env, tmp_path, *command[1:])
        assert done.returncode == 0, done.stdout + done.stderr
    assert "there is no local broker to start" in flywheel(env, tmp_path, "infra", "up").stdout

    check = flywheel(env, tmp_path, "topics", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(SHIPPED.topics)} topics match the catalog" in check.stdout

    catalog_file = Path(__file__).resolve().parents[2] / "infra" / "topics.yaml"
    status = flywheel(env, tmp_path, "infra", "status", "--catalog", str(catalog_file))
    assert status.returncode == 0, status.stdout + status.stderr
    assert "3 brokers (1, 2, 3)" in flat(status.stdout)
    assert re.search(r"leader \d \(epoch \d+\), voters 1, 2, 3", flat(status.stdout))
    assert "0 offline, 0 under-replicated" in flat(status.stdout)
    assert f"{len(SHIPPED.topics)} topics match" in flat(status.stdout)
    assert "DEGRADED" not in flat(status.stdout)


def test_the_readme_tour_runs_unchanged_on_the_cluster(kafka_cluster, tmp_path):
    check_tour(*run_tour(kafka_cluster.settings, tmp_path))
    created = observe(admin_client(kafka_cluster.settings), list(SHIPPED.names))
    assert all(
        sorted(replicas) == [1, 2, 3]
        for topic in created.topics.values()
        for replicas in topic.replicas.values()
    )


def test_a_killed_broker_degrades_the_cluster_until_it_restarts(
    kafka_cluster, unique_name, tmp_path
):
    settings = kafka_cluster.settings
    admin = admin_client(settings)
    catalog = parse_catalog(catalog_data(unique_name))
    apply_catalog(admin, catalog)
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(catalog_data_of(catalog)), encoding="utf-8")
    env = cluster_env(settings, tmp_path)

    kafka_cluster.kill_broker(2)
    try:
        wait_until(
            lambda: bool(partition_health(admin).under_replicated), "under-replicated partitions"
        )
        status = flywheel(env, tmp_path, "infra", "status", "--catalog", str(path))
        assert status.returncode == 1, status.stdout + status.stderr
        assert "DEGRADED" in flat(status.stdout)
        assert re.search(
            r"2 brokers \(1, 2\), \d+ partitions: 0 offline, [1-9]", flat(status.stdout)
        )
        aspects = {d.aspect for d in check_catalog(admin, catalog)}
        assert aspects == {"under-replicated partitions"}
        check = flywheel(env, tmp_path, "topics", "check", "--catalog", str(path), "--no-acls")
        assert check.returncode == 1
        assert "under-replicated partitions" in check.stdout
    finally:
        kafka_cluster.restart_broker(2)

    wait_until(lambda: partition_health(admin).healthy, "every partition in sync again")
    assert check_catalog(admin, catalog) == []
    status = flywheel(env, tmp_path, "infra", "status", "--catalog", str(path))
    assert "3 brokers (1, 2, 3)" in flat(status.stdout)
    assert "0 offline, 0 under-replicated" in flat(status.stdout)


def catalog_data_of(catalog) -> dict:
    """A catalog as YAML data again (topics without roles)."""
    return {
        "topics": [
            {
                "name": t.name,
                "kind": t.kind.value,
                "partitions": t.partitions,
                "config": dict(t.config),
            }
            for t in catalog.topics
        ]
    }


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
