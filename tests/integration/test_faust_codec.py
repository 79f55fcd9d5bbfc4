"""A real faust worker and confluent-kafka clients share one codec; faust dead-letters bad input."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import DeadLettered
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.env import worker_env
from tests.support.kafka import collect_events, wait_for_group
from tests.support.samples import sample_proposal_submitted

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_faust_worker_relays_events_and_dead_letters_garbage(
    kafka_settings, unique_name, make_topic, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    source, target = make_topic(unique_name("in"), partitions=2), make_topic(unique_name("out"))
    dead = make_topic(unique_name("dlq"))
    group = unique_name("relay")
    events = [sample_proposal_submitted(i) for i in range(5)]
    with EventProducer(kafka_settings, codec) as producer:
        for i, event in enumerate(events):
            producer.send(source, event)
            if i == 2:
                producer.send_bytes(source, event.envelope.key.encode(), b"\xc3\x01garbage")

    log = (tmp_path / "relay.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.faust_relay",
            kafka_settings.effective_bootstrap_servers,
            source,
            target,
            dead,
            group,
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=worker_env(kafka_settings, FLYWHEEL_STATE_DIR=str(tmp_path)),
    )
    try:
        wait_for_group(kafka_settings, group, 1, [tmp_path / "relay.log"], workers=[worker])
        relayed = collect_events(
            kafka_settings, codec, target, group=unique_name("r"), count=5, dead_letter_topic=dead
        )
        letters = collect_events(
            kafka_settings,
            codec,
            dead,
            group=unique_name("d"),
            count=1,
            dead_letter_topic=unique_name("x"),
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        log.close()
    output = (tmp_path / "relay.log").read_text()
    assert sorted(e.envelope.event_id for e in relayed) == sorted(
        e.envelope.event_id for e in events
    ), output[-2000:]
    assert set(map(repr, relayed)) == set(map(repr, events))
    (letter,) = letters
    assert isinstance(letter, DeadLettered)
    assert letter.original_value == b"\xc3\x01garbage"
    assert letter.source_topic == source and letter.consumer_group == group
    assert letter.error_type == "MalformedEventError"
