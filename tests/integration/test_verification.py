"""The verification worker on the real broker: the three outcomes, dead letters, a SIGKILL."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    DeadLettered,
    Decision,
    Event,
    FindingRaised,
    FindingSource,
    Proposal,
    ReviewRequested,
    VerificationOutcome,
    VerificationRecorded,
    new_envelope,
)
from alignment_flywheel.governance.verification import review_id_for_finding, verification_id_for
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.kafka import collect_events, wait_for_records
from tests.support.oracles import proposal
from tests.support.workers import (
    hook,
    replaceable_worker,
    start_cli_worker,
    stop_worker,
    topic_options,
)

pytestmark = pytest.mark.integration
FINDINGS = 400


def finding(subject: Proposal) -> FindingRaised:
    finding_id = uuid.uuid4()
    return FindingRaised(
        envelope=new_envelope("test", str(finding_id)),
        finding_id=finding_id,
        source=FindingSource.INCIDENT,
        proposal=subject,
        oracle_version=1,
        oracle_decision=Decision.ALLOW,
        description="reported",
    )


def _collect(
    settings: Settings, topic: str, count: int, make: Callable[[str], str], **kw: float
) -> list[Event]:
    return collect_events(
        settings,
        EventCodec.from_settings(settings),
        topic,
        group=make("c"),
        count=count,
        dead_letter_topic=make("x"),
        **kw,
    )


def test_violation_no_violation_and_inconclusive_findings_on_the_broker(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "--findings-topic": make_topic(unique_name("findings"), partitions=3),
        "--verifications-topic": make_topic(unique_name("verifications"), partitions=3),
        "--reviews-topic": make_topic(unique_name("reviews")),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
    }
    violation = finding(proposal("shell.exec", {"cmd": "rm -rf /srv/data"}))
    fine = finding(proposal("shell.exec", {"cmd": "ls -la"}))
    unknown = finding(proposal("crm.update", {"id": 7}))
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for event in (violation, fine, unknown):
            producer.send(names["--findings-topic"], event)
        producer.send_bytes(names["--findings-topic"], b"k", b"not an event")
    command = ["verify", "run"]
    command += ["--app-id", unique_name("verify")]
    for option, topic in names.items():
        command += [option, topic]
    worker = start_cli_worker(
        kafka_settings, command, tmp_path / "state", (tmp_path / "verify.log")
    )
    try:
        recorded = _collect(kafka_settings, names["--verifications-topic"], 3, unique_name)
        reviews = _collect(kafka_settings, names["--reviews-topic"], 1, unique_name)
        letters = _collect(kafka_settings, names["--dead-letter-topic"], 1, unique_name)
    finally:
        stop_worker(worker)
    log_text = (tmp_path / "verify.log").read_text()[-3000:]
    outcomes: dict[uuid.UUID, tuple[VerificationOutcome, tuple[str, ...]]] = {}
    for record in recorded:
        assert isinstance(record, VerificationRecorded), log_text
        assert record.verification_id == verification_id_for(record.finding_id)
        outcomes[record.finding_id] = (record.outcome, record.norm_ids)
    assert outcomes == {
        violation.finding_id: (VerificationOutcome.VIOLATION, ("N-OPS-1",)),
        fine.finding_id: (VerificationOutcome.NO_VIOLATION, ()),
        unknown.finding_id: (VerificationOutcome.INCONCLUSIVE, ()),
    }, log_text
    (review,) = reviews
    assert isinstance(review, ReviewRequested)
    assert review.review_id == review_id_for_finding(unknown.finding_id)
    assert review.decision_id == unknown.finding_id
    (letter,) = letters
    assert isinstance(letter, DeadLettered)


def test_a_sigkilled_worker_loses_no_verification_and_never_duplicates_one(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topics = {
        "findings": make_topic(unique_name("findings"), partitions=3),
        "verifications": make_topic(unique_name("verifications"), partitions=3),
        "reviews": make_topic(unique_name("reviews")),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    commands = ["rm -rf /srv/x", "ls -la", "echo hi"]
    findings = [finding(proposal("shell.exec", {"cmd": commands[i % 3]})) for i in range(FINDINGS)]
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for event in findings:
            producer.send(topics["findings"], event)
    app_id = unique_name("verify")

    args = ["verify", "run", "--app-id", app_id, *topic_options(topics)]
    args += ["--judge", hook("slow_norms")]
    start = replaceable_worker(kafka_settings, args, tmp_path, delay_ms=10)
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    first = start(0)
    replacement = None
    try:
        wait_for_records(kafka_settings, topics["verifications"], 3, len(findings) // 4)
        assert stop_worker(first, kill=True) == -9
        replacement = start(1)
        _collect(
            kafka_settings, topics["verifications"], len(findings), unique_name, idle_timeout=40
        )
        every = _collect(  # all are on the topic now: this finds records sent twice
            kafka_settings,
            topics["verifications"],
            2 * len(findings),
            unique_name,
            idle_timeout=12,
        )
    finally:
        for worker in (first, replacement):
            if worker is not None:
                stop_worker(worker)
    output = "\n".join(log.read_text()[-1500:] for log in logs)
    by_id: dict[uuid.UUID, set[tuple[object, ...]]] = defaultdict(set)
    producers: set[str] = set()
    for record in every:
        assert isinstance(record, VerificationRecorded), output
        by_id[record.verification_id].add((record.envelope.event_id, record.outcome))
        producers.add(record.envelope.producer)
    assert set(by_id) == {verification_id_for(f.finding_id) for f in findings}, output
    assert all(len(versions) == 1 for versions in by_id.values())
    assert producers == {"worker-0", "worker-1"}, output
    print(
        f"verification records: {len(every)}, re-sent after SIGKILL: {len(every) - len(findings)}"
    )
