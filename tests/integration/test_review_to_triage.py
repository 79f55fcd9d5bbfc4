"""A person's denial of an inconclusive finding reaches triage, on the real broker.

An incident-like finding for a tool no shipped norm covers is verified INCONCLUSIVE and handed to
a person; the person denies it through :meth:`ReviewDesk.decide`; the verification worker turns
the denial into a VIOLATION and the triage worker clusters the finding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    ClusterUpdated,
    DeadLettered,
    Event,
    ReviewOutcome,
    ReviewRequested,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.governance.verification import review_id_for_finding
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.review import ReviewDesk
from tests.support.governance import finding
from tests.support.kafka import FAST_FAILOVER
from tests.support.workers import (
    read_events,
    read_until,
    start_cli_worker,
    stop_worker,
    topic_options,
)

pytestmark = pytest.mark.integration
EMAIL = {"to": "partner@outside.example", "subject": "payroll", "body": "attached"}


def _outcomes(events: list[Event]) -> list[VerificationOutcome]:
    return [e.outcome for e in events if isinstance(e, VerificationRecorded)]


def _clustered(finding_id: object) -> Callable[[list[Event]], bool]:
    def done(events: list[Event]) -> bool:
        updates = [e for e in events if isinstance(e, ClusterUpdated)]
        return any(finding_id in u.sample_finding_ids for u in updates)

    return done


def test_a_denied_review_of_an_inconclusive_finding_becomes_a_cluster(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        "findings": make_topic(unique_name("findings"), partitions=3),
        "verifications": make_topic(unique_name("verifications"), partitions=3),
        "reviews": make_topic(unique_name("reviews"), partitions=3),
        "clusters": make_topic(unique_name("clusters"), partitions=3),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    found = finding("workspace.send_email", EMAIL)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(topics["findings"], found)
    verify_command = ["verify", "run", "--app-id", unique_name("verify")]
    for option in ("findings", "verifications", "reviews"):
        verify_command += [f"--{option}-topic", topics[option]]
    verify_command += ["--dead-letter-topic", topics["dead_letters"]]
    logs = {name: tmp_path / f"{name}.log" for name in ("verify", "triage")}
    triage_command = ["triage", "run", "--app-id", unique_name("triage"), "--partitions", "3"]
    triage_command += topic_options({k: topics[k] for k in topics if k != "reviews"})
    workers = [
        start_cli_worker(kafka_settings, verify_command, tmp_path / "verify", logs["verify"]),
        start_cli_worker(
            kafka_settings, triage_command, tmp_path / "triage", logs["triage"], env=FAST_FAILOVER
        ),
    ]
    try:
        requested = read_events(kafka_settings, codec, topics["reviews"], 1)
        output = "\n".join(log.read_text()[-3000:] for log in logs.values())
        assert [type(e) for e in requested] == [ReviewRequested], output
        first = read_events(kafka_settings, codec, topics["verifications"], 1)
        assert _outcomes(first) == [VerificationOutcome.INCONCLUSIVE], output
        desk = ReviewDesk(kafka_settings, reviews_topic=topics["reviews"])
        decided = desk.decide(
            review_id_for_finding(found.finding_id),
            ReviewOutcome.DENY,
            reviewer="alice@example.com",
            reason="payroll must not leave the company",
        )
        assert decided.envelope.correlation_id == str(found.finding_id)
        with EventProducer(kafka_settings, codec) as producer:
            producer.send_bytes(topics["reviews"], b"k", b"not an event")
        clusters = read_until(
            kafka_settings, codec, topics["clusters"], _clustered(found.finding_id), timeout=90
        )
        verifications = read_events(kafka_settings, codec, topics["verifications"], 2)
        letters = read_events(kafka_settings, codec, topics["dead_letters"], 1)
    finally:
        for worker in workers:
            stop_worker(worker)
    output = "\n".join(log.read_text()[-3000:] for log in logs.values())
    assert _clustered(found.finding_id)(clusters), output
    (update,) = [e for e in clusters if isinstance(e, ClusterUpdated)]
    assert update.tools == ("workspace.send_email",) and update.size == 1
    outcomes = _outcomes(verifications)
    assert outcomes == [VerificationOutcome.INCONCLUSIVE, VerificationOutcome.VIOLATION], output
    human = [e for e in verifications if isinstance(e, VerificationRecorded)][1]
    assert "alice@example.com" in human.rationale and human.finding_id == found.finding_id
    assert [type(e) for e in letters] == [DeadLettered], output
