"""A gate whose broker goes away waits for it and says so; once the broker is back, it decides
again, or, if librdkafka hangs on the restarted coordinator, it exits with a clear error and a
fresh worker decides instead: never a silent stall, exactly one verdict per proposal."""

from __future__ import annotations

import time
import uuid

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import VerdictIssued
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.processors.gate_txn import EXIT_STALLED, STALL_S
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.topics import create_topic
from tests.support.kafka import FAST_FAILOVER, collect_events
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import hook, start_cli_worker, stop_worker, topic_options

pytestmark = pytest.mark.integration

BEFORE, AFTER = 100, 100
VERDICTS_WITHIN_S = 60
QUIET_S = 3


def test_a_gate_outlives_a_broker_restart_and_says_so(broker_settings_factory, tmp_path):
    settings = broker_settings_factory()
    broker = LocalBroker(settings)
    broker.start(timeout=120)
    gate = None
    try:
        admin, tag = admin_client(settings), uuid.uuid4().hex[:8]
        topics = {
            name: create_topic(admin, f"{name}-{tag}", partitions=count)
            for name, count in (("proposals", 3), ("verdicts", 3), ("reviews", 1), ("dlq", 1))
        }
        topics["dead_letters"] = topics.pop("dlq")
        codec = EventCodec.from_settings(settings)
        log = tmp_path / "gate.log"
        args = ["gate", "run", "--no-follow", "--app-id", f"flywheel-gate-{tag}"]
        args += [*topic_options(topics), "--decider", hook("scripted")]
        gate = start_cli_worker(settings, args, tmp_path / "state", log, env=FAST_FAILOVER)
        events = [sample_proposal_submitted(i) for i in range(BEFORE + AFTER)]
        with EventProducer(settings, codec) as producer:
            for event in events[:BEFORE]:
                producer.send(topics["proposals"], event)
        assert _verdicts(settings, codec, topics, BEFORE) == BEFORE, log.read_text()
        broker.stop()
        time.sleep(5)
        assert gate.poll() is None, log.read_text()
        broker.start(timeout=120)
        with EventProducer(settings, codec) as producer:
            for event in events[BEFORE:]:
                producer.send(topics["proposals"], event)
        deadline = time.monotonic() + STALL_S + 30
        while gate.poll() is None and time.monotonic() < deadline:
            if _count(settings, codec, topics, idle=2) == BEFORE + AFTER:
                break
        if gate.poll() is not None:
            assert gate.returncode == EXIT_STALLED, log.read_text()
            assert "exiting with status" in log.read_text()
            gate = start_cli_worker(settings, args, tmp_path / "state", log, env=FAST_FAILOVER)
        assert _verdicts(settings, codec, topics, BEFORE + AFTER) == BEFORE + AFTER, log.read_text()
        assert "lost the Kafka cluster" in log.read_text(), log.read_text()
    finally:
        if gate is not None:
            stop_worker(gate)
        broker.stop()


def _count(settings, codec, topics, *, idle):
    return len(_read(settings, codec, topics, idle))


def _read(settings, codec, topics, idle):
    return collect_events(
        settings,
        codec,
        topics["verdicts"],
        group=f"c-{uuid.uuid4().hex[:8]}",
        count=(BEFORE + AFTER) * 2,
        dead_letter_topic=topics["dead_letters"],
        idle_timeout=idle,
    )


def _verdicts(settings, codec, topics, count):
    """The verdicts once ``count`` are there (or a minute has passed), read to a quiet end."""
    deadline = time.monotonic() + VERDICTS_WITHIN_S
    found = _read(settings, codec, topics, QUIET_S)
    while len(found) < count and time.monotonic() < deadline:
        found = _read(settings, codec, topics, QUIET_S)
    assert all(isinstance(v, VerdictIssued) for v in found)
    assert len({v.proposal_id for v in found}) == len(found)
    return len(found)
