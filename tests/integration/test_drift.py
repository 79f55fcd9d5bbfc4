"""The drift worker (`flywheel drift run`) on the real broker: novelties become drift events and
findings; a restart mid-stream loses none and emits none twice under another id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.producer import EventProducer
from alignment_flywheel.events import (
    DeadLettered,
    DriftDetected,
    Event,
    FindingRaised,
    FindingSource,
    ProposalSubmitted,
    new_envelope,
)
from tests.support.gate_worker import stop_gate_worker
from tests.support.governance import verdict
from tests.support.oracles import proposal
from tests.support.workers import read_events, read_until, start_cli_worker


def _traffic(
    settings: Settings,
    codec: EventCodec,
    topics: dict[str, str],
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    with EventProducer(settings, codec) as producer:
        for tool, arguments in calls:
            call = proposal(tool, arguments)
            key = str(call.proposal_id)
            submitted = ProposalSubmitted(envelope=new_envelope("test", key), proposal=call)
            producer.send(topics["proposals"], submitted)
            producer.send(topics["verdicts"], verdict(call))


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
    reads = [("fs.read", {"path": f"/srv/{i}"}) for i in range(60)]
    _traffic(kafka_settings, codec, topics, [*reads, ("db.drop", {"table": "users"})])
    log = tmp_path / "drift.log"
    worker = start_cli_worker(kafka_settings, args, tmp_path / "state", log)
    try:
        first = read_until(kafka_settings, codec, topics["drift"], lambda e: len(_drift(e)) >= 1)
        assert len(_drift(first)) == 1, log.read_text()[-3000:]
        stop_gate_worker(worker)
        with EventProducer(kafka_settings, codec) as producer:
            producer.send_bytes(topics["verdicts"], b"k", b"not avro")
        worker = start_cli_worker(kafka_settings, args, tmp_path / "state", log)
        more = [*reads, ("fs.read", {"path": "/srv/x", "recursive": True})]
        _traffic(kafka_settings, codec, topics, more)
        events = read_until(kafka_settings, codec, topics["drift"], lambda e: len(_drift(e)) >= 2)
        findings = read_events(kafka_settings, codec, topics["findings"], 100_000, timeout=5)
        letters = read_events(kafka_settings, codec, topics["dead-letter"], 1)
    finally:
        stop_gate_worker(worker)
    detections = _drift(events)
    assert sorted((d.metric, d.subject) for d in detections.values()) == [
        ("new_argument_key", "fs.read"), ("new_tool", "db.drop"),
    ], log.read_text()[-3000:]  # fmt: skip
    for event in events:  # a detection sent again carries the same id and content
        assert isinstance(event, DriftDetected)
        assert detections[str(event.drift_id)].metric == event.metric
    sampled = [f for f in findings if isinstance(f, FindingRaised)]
    assert {f.source for f in sampled} == {FindingSource.DRIFT}
    assert {f.proposal.tool for f in sampled} == {"db.drop", "fs.read"}
    assert len({f.finding_id for f in sampled}) <= 5 * len(detections)
    assert [type(letter) for letter in letters] == [DeadLettered]
