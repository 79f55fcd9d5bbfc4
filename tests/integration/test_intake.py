"""The intake worker on the real broker: incidents become findings, bad ones dead letters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    DeadLettered,
    Decision,
    FindingRaised,
    IncidentKind,
    Severity,
)
from alignment_flywheel.events.ids import incident_finding_id
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.kafka import collect_events
from tests.support.oracles import proposal
from tests.support.workers import start_cli_worker, stop_worker


def test_incidents_become_findings_and_one_without_its_proposal_is_dead_lettered(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "--incidents-topic": make_topic(unique_name("incidents"), partitions=3),
        "--findings-topic": make_topic(unique_name("findings"), partitions=3),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
        "--patches-topic": make_topic(unique_name("patches")),
        "--releases-topic": make_topic(unique_name("releases")),
    }
    harmful = incident_report(
        proposal(arguments={"cmd": "rm -rf /srv/data"}),
        kind=IncidentKind.HARM,
        severity=Severity.CRITICAL,
        description="deleted data",
        reporter="ops",
    )
    missing = incident_report(
        proposal(),
        kind=IncidentKind.FALSE_POSITIVE,
        severity=Severity.LOW,
        description="x",
        reporter="ops",
    ).model_copy(update={"proposal": None})
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(names["--incidents-topic"], harmful)
        producer.send(names["--incidents-topic"], missing)
    command = ["intake", "run"]
    command += ["--app-id", unique_name("intake")]
    for option, topic in names.items():
        command += [option, topic]
    worker = start_cli_worker(
        kafka_settings, command, tmp_path / "state", (tmp_path / "intake.log")
    )
    try:
        findings = collect_events(
            kafka_settings,
            codec,
            names["--findings-topic"],
            group=unique_name("f"),
            count=1,
            dead_letter_topic=unique_name("x"),
        )
        letters = collect_events(
            kafka_settings,
            codec,
            names["--dead-letter-topic"],
            group=unique_name("d"),
            count=1,
            dead_letter_topic=unique_name("y"),
        )
    finally:
        stop_worker(worker)
    log_text = (tmp_path / "intake.log").read_text()[-3000:]
    (finding,) = findings
    assert isinstance(finding, FindingRaised), log_text
    assert finding.finding_id == incident_finding_id(harmful.incident_id)
    assert finding.oracle_decision is Decision.BLOCK
    (letter,) = letters
    assert isinstance(letter, DeadLettered)
    assert "does not carry proposal" in letter.reason
