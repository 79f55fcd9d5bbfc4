"""The SDK on the real broker: decisions are published, an outage loses nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import cast

from confluent_kafka import Consumer, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.sdk import DECIDED_BY_HEADER, Guard, SdkTopics
from alignment_flywheel.events import (
    Decision,
    Event,
    ProposalSubmitted,
    ReviewRequested,
    SessionStarted,
    ToolResultObserved,
    VerdictIssued,
)
from alignment_flywheel.kafka.consumer import consumer_config, watermarks
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.stack.processes import free_ports
from tests.unit.test_sdk_fakes import ToolEnforcer

DELIVERY_TIMEOUT_S = 1.0


def _topics(make_topic: Callable[..., str], unique_name: Callable[[str], str]) -> SdkTopics:
    return SdkTopics(
        proposals=make_topic(unique_name("sdk-proposals")),
        verdicts=make_topic(unique_name("sdk-verdicts")),
        reviews=make_topic(unique_name("sdk-reviews")),
    )


def _read(
    settings: Settings, codec: EventCodec, topic: str, count: int, timeout: float = 30.0
) -> list[tuple[Event, dict[str, bytes]]]:
    """``count`` events from the start of ``topic``, with their headers, in order."""
    config = consumer_config(settings, f"sdk-test-{time.monotonic_ns()}")
    consumer = Consumer(config)
    consumer.subscribe([topic])
    found: list[tuple[Event, dict[str, bytes]]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            value = None if msg is None or msg.error() is not None else msg.value()
            if msg is None or value is None:
                continue
            headers = dict(cast(list[tuple[str, bytes]], msg.headers() or []))
            found.append((codec.decode(value), headers))
    finally:
        consumer.close()
    return found


def _record_count(settings: Settings, topic: str) -> int:
    """How many records ``topic`` holds (the sum of its partitions' end offsets)."""
    consumer = Consumer(consumer_config(settings, f"sdk-test-{time.monotonic_ns()}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        ends = [
            watermarks(consumer, TopicPartition(topic, p), 10)[1]
            for p in metadata.topics[topic].partitions
        ]
    finally:
        consumer.close()
    return int(sum(ends))


def test_decisions_are_published_with_the_sdk_marker(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    topics = _topics(make_topic, unique_name)
    codec = EventCodec.from_settings(settings)
    with Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-p", topics=topics) as guard:
        results = [
            guard.check("fs.read", {"path": "/a"}),
            guard.check("danger.rm", {"path": "/"}),
            guard.check("review.deploy", {"service": "api"}),
        ]
    proposals = _read(settings, codec, topics.proposals, 3)
    verdicts = _read(settings, codec, topics.verdicts, 3)
    reviews = _read(settings, codec, topics.reviews, 1)
    assert [e.proposal.proposal_id for e, _ in proposals if isinstance(e, ProposalSubmitted)] == [
        r.proposal_id for r in results
    ]
    assert [(e.proposal_id, e.decision) for e, _ in verdicts if isinstance(e, VerdictIssued)] == [
        (r.proposal_id, r.decision) for r in results
    ]
    assert [r.decision for r in results] == [
        Decision.ALLOW,
        Decision.BLOCK,
        Decision.ESCALATE,
    ]
    ((review, _),) = reviews
    assert isinstance(review, ReviewRequested)
    assert review.proposal_id == results[2].proposal_id
    for event, headers in proposals + verdicts + reviews:
        assert headers[DECIDED_BY_HEADER] == b"sdk"
        assert event.envelope.key in {str(r.proposal_id) for r in results}


def test_session_events_are_published_keyed_by_session_without_the_marker(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    topics = _topics(make_topic, unique_name)
    codec = EventCodec.from_settings(settings)
    with Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-s", topics=topics) as guard:
        session = guard.start_session("Summarise my inbox", session_id=f"s-{uuid.uuid4().hex}")
        read = guard.check("email.read", {"folder": "inbox"})
        observed = guard.observe("email.read", "3 new mails", proposal_id=read.proposal_id)
    found = _read(settings, codec, topics.proposals, 3)
    assert [type(e) for e, _ in found] == [SessionStarted, ProposalSubmitted, ToolResultObserved]
    started, submitted, result = (e for e, _ in found)
    assert isinstance(started, SessionStarted) and started.request == "Summarise my inbox"
    assert isinstance(submitted, ProposalSubmitted) and submitted.proposal.session_id == session
    assert result == observed and observed.proposal_id == read.proposal_id
    assert started.envelope.key == result.envelope.key == session
    assert [DECIDED_BY_HEADER in headers for _, headers in found] == [False, True, False]


def test_outage_journals_every_decision_and_recovery_replays_them_in_order(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    count = 40
    topics = _topics(make_topic, unique_name)
    (dead_port,) = free_ports(1)
    down = load_settings(
        bootstrap_servers=f"127.0.0.1:{dead_port}", state_dir=tmp_path, sdk_buffer_size=8
    )
    guard = Guard(
        down,
        enforcer=ToolEnforcer(),
        proposer_id="agent-o",
        topics=topics,
        delivery_timeout_s=DELIVERY_TIMEOUT_S,
        retry_interval_s=0.5,
    )
    started = time.perf_counter()
    ids = [guard.check("fs.read", {"path": f"/file/{i}"}).proposal_id for i in range(count)]
    waited = time.perf_counter() - started
    # a check that waited for its delivery would wait out the delivery timeout each time
    assert waited < count * DELIVERY_TIMEOUT_S / 4, f"{count} checks took {waited:.1f} s"
    assert guard.close(timeout=2.0) is False
    journals = list(down.journal_dir.glob("*.journal"))
    assert len(journals) == 1

    up = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    codec = EventCodec.from_settings(up)
    replaying = Guard(up, enforcer=ToolEnforcer(), proposer_id="agent-o", topics=topics)
    assert replaying.close(timeout=30.0) is True
    assert list(up.journal_dir.glob("*.journal")) == []

    assert _record_count(up, topics.proposals) == count
    assert _record_count(up, topics.verdicts) == count
    proposals = [e for e, _ in _read(up, codec, topics.proposals, count)]
    verdicts = [e for e, _ in _read(up, codec, topics.verdicts, count)]
    assert [e.proposal.proposal_id for e in proposals if isinstance(e, ProposalSubmitted)] == ids
    assert [e.proposal_id for e in verdicts if isinstance(e, VerdictIssued)] == ids


_CRASHING_AGENT = """
import os, signal, sys
from alignment_flywheel.config import load_settings
from alignment_flywheel.connectors.sdk import Guard, SdkTopics
from tests.unit.test_sdk_fakes import ToolEnforcer

state_dir, port, count, *names = sys.argv[1:]
settings = load_settings(
    bootstrap_servers=f"127.0.0.1:{port}", state_dir=state_dir, sdk_buffer_size=1
)
guard = Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-k", topics=SdkTopics(*names))
for i in range(int(count)):
    print(guard.check("fs.read", {"path": f"/k/{i}"}).proposal_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_journal_left_by_a_killed_process_is_replayed(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    count = 12
    topics = _topics(make_topic, unique_name)
    (dead_port,) = free_ports(1)
    names = [topics.proposals, topics.verdicts, topics.reviews]
    agent = subprocess.run(
        [sys.executable, "-c", _CRASHING_AGENT, str(tmp_path), str(dead_port), str(count), *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert agent.returncode == -signal.SIGKILL, agent.stderr
    ids = [uuid.UUID(line) for line in agent.stdout.split()]
    assert len(ids) == count

    up = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    codec = EventCodec.from_settings(up)
    with Guard(up, enforcer=ToolEnforcer(), proposer_id="agent-k2", topics=topics) as guard:
        assert guard.close(timeout=30.0) is True
    assert _record_count(up, topics.proposals) == count
    proposals = [e for e, _ in _read(up, codec, topics.proposals, count)]
    assert [e.proposal.proposal_id for e in proposals if isinstance(e, ProposalSubmitted)] == ids
