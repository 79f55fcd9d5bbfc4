"""The drift worker (`flywheel drift run`) on the real broker: novelties become drift events and
findings; a restart mid-stream (SIGTERM, or SIGKILL and a replacement) loses none and emits none
twice under another id."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    DeadLettered,
    DriftDetected,
    Event,
    FindingRaised,
    FindingSource,
    Proposal,
    ProposalSubmitted,
    new_envelope,
)
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.governance import verdict
from tests.support.kafka import wait_for_records
from tests.support.oracles import proposal
from tests.support.workers import (
    hook,
    read_events,
    read_until,
    replaceable_worker,
    start_cli_worker,
    stop_worker,
    topic_options,
)


def _traffic(
    settings: Settings,
    codec: EventCodec,
    topics: dict[str, str],
    calls: list[tuple[str, dict[str, Any]]],
) -> list[Proposal]:
    sent = []
    with EventProducer(settings, codec) as producer:
        for tool, arguments in calls:
            call = proposal(tool, arguments)
            key = str(call.proposal_id)
            submitted = ProposalSubmitted(envelope=new_envelope("test", key), proposal=call)
            producer.send(topics["proposals"], submitted)
            producer.send(topics["verdicts"], verdict(call))
            sent.append(call)
    return sent


def _drift(events: list[Event]) -> dict[str, DriftDetected]:
    return {str(e.drift_id): e for e in events if isinstance(e, DriftDetected)}


def test_novelties_are_detected_sampled_into_findings_and_survive_a_restart(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        name: make_topic(unique_name(name), partitions=3)
        for name in ("proposals", "verdicts", "drift", "findings", "dead-letter")
    }
    args = ["drift", "run", "--app-id", unique_name("drift"), "--warmup", "50"]
    args += ["--tool-warmup", "10"]
    for name, topic in topics.items():
        args += [f"--{name}-topic", topic]
    # Pairs complete in whatever order the partitions are read, but every pair of the novelty's own
    # partition that precedes it completes first: 300 reads put about 100 of them past the
    # warm-up of 50, whichever partition is read first.
    reads: list[tuple[str, dict[str, Any]]] = [
        ("fs.read", {"path": f"/srv/{i}"}) for i in range(300)
    ]
    _traffic(kafka_settings, codec, topics, [*reads, ("db.drop", {"table": "users"})])
    log = tmp_path / "drift.log"
    worker = start_cli_worker(kafka_settings, args, tmp_path / "state", log)
    try:
        first = read_until(kafka_settings, codec, topics["drift"], lambda e: len(_drift(e)) >= 1)
        assert len(_drift(first)) == 1, log.read_text()[-3000:]
        stop_worker(worker)
        with EventProducer(kafka_settings, codec) as producer:
            producer.send_bytes(topics["verdicts"], b"k", b"not avro")
        worker = start_cli_worker(kafka_settings, args, tmp_path / "state", log)
        more = [*reads, ("fs.read", {"path": "/srv/x", "recursive": True})]
        _traffic(kafka_settings, codec, topics, more)
        events = read_until(kafka_settings, codec, topics["drift"], lambda e: len(_drift(e)) >= 2)
        findings = read_events(kafka_settings, codec, topics["findings"], 100_000, timeout=5)
        letters = read_events(kafka_settings, codec, topics["dead-letter"], 1)
    finally:
        stop_worker(worker)
    detections = _drift(events)
    assert sorted((d.metric, d.subject) for d in detections.values()) == [
        ("new_argument_key", "fs.read"),
        ("new_tool", "db.drop"),
    ], log.read_text()[-3000:]
    for event in events:  # a detection sent again carries the same id and content
        assert isinstance(event, DriftDetected)
        assert detections[str(event.drift_id)].metric == event.metric
    sampled = [f for f in findings if isinstance(f, FindingRaised)]
    assert {f.source for f in sampled} == {FindingSource.DRIFT}
    assert {f.proposal.tool for f in sampled} == {"db.drop", "fs.read"}
    assert len({f.finding_id for f in sampled}) <= 5 * len(detections)
    assert [type(letter) for letter in letters] == [DeadLettered]


def test_a_sigkilled_drift_worker_loses_no_detection_and_resends_one_only_under_its_id(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        name: make_topic(unique_name(name), partitions=3)
        for name in ("proposals", "verdicts", "drift", "findings", "dead_letters")
    }
    app_id = unique_name("drift")

    args = ["drift", "run", "--app-id", app_id, *topic_options(topics)]
    args += ["--warmup", "50", "--tool-warmup", "10", "--watch", hook("slow_watch")]
    start = replaceable_worker(kafka_settings, args, tmp_path, delay_ms=20)

    def reads(n: int, start: int) -> list[tuple[str, dict[str, Any]]]:
        return [("fs.read", {"path": f"/srv/{i}"}) for i in range(start, start + n)]

    # a new tool well past the warm-up, then a long tail for the SIGKILL to land in
    first_batch = [*reads(200, 0), ("db.drop", {"table": "users"}), *reads(400, 200)]
    sent = _traffic(kafka_settings, codec, topics, first_batch)
    triggers = {"db.drop": sent[200].proposal_id}
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    first = start(0)
    replacement = None
    try:
        wait_for_records(kafka_settings, topics["drift"], 3, 1)
        assert stop_worker(first, kill=True) == -9
        replacement = start(1)
        more = [*reads(60, 600), ("fs.read", {"path": "/srv/x", "recursive": True})]
        triggers["fs.read"] = _traffic(kafka_settings, codec, topics, more)[-1].proposal_id
        subjects = {"db.drop", "fs.read"}
        events = read_until(
            kafka_settings,
            codec,
            topics["drift"],
            lambda e: {d.subject for d in _drift(e).values()} >= subjects,
        )
        findings = read_events(kafka_settings, codec, topics["findings"], 100_000, timeout=15)
        letters = read_events(kafka_settings, codec, topics["dead_letters"], 1, timeout=3)
    finally:
        for worker in (first, replacement):
            if worker is not None:
                stop_worker(worker)
    output = "\n".join(log.read_text()[-1500:] for log in logs)
    detections: dict[uuid.UUID, set[tuple[object, ...]]] = defaultdict(set)
    producers: set[str] = set()
    for event in events:  # a detection sent again carries the same id and content
        assert isinstance(event, DriftDetected), output
        assert event.envelope.event_id == event.drift_id
        detections[event.drift_id].add((event.dimension, event.subject, event.metric))
        producers.add(event.envelope.producer)
    assert all(len(versions) == 1 for versions in detections.values())
    found = sorted(next(iter(v))[1:] for v in detections.values())
    assert found == [("db.drop", "new_tool"), ("fs.read", "new_argument_key")], output
    assert producers == {"worker-0", "worker-1"}, output
    sampled: dict[uuid.UUID, set[tuple[object, ...]]] = defaultdict(set)
    for finding in findings:
        assert isinstance(finding, FindingRaised) and finding.source is FindingSource.DRIFT
        assert uuid.UUID(finding.envelope.correlation_id or "") in detections
        sampled[finding.finding_id].add((finding.proposal, finding.description))
    assert all(len(versions) == 1 for versions in sampled.values())
    for drift_id, versions in detections.items():  # each detection's trigger is sampled
        subject = next(iter(versions))[1]
        assert uuid.uuid5(drift_id, f"finding/{triggers[str(subject)]}") in sampled, output
    assert letters == []
    print(f"drift events: {len(events)} for {len(detections)} detections")
