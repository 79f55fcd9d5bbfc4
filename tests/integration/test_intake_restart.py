"""The intake worker on the real broker, SIGKILLed mid-stream: the replacement loses no finding,
and a finding sent twice carries the same id and content."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    Decision,
    Event,
    FindingRaised,
    IncidentKind,
    IncidentReported,
    Severity,
)
from alignment_flywheel.events.ids import incident_finding_id
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.kafka import wait_for_records
from tests.support.oracles import proposal
from tests.support.workers import (
    hook,
    read_events,
    read_until,
    replaceable_worker,
    stop_worker,
    topic_options,
)

INCIDENTS = 400
TOOLS = {"shell.exec": Decision.BLOCK, "fs.read": Decision.ALLOW, "email.send": Decision.ESCALATE}


def _incident(i: int) -> IncidentReported:
    return incident_report(
        proposal(list(TOOLS)[i % 3], {"n": i}),
        kind=IncidentKind.HARM,
        severity=Severity.HIGH,
        description=f"incident {i}",
        reporter="ops",
    )


def _finding_ids(events: list[Event]) -> set[uuid.UUID]:
    return {e.finding_id for e in events if isinstance(e, FindingRaised)}


def test_a_sigkilled_intake_worker_loses_no_finding_and_never_duplicates_one(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topics = {
        "incidents": make_topic(unique_name("incidents"), partitions=3),
        "findings": make_topic(unique_name("findings"), partitions=3),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    incidents = [_incident(i) for i in range(INCIDENTS)]
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for incident in incidents:
            producer.send(topics["incidents"], incident)
    expected = {incident_finding_id(i.incident_id): i for i in incidents}
    app_id = unique_name("intake")

    args = ["intake", "run", "--no-follow", "--app-id", app_id, *topic_options(topics)]
    args += ["--decider", hook("slow_scripted")]
    start = replaceable_worker(kafka_settings, args, tmp_path, delay_ms=10)
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    first = start(0)
    replacement = None
    try:
        wait_for_records(kafka_settings, topics["findings"], 3, INCIDENTS // 4)
        assert stop_worker(first, kill=True) == -9
        replacement = start(1)
        read_until(
            kafka_settings, codec, topics["findings"], lambda e: _finding_ids(e) >= set(expected)
        )
        every = read_events(kafka_settings, codec, topics["findings"], 100_000, timeout=15)
        letters = read_events(kafka_settings, codec, topics["dead_letters"], 1, timeout=3)
    finally:
        for worker in (first, replacement):
            if worker is not None:
                stop_worker(worker)
    output = "\n".join(log.read_text()[-1500:] for log in logs)
    by_id: dict[uuid.UUID, set[tuple[object, ...]]] = defaultdict(set)
    producers: set[str] = set()
    for record in every:
        assert isinstance(record, FindingRaised), output
        incident = expected[record.finding_id]
        assert record.proposal == incident.proposal
        assert record.oracle_decision is TOOLS[incident.proposal.tool]
        content = (record.proposal, record.oracle_decision, record.description, record.source)
        by_id[record.finding_id].add(content)
        producers.add(record.envelope.producer)
    assert set(by_id) == set(expected), output  # none lost
    assert all(len(versions) == 1 for versions in by_id.values())  # a repeat is the same finding
    assert producers == {"worker-0", "worker-1"}, output
    assert letters == []
    print(f"findings: {len(every)}, re-sent after SIGKILL: {len(every) - INCIDENTS}")
