"""One session, three enforcement points: the SDK decides in process and publishes the session's
events, the gate folds them from the proposals topic and decides the same calls, and replay
rebuilds the sessions from the topic; all give each call of tests/conformance/sessions/ the same
decision for the same provenance-driven reasons. Every record of a session lands on its
session's partition, and each verdict on its proposal's partition number."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.sdk import Guard, SdkTopics
from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import (
    Decision,
    ProposalSubmitted,
    SessionStarted,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.kafka.credentials import connection_env, connection_settings
from alignment_flywheel.kafka.headers import decided_elsewhere
from alignment_flywheel.kafka.placement import partition_for, session_key
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.provenance import fold
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.replay.engine import Evaluator
from alignment_flywheel.replay.source import History, RangeReader
from tests.support.kafka import read_records
from tests.support.session_cases import (
    RISK,
    Call,
    SessionCase,
    artifact_document,
    session_cases,
)
from tests.support.workers import start_cli_worker, stop_worker, topic_options

pytestmark = pytest.mark.integration
PARTITIONS = 6
PROPOSER = "agent-conformance"


def _enforcer() -> Enforcer:
    policy = build_policy(dict(read_document(DEFAULT_RISK_POLICY)))
    return Enforcer(RuleOracle(build_artifact(artifact_document())), policy)


@dataclass
class Outcome:
    """What one enforcement point decided for a call: the decision and the reasons."""

    decision: Decision
    reasons: tuple[str, ...]


@dataclass
class Run:
    """The sessions of the cases, the proposals each point decided, and their outcomes."""

    sessions: dict[str, SessionCase] = field(default_factory=dict)
    calls: dict[uuid.UUID, Call] = field(default_factory=dict)
    sdk: dict[uuid.UUID, Outcome] = field(default_factory=dict)
    gate_ids: list[uuid.UUID] = field(default_factory=list)


def _decide_in_the_sdk(settings: Settings, topics: SdkTopics, run: Run) -> None:
    with Guard(settings, enforcer=_enforcer(), proposer_id=PROPOSER, topics=topics) as guard:
        for case in session_cases():
            session = f"s-{uuid.uuid4().hex}"
            run.sessions[session] = case
            guard.session_id = session
            for event in case.session_events(PROPOSER, session):
                if isinstance(event, SessionStarted):
                    guard.start_session(event.request)
                else:
                    guard.observe(event.tool, event.output)
            for call in case.calls:
                result = guard.check(call.tool, call.arguments, risk=RISK)
                run.calls[result.proposal_id] = call
                run.sdk[result.proposal_id] = Outcome(result.decision, result.verdict.reasons)
    # closed: the session events are on the broker before the gate's proposals are produced


def _propose_to_the_gate(settings: Settings, codec: EventCodec, topic: str, run: Run) -> None:
    with EventProducer(settings, codec) as producer:
        for session, case in run.sessions.items():
            for call in case.calls:
                proposal = call.proposal(PROPOSER, session)
                envelope = new_envelope("conformance", str(proposal.proposal_id))
                producer.send(topic, ProposalSubmitted(envelope=envelope, proposal=proposal))
                run.calls[proposal.proposal_id] = call
                run.gate_ids.append(proposal.proposal_id)


def _gate_verdicts(
    settings: Settings, codec: EventCodec, names: dict[str, Any], run: Run, log: Path
) -> dict[uuid.UUID, tuple[VerdictIssued, int]]:
    oracle = log.parent / "gate-oracle.json"
    oracle.write_text(json.dumps(artifact_document()))
    args = ["gate", "run", "--no-follow", "--app-id", f"gate-{uuid.uuid4().hex[:8]}"]
    args += topic_options(names)
    env = {"FLYWHEEL_ORACLE_PATH": str(oracle)}
    worker = start_cli_worker(settings, args, log.parent / "gate-state", log, env=env)
    try:
        total = len(run.sdk) + len(run.gate_ids)
        records = read_records(settings, names["verdicts"], total, timeout=90)
    finally:
        stop_worker(worker)
    found = {}
    for record in records:
        verdict = codec.decode(record.value)
        assert isinstance(verdict, VerdictIssued)
        found[verdict.proposal_id] = (verdict, record.partition)
    assert set(run.gate_ids) <= set(found), log.read_text()[-3000:]
    return found


def _replayed(settings: Settings, codec: EventCodec, names: dict[str, Any], run: Run) -> Any:
    history = History(RangeReader(settings, codec), names["proposals"], names["verdicts"])
    history.load_verdicts()
    cases = list(history.cases())
    assert history.skipped == []
    return cases


def _cli_replay(settings: Settings, names: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(artifact_document()))
    env = {
        **connection_env(settings),
        "FLYWHEEL_STATE_DIR": str(tmp_path / "replay-state"),
        "FLYWHEEL_ORACLE_PATH": str(oracle),
    }
    out = tmp_path / "replay.json"
    topics = [
        *("--proposals-topic", names["proposals"], "--verdicts-topic", names["verdicts"]),
        *("--patches-topic", names["patches"], "--releases-topic", names["releases"]),
    ]
    result = CliRunner().invoke(app, ["replay", *topics, "--json", str(out)], env=env)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_the_sdk_the_gate_and_replay_decide_a_session_alike(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path / "sdk")
    codec = EventCodec.from_settings(settings)
    names: dict[str, Any] = {
        "proposals": make_topic(unique_name("proposals"), partitions=PARTITIONS),
        "verdicts": make_topic(unique_name("verdicts"), partitions=PARTITIONS),
        "reviews": make_topic(unique_name("reviews"), partitions=3),
        "dead_letters": make_topic(unique_name("dlq")),
        "partitions": PARTITIONS,
    }
    topics = SdkTopics(names["proposals"], names["verdicts"], names["reviews"])
    run = Run()
    _decide_in_the_sdk(settings, topics, run)
    _propose_to_the_gate(settings, codec, names["proposals"], run)
    verdicts = _gate_verdicts(kafka_settings, codec, names, run, tmp_path / "gate.log")

    for pid, outcome in run.sdk.items():  # the SDK's own decisions
        call = run.calls[pid]
        assert outcome.decision is call.decision and call.reason in outcome.reasons
    for pid in run.gate_ids:  # the gate, in the context it folded from the topic
        call, (verdict, _) = run.calls[pid], verdicts[pid]
        assert verdict.error is None
        assert (verdict.decision, verdict.reasons) == (call.decision, _sdk_reasons(run, call))

    enforcer = _enforcer()
    cases = _replayed(settings, codec, names, run)
    assert {case.proposal.proposal_id for case in cases} == set(run.calls)
    replayed = [r.decision for r in Evaluator(enforcer).replay(cases)]
    for case, decision in zip(cases, replayed, strict=True):
        call = run.calls[case.proposal.proposal_id]
        expected_context = fold(run.sessions[case.proposal.session_id].session_events("p", "s"))
        assert case.session == expected_context
        assert case.recorded is decision is call.decision
        verdict = enforcer.decide(case.proposal, session=case.session)
        assert verdict.reasons == _sdk_reasons(run, call)

    names.update(patches=make_topic(unique_name("patches")))
    names.update(releases=make_topic(unique_name("releases")))
    report = _cli_replay(kafka_settings, names, tmp_path)
    assert (report["compared"], report["flipped"], report["unrecorded"]) == (len(run.calls), 0, 0)
    _check_placement(kafka_settings, codec, names, run, verdicts)


def _sdk_reasons(run: Run, call: Call) -> tuple[str, ...]:
    (reasons,) = {o.reasons for pid, o in run.sdk.items() if run.calls[pid] == call}
    return reasons


def _check_placement(
    settings: Settings,
    codec: EventCodec,
    names: dict[str, Any],
    run: Run,
    verdicts: dict[uuid.UUID, tuple[VerdictIssued, int]],
) -> None:
    """Every record of a session on its session's partition; each verdict on the number of its
    proposal's partition."""
    events = sum(len(case.events) for case in run.sessions.values())
    records = read_records(settings, names["proposals"], len(run.calls) + events)
    assert len(records) == len(run.calls) + events
    where: dict[uuid.UUID, int] = {}
    for record in records:
        event = codec.decode(record.value)
        proposer, session = _session_of(event)
        assert record.partition == partition_for(session_key(proposer, session), PARTITIONS)
        if isinstance(event, ProposalSubmitted):
            where[event.proposal.proposal_id] = record.partition
            in_sdk = event.proposal.proposal_id in run.sdk
            assert (decided_elsewhere(record.headers) is not None) == in_sdk
    assert {pid: partition for pid, (_, partition) in verdicts.items()} == where


def _session_of(event: Any) -> tuple[str, str]:
    if isinstance(event, ProposalSubmitted):
        return event.proposal.proposer_id, event.proposal.session_id
    return event.proposer_id, event.session_id
