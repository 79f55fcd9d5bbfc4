"""The gate on the real broker: verdicts, reviews, dead letters, skipped records, revise chains."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    DeadLettered,
    Decision,
    Event,
    ProposalSubmitted,
    ReviewRequested,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.events.ids import decision_id_for, review_id_for
from alignment_flywheel.kafka.headers import DECIDED_BY_HEADER
from alignment_flywheel.kafka.producer import EventProducer, producer_config
from alignment_flywheel.oracle import Amendment
from alignment_flywheel.oracle.artifact import read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from tests.support.kafka import collect_events
from tests.support.samples import (
    sample_proposal_submitted,
    sample_runtime_events,
    sample_session_events,
)
from tests.support.workers import hook, start_cli_worker, stop_worker, topic_options

pytestmark = pytest.mark.integration


@pytest.fixture
def gate_topics(make_topic, unique_name) -> Callable[[int], dict[str, Any]]:
    def make(partitions: int) -> dict[str, Any]:
        return {
            "proposals": make_topic(unique_name("proposals"), partitions=partitions),
            "verdicts": make_topic(unique_name("verdicts"), partitions=partitions),
            "reviews": make_topic(unique_name("reviews")),
            "dead_letters": make_topic(unique_name("dlq")),
            "partitions": partitions,
        }

    return make


@pytest.fixture
def run_gate(kafka_settings, unique_name, tmp_path) -> Iterator[Callable[..., Path]]:
    """``flywheel gate run`` without release following, deciding with the test double
    ``decider`` of tests.support.doubles (None: the enforcer of the settings in ``env``)."""
    workers = []

    def start(
        topics: dict[str, Any],
        *,
        decider: str | None = "scripted",
        env: dict[str, str] | None = None,
    ) -> Path:
        log = tmp_path / f"gate-{len(workers)}.log"
        args = ["gate", "run", "--no-follow", "--app-id", unique_name("gate")]
        args += [*topic_options(topics), *(["--decider", hook(decider)] if decider else [])]
        state = tmp_path / f"state-{len(workers)}"
        workers.append(start_cli_worker(kafka_settings, args, state, log, env=env))
        return log

    yield start
    for worker in workers:
        stop_worker(worker)


def catalog_env(directory: Path, tools: list[str], **policy: str) -> dict[str, str]:
    """The settings of an oracle that declares the tool catalog ``tools`` and no rules, and of
    the default risk policy with ``policy`` set."""
    oracle, risk = directory / "catalog-oracle.json", directory / "catalog-risk.json"
    oracle.write_text(json.dumps({"name": "catalog", "version": 1, "tools": tools, "rules": []}))
    risk.write_text(json.dumps({**read_document(DEFAULT_RISK_POLICY), **policy}))
    return {"FLYWHEEL_ORACLE_PATH": str(oracle), "FLYWHEEL_RISK_POLICY_PATH": str(risk)}


def _send_with_header(settings: Settings, codec: EventCodec, topic: str, event: Event) -> None:
    producer = Producer(producer_config(settings))
    producer.produce(
        topic,
        key=event.envelope.key.encode(),
        value=codec.encode(event),
        headers=[(DECIDED_BY_HEADER, b"sdk")],
    )
    assert producer.flush(30) == 0


def _collect(settings, codec, topic, count, unique_name) -> list[Event]:
    return collect_events(
        settings,
        codec,
        topic,
        group=unique_name("c"),
        count=count,
        dead_letter_topic=unique_name("x"),
    )


def _with_tool(i: int, tool: str) -> ProposalSubmitted:
    event = sample_proposal_submitted(i)
    return event.model_copy(update={"proposal": event.proposal.model_copy(update={"tool": tool})})


def test_gate_decides_escalates_skips_and_dead_letters(
    kafka_settings, gate_topics, run_gate, unique_name
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = gate_topics(1)
    samples = [sample_proposal_submitted(i) for i in range(5)]
    unknown_tool = _with_tool(5, "warp.drive")
    oversized = _with_tool(6, "fs.read")
    oversized = oversized.model_copy(
        update={
            "proposal": oversized.proposal.model_copy(
                update={"arguments": '{"x": "' + "a" * 5000 + '"}'}
            )
        }
    )
    name, record = codec.decode_record(codec.encode(sample_proposal_submitted(9)))
    record["proposal"]["arguments"] = '{"a":' + "[" * 1500 + "]" * 1500 + "}"
    too_deep = codec.encode_record(name, record)
    skipped = [sample_proposal_submitted(7), sample_proposal_submitted(8)]
    last = sample_proposal_submitted(10)
    with EventProducer(kafka_settings, codec) as producer:
        for event in samples:
            producer.send(topics["proposals"], event)
        producer.send_bytes(topics["proposals"], b"k", b"\xc3\x01garbage")
        producer.send(topics["proposals"], sample_runtime_events(samples[0].proposal)[1])
        for event in sample_session_events(samples[0].proposal):  # folded, not decided
            producer.send(topics["proposals"], event)
        producer.send(topics["proposals"], oversized)
        producer.send_bytes(topics["proposals"], b"deep", too_deep)
        producer.send(topics["proposals"], unknown_tool)
    for event in skipped:
        _send_with_header(kafka_settings, codec, topics["proposals"], event)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(topics["proposals"], last)
    log = run_gate(topics, env={"FLYWHEEL_MAX_EVENT_BYTES": "4096"})

    verdicts = _collect(kafka_settings, codec, topics["verdicts"], 7, unique_name)
    letters = _collect(kafka_settings, codec, topics["dead_letters"], 4, unique_name)
    reviews = _collect(kafka_settings, codec, topics["reviews"], 1, unique_name)

    assert len(verdicts) == 7, log.read_text()[-3000:]
    assert all(isinstance(v, VerdictIssued) for v in verdicts)
    by_id = {v.proposal_id: v for v in verdicts if isinstance(v, VerdictIssued)}
    expected = [*(e.proposal.proposal_id for e in samples), unknown_tool.proposal.proposal_id]
    assert set(by_id) == {*expected, last.proposal.proposal_id}
    decisions = [by_id[e.proposal.proposal_id].decision for e in samples]
    assert decisions == [
        Decision.ALLOW,
        Decision.BLOCK,
        Decision.ESCALATE,
        Decision.REVISE,
        Decision.ALLOW,
    ]
    assert by_id[unknown_tool.proposal.proposal_id].decision is Decision.BLOCK
    for pid, verdict in by_id.items():
        assert verdict.decision_id == decision_id_for(pid)
        assert verdict.envelope.key == str(pid)
    assert not {e.proposal.proposal_id for e in skipped} & set(by_id)

    assert [type(x) for x in letters] == [DeadLettered] * 4
    assert [x.error_type for x in letters if isinstance(x, DeadLettered)] == [
        "MalformedEventError",
        "CodecError",
        "OversizedEventError",
        "CodecError",
    ]
    deep_letter = letters[3]
    assert isinstance(deep_letter, DeadLettered) and "nested too deeply" in deep_letter.reason

    (review,) = reviews
    assert isinstance(review, ReviewRequested)
    escalated = samples[2].proposal.proposal_id
    assert review.proposal_id == escalated and review.review_id == review_id_for(escalated)
    assert review.decision_id == decision_id_for(escalated)
    assert review.deadline is not None and review.deadline > review.envelope.occurred_at


def _child_of(parent: ProposalSubmitted, verdict: VerdictIssued) -> ProposalSubmitted:
    assert verdict.amendment is not None
    amended = Amendment.from_json(verdict.amendment).apply(parent.proposal.arguments_object())
    child = parent.proposal.model_copy(
        update={
            "proposal_id": uuid.uuid4(),
            "parent_proposal_id": parent.proposal.proposal_id,
            "arguments": json.dumps(amended),
        }
    )
    return ProposalSubmitted(envelope=new_envelope("test", str(child.proposal_id)), proposal=child)


def test_revise_chain_counts_depth_until_the_budget_is_spent(
    kafka_settings, gate_topics, run_gate, unique_name
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = gate_topics(3)
    log = run_gate(topics)
    chain = [sample_proposal_submitted(3)]  # sql.query: REVISE, REVISE, then BLOCK
    verdicts: list[VerdictIssued] = []
    with EventProducer(kafka_settings, codec) as producer:
        for step in range(3):
            producer.send(topics["proposals"], chain[-1])
            producer.flush()
            seen = _collect(kafka_settings, codec, topics["verdicts"], step + 1, unique_name)
            assert len(seen) == step + 1, log.read_text()[-3000:]
            (verdict,) = [
                v
                for v in seen
                if isinstance(v, VerdictIssued) and v.proposal_id == chain[-1].proposal.proposal_id
            ]
            verdicts.append(verdict)
            if verdict.decision is Decision.REVISE:
                chain.append(_child_of(chain[-1], verdict))

    assert [v.decision for v in verdicts] == [Decision.REVISE, Decision.REVISE, Decision.BLOCK]
    assert [v.reasons[0] for v in verdicts] == [
        "revise depth 0",
        "revise depth 1",
        "revise depth 2 spent the budget",
    ]
    assert chain[1].proposal.arguments_object()["limit"] == 100
    assert chain[2].proposal.parent_proposal_id == chain[1].proposal.proposal_id


def test_a_tool_outside_the_oracle_catalog_is_escalated_by_the_default_policy(
    kafka_settings, gate_topics, run_gate, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = gate_topics(1)
    known, unknown = _with_tool(1, "fs.read"), _with_tool(2, "warp.drive")
    with EventProducer(kafka_settings, codec) as producer:
        for event in (known, unknown):
            producer.send(topics["proposals"], event)
    log = run_gate(topics, decider=None, env=catalog_env(tmp_path, ["fs.*"]))

    verdicts = _collect(kafka_settings, codec, topics["verdicts"], 2, unique_name)
    decided = {v.proposal_id: v for v in verdicts if isinstance(v, VerdictIssued)}
    assert set(decided) == {known.proposal.proposal_id, unknown.proposal.proposal_id}, (
        log.read_text()[-2000:]
    )
    escalated = decided[unknown.proposal.proposal_id]
    assert escalated.decision is Decision.ESCALATE
    assert "'warp.drive' is not in the oracle's tool catalog" in escalated.reasons[0]
    assert decided[known.proposal.proposal_id].decision is Decision.ALLOW


def test_a_tool_outside_the_oracle_catalog_is_dead_lettered_when_refused_and_the_stream_goes_on(
    kafka_settings, gate_topics, run_gate, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = gate_topics(1)
    known, unknown, after = (
        _with_tool(1, "fs.read"),
        _with_tool(2, "warp.drive"),
        _with_tool(3, "fs.write"),
    )
    with EventProducer(kafka_settings, codec) as producer:
        for event in (known, unknown, after):
            producer.send(topics["proposals"], event)
    env = catalog_env(tmp_path, ["fs.*"], on_unknown_tool="REFUSE")
    log = run_gate(topics, decider=None, env=env)

    verdicts = _collect(kafka_settings, codec, topics["verdicts"], 2, unique_name)
    letters = _collect(kafka_settings, codec, topics["dead_letters"], 1, unique_name)
    assert [v.proposal_id for v in verdicts if isinstance(v, VerdictIssued)] == [
        known.proposal.proposal_id,
        after.proposal.proposal_id,
    ], log.read_text()[-2000:]
    (letter,) = letters
    assert isinstance(letter, DeadLettered)
    assert "unknown tool 'warp.drive'" in letter.reason
    assert letter.original_value is not None
    assert codec.decode(letter.original_value) == unknown
