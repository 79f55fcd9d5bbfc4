"""Oversized records on the real broker: one at the head of every partition, over the settings'
``max_event_bytes`` and under the topic's ``max.message.bytes`` (its dead letter, whole, would be
over the producer's request limit). The gate, intake, verification and triage workers dead-letter
each (a bounded excerpt with the original's length, SHA-256 and position) and go on deciding the
records behind them; every offset the group commits is past records already handled."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    ClusterUpdated,
    DeadLettered,
    Event,
    FindingRaised,
    IncidentKind,
    IncidentReported,
    Proposal,
    ProposalSubmitted,
    Severity,
    VerdictIssued,
    VerificationRecorded,
    new_envelope,
)
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.kafka.consumer import consumer_config, watermarks
from alignment_flywheel.kafka.producer import EventProducer, producer_config
from tests.support.governance import finding
from tests.support.kafka import collect_events
from tests.support.oracles import proposal
from tests.support.workers import read_until, start_cli_worker, stop_worker

PARTITIONS = 3
GOOD = 24
PADDING = 1_010_000
"""Over the default max_event_bytes (1,000,000) and the faust producer's request limit (the same),
under the broker's default max.message.bytes (1,048,588)."""
MAX_EXCERPT = 100_000


def _padded(subject: Proposal) -> Proposal:
    return subject.model_copy(update={"arguments": json.dumps({"blob": "x" * PADDING})})


def _encode_big(settings: Settings, event: Event) -> bytes:
    big = settings.model_copy(update={"max_event_bytes": 4_000_000})
    return EventCodec.from_settings(big).encode(event)


def _produce(
    settings: Settings, topic: str, oversized: Sequence[bytes], good: Sequence[Event]
) -> None:
    """``oversized[p]`` at offset 0 of partition ``p``, then the good events, keyed as usual."""
    producer = Producer(producer_config(settings))
    for partition, raw in enumerate(oversized):
        producer.produce(topic, key=f"big-{partition}".encode(), value=raw, partition=partition)
    assert producer.flush(60) == 0
    with EventProducer(settings, EventCodec.from_settings(settings)) as events:
        for event in good:
            events.send(topic, event)


def _collect(settings: Settings, topic: str, count: int, make: Callable[[str], str]) -> list[Event]:
    return collect_events(
        settings,
        EventCodec.from_settings(settings),
        topic,
        group=make("c"),
        count=count,
        dead_letter_topic=make("x"),
        idle_timeout=30,
    )


def _check_letters(
    letters: Sequence[Event], topic: str, oversized: Sequence[bytes], group: str
) -> None:
    assert all(isinstance(letter, DeadLettered) for letter in letters), letters
    by_partition = {
        letter.partition: letter for letter in letters if isinstance(letter, DeadLettered)
    }
    assert set(by_partition) == set(range(len(oversized)))
    for partition, raw in enumerate(oversized):
        letter = by_partition[partition]
        assert (letter.source_topic, letter.offset) == (topic, 0)
        assert letter.consumer_group == group
        assert letter.error_type == "OversizedEventError"
        assert letter.truncated
        excerpt = letter.original_value
        assert excerpt and raw.startswith(excerpt) and len(excerpt) <= MAX_EXCERPT
        assert letter.original_value_size == len(raw)
        assert letter.original_value_sha256 == hashlib.sha256(raw).hexdigest()


def _committed_everything(settings: Settings, group: str, topic: str) -> bool:
    consumer = Consumer(consumer_config(settings, group))
    try:
        asked = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = consumer.committed(asked, timeout=30)
        ends = [watermarks(consumer, tp, 10)[1] for tp in asked]
    finally:
        consumer.close()
    return [tp.offset for tp in committed] == ends


def test_the_gate_dead_letters_an_oversized_proposal_per_partition_and_goes_on(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "--proposals-topic": make_topic(unique_name("proposals"), partitions=PARTITIONS),
        "--verdicts-topic": make_topic(unique_name("verdicts"), partitions=PARTITIONS),
        "--reviews-topic": make_topic(unique_name("reviews")),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
    }
    topic = names["--proposals-topic"]

    def submitted(subject: Proposal) -> ProposalSubmitted:
        return ProposalSubmitted(
            envelope=new_envelope("test", str(subject.proposal_id)), proposal=subject
        )

    oversized = [_encode_big(kafka_settings, submitted(_padded(proposal()))) for _ in range(3)]
    good = [submitted(proposal("fs.read", {"path": f"/srv/{i}"})) for i in range(GOOD)]
    _produce(kafka_settings, topic, oversized, good)
    app_id = unique_name("gate")
    command = ["gate", "run", "--no-follow", "--app-id", app_id]
    for option, name in names.items():
        command += [option, name]
    log = tmp_path / "gate.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log)
    try:
        verdicts = _collect(kafka_settings, names["--verdicts-topic"], GOOD, unique_name)
        letters = _collect(kafka_settings, names["--dead-letter-topic"], 3, unique_name)
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        stop_worker(worker)
    decided = {v.proposal_id for v in verdicts if isinstance(v, VerdictIssued)}
    assert decided == {e.proposal.proposal_id for e in good}, log.read_text()[-3000:]
    _check_letters(letters, topic, oversized, app_id)
    assert _committed_everything(kafka_settings, app_id, topic)


def test_intake_dead_letters_an_oversized_incident_per_partition_and_goes_on(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "--incidents-topic": make_topic(unique_name("incidents"), partitions=PARTITIONS),
        "--findings-topic": make_topic(unique_name("findings"), partitions=PARTITIONS),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
        "--patches-topic": make_topic(unique_name("patches")),
        "--releases-topic": make_topic(unique_name("releases")),
    }
    topic = names["--incidents-topic"]

    def incident(subject: Proposal) -> IncidentReported:
        return incident_report(
            subject,
            kind=IncidentKind.HARM,
            severity=Severity.HIGH,
            description="harm",
            reporter="ops",
        )

    oversized = [_encode_big(kafka_settings, incident(_padded(proposal()))) for _ in range(3)]
    good = [incident(proposal("shell.exec", {"cmd": f"rm -rf /srv/{i}"})) for i in range(GOOD)]
    _produce(kafka_settings, topic, oversized, good)
    app_id = unique_name("intake")
    command = ["intake", "run", "--app-id", app_id]
    for option, name in names.items():
        command += [option, name]
    log = tmp_path / "intake.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log)
    try:
        findings = _collect(kafka_settings, names["--findings-topic"], GOOD, unique_name)
        letters = _collect(kafka_settings, names["--dead-letter-topic"], 3, unique_name)
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        stop_worker(worker)
    assert len(findings) == GOOD, log.read_text()[-3000:]
    assert all(isinstance(f, FindingRaised) for f in findings)
    _check_letters(letters, topic, oversized, app_id)
    assert _committed_everything(kafka_settings, app_id, topic)


def _joined(events: Sequence[Event]) -> int:
    """Violations counted into clusters: the largest size seen per cluster, summed."""
    sizes: dict[object, int] = {}
    for update in events:
        if isinstance(update, ClusterUpdated):
            sizes[update.cluster_id] = max(sizes.get(update.cluster_id, 0), update.size)
    return sum(sizes.values())


def test_verification_and_triage_dead_letter_an_oversized_finding_per_partition_and_go_on(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topics = {
        name: make_topic(unique_name(name), partitions=PARTITIONS)
        for name in ("findings", "verifications", "clusters", "reviews")
    }
    verify_dlq, triage_dlq = make_topic(unique_name("dlq-v")), make_topic(unique_name("dlq-t"))
    oversized = [
        _encode_big(kafka_settings, finding("shell.exec", {"blob": "x" * PADDING}))
        for _ in range(3)
    ]
    good = [finding("shell.exec", {"cmd": f"rm -rf /srv/{i}"}) for i in range(GOOD)]
    _produce(kafka_settings, topics["findings"], oversized, good)
    verify_id, triage_id = unique_name("verify"), unique_name("triage")
    verify = ["verify", "run", "--app-id", verify_id, "--findings-topic", topics["findings"]]
    verify += ["--verifications-topic", topics["verifications"], "--reviews-topic"]
    verify += [topics["reviews"], "--dead-letter-topic", verify_dlq]
    triage = ["triage", "run", "--app-id", triage_id, "--findings-topic", topics["findings"]]
    triage += ["--verifications-topic", topics["verifications"], "--clusters-topic"]
    triage += [topics["clusters"], "--dead-letter-topic", triage_dlq]
    logs = [tmp_path / "verify.log", tmp_path / "triage.log"]
    workers = [
        start_cli_worker(kafka_settings, verify, tmp_path / "verify", logs[0]),
        start_cli_worker(kafka_settings, triage, tmp_path / "triage", logs[1]),
    ]
    codec = EventCodec.from_settings(kafka_settings)
    try:
        verified = _collect(kafka_settings, topics["verifications"], GOOD, unique_name)
        clusters = read_until(
            kafka_settings, codec, topics["clusters"], lambda e: _joined(e) >= GOOD, timeout=90
        )
        verify_letters = _collect(kafka_settings, verify_dlq, 3, unique_name)
        triage_letters = _collect(kafka_settings, triage_dlq, 3, unique_name)
        assert [w.poll() for w in workers] == [None, None], _tails(logs)
    finally:
        for worker in workers:
            stop_worker(worker)
    assert len(verified) == GOOD, _tails(logs)
    assert all(isinstance(v, VerificationRecorded) for v in verified)
    assert _joined(clusters) == GOOD, _tails(logs)
    _check_letters(verify_letters, topics["findings"], oversized, verify_id)
    _check_letters(triage_letters, topics["findings"], oversized, triage_id)
    assert _committed_everything(kafka_settings, verify_id, topics["findings"])
    assert _committed_everything(kafka_settings, triage_id, topics["findings"])


def _tails(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in logs)


def test_a_dead_letter_the_broker_refuses_stops_the_gate_before_its_record_is_committed(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A broker that refuses the dead letter is not bad input: the worker stops (a restart tries
    again) and the group's committed offset stays at the record."""
    names = {
        "--proposals-topic": make_topic(unique_name("proposals")),
        "--verdicts-topic": make_topic(unique_name("verdicts")),
        "--reviews-topic": make_topic(unique_name("reviews")),
        # room for a transaction marker (the gate writes in transactions), none for a letter
        "--dead-letter-topic": make_topic(unique_name("dlq"), config={"max.message.bytes": "200"}),
    }
    topic = names["--proposals-topic"]
    codec = EventCodec.from_settings(kafka_settings)
    first, last = (
        ProposalSubmitted(envelope=new_envelope("test", str(p.proposal_id)), proposal=p)
        for p in (proposal("fs.read", {"path": "/a"}), proposal("fs.read", {"path": "/b"}))
    )
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(topic, first)
        producer.send_bytes(topic, b"k", b"not an event")
        producer.send(topic, last)
    app_id = unique_name("gate")
    command = ["gate", "run", "--no-follow", "--app-id", app_id]
    for option, name in names.items():
        command += [option, name]
    log = tmp_path / "gate.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log, wait=False)
    try:
        code = worker.wait(180)
    finally:
        stop_worker(worker)
    assert code != 0, log.read_text()[-3000:]
    verdicts = _collect(kafka_settings, names["--verdicts-topic"], 2, unique_name)
    decided = [v.proposal_id for v in verdicts if isinstance(v, VerdictIssued)]
    # the gate commits a batch in one transaction: the refused letter's batch is never committed
    assert decided in ([], [first.proposal.proposal_id]), log.read_text()[-3000:]
    consumer = Consumer(consumer_config(kafka_settings, app_id))
    try:
        (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=30)
    finally:
        consumer.close()
    assert committed.offset <= 1, log.read_text()[-3000:]
