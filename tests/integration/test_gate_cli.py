"""`flywheel gate run` decides with the packaged oracle and policy, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import VerdictIssued
from alignment_flywheel.events.ids import decision_id_for
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.kafka import collect_events
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import start_cli_worker

pytestmark = pytest.mark.integration


def test_gate_run_decides_with_the_real_enforcer_and_stops_on_sigterm(
    kafka_settings, make_topic, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    names = {
        "--proposals-topic": make_topic(unique_name("proposals"), partitions=3),
        "--verdicts-topic": make_topic(unique_name("verdicts"), partitions=3),
        "--reviews-topic": make_topic(unique_name("reviews")),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
        "--patches-topic": make_topic(unique_name("patches")),
        "--releases-topic": make_topic(unique_name("releases")),
    }
    events = [sample_proposal_submitted(i) for i in range(10)]
    with EventProducer(kafka_settings, codec) as producer:
        for event in events:
            producer.send(names["--proposals-topic"], event)
    log_path = tmp_path / "gate.log"
    command = ["gate", "run"]
    command += ["--app-id", unique_name("gate")]
    for option, topic in names.items():
        command += [option, topic]
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log_path)
    try:
        verdicts = collect_events(
            kafka_settings,
            codec,
            names["--verdicts-topic"],
            group=unique_name("c"),
            count=len(events),
            dead_letter_topic=unique_name("x"),
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    output = log_path.read_text()
    assert len(verdicts) == len(events), output[-3000:]
    assert code == 0, output[-3000:]
    for verdict in verdicts:
        assert isinstance(verdict, VerdictIssued)
        assert verdict.decision_id == decision_id_for(verdict.proposal_id)
        assert verdict.oracle_digest != "0" * 64 and verdict.policy_version
    assert {v.proposal_id for v in verdicts if isinstance(v, VerdictIssued)} == {
        e.proposal.proposal_id for e in events
    }
