"""`flywheel replay` on the real broker: the gate decides, replay reproduces it, patches flip it."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import Decision, ProposalSubmitted, VerdictIssued
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.patches import parse_operations, propose_patch
from tests.support.kafka import collect_events
from tests.support.oracles import artifact_doc, rule
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import start_cli_worker

pytestmark = pytest.mark.integration
GENESIS = artifact_doc(
    rule("drop", 'args.sql == "DROP TABLE orders"', score=0.0, tools=["sql.query"]),
    rule("crm-review", "true", score=0.9, review=True, tools=["crm.update"]),
)
GARBAGE = [b"not avro at all", b"\xc3\x01" + b"\x00" * 8 + b"junk"]


def _topics(make_topic: Any, unique_name: Any) -> dict[str, str]:
    return {
        "--proposals-topic": make_topic(unique_name("proposals"), partitions=2),
        "--verdicts-topic": make_topic(unique_name("verdicts"), partitions=2),
        "--reviews-topic": make_topic(unique_name("reviews")),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
        "--patches-topic": make_topic(unique_name("patches")),
        "--releases-topic": make_topic(unique_name("releases")),
    }


def _run_gate(
    settings: Any, env: dict[str, str], names: dict[str, str], app_id: str, log_path: Path
) -> Any:
    command = ["gate", "run", "--app-id", app_id]
    for option, topic in names.items():
        command += [option, topic]
    state = Path(env["FLYWHEEL_STATE_DIR"])
    return start_cli_worker(settings, command, state, log_path, env=env)


@dataclass
class History:
    """Proposals (and two undecodable records) the gate decided, and where each record landed."""

    names: dict[str, str]
    env: dict[str, str]
    events: list[ProposalSubmitted]
    where: dict[bytes, tuple[int, int]] = field(default_factory=dict)


def _produce(kafka_settings: Any, codec: EventCodec, history: History) -> None:
    def delivered(err: KafkaError | None, msg: Message) -> None:
        assert err is None
        history.where[bytes(msg.value() or b"")] = (
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )

    topic = history.names["--proposals-topic"]
    with EventProducer(kafka_settings, codec) as producer:
        for event in history.events[:30]:
            producer.send(topic, event, on_delivery=delivered)
        for junk in GARBAGE:
            producer.send_bytes(topic, b"junk", junk, on_delivery=delivered)
        for event in history.events[30:]:
            producer.send(topic, event, on_delivery=delivered)


def _decide(
    kafka_settings: Any, codec: EventCodec, history: History, unique_name: Any, log: Path
) -> dict[Any, Decision]:
    gate = _run_gate(kafka_settings, history.env, history.names, unique_name("gate"), log)
    try:
        verdicts = collect_events(
            kafka_settings,
            codec,
            history.names["--verdicts-topic"],
            group=unique_name("c"),
            count=len(history.events),
            dead_letter_topic=unique_name("x"),
        )
    finally:
        gate.send_signal(signal.SIGTERM)
        gate.wait(60)
    return {v.proposal_id: v.decision for v in verdicts if isinstance(v, VerdictIssued)}


def _replayer(history: History, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    runner = CliRunner()
    options = ("--proposals-topic", "--verdicts-topic", "--patches-topic", "--releases-topic")
    topics = [item for option in options for item in (option, history.names[option])]

    def replay(*args: str) -> dict[str, Any]:
        out = tmp_path / f"replay-{len(list(tmp_path.glob('replay-*')))}.json"
        command = ["replay", *args, *topics, "--json", str(out)]
        result = runner.invoke(app, command, env=history.env)
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(out.read_text())
        return data

    return replay


def replay_text(history: History, *args: str) -> str:
    options = ("--proposals-topic", "--verdicts-topic", "--patches-topic", "--releases-topic")
    topics = [item for option in options for item in (option, history.names[option])]
    result = CliRunner().invoke(app, ["replay", *args, *topics], env=history.env)
    assert result.exit_code == 0, result.output
    return result.output


def test_replay_reproduces_the_gate_and_reports_a_patch_s_flips(
    kafka_settings, make_topic, unique_name, tmp_path: Path
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    oracle_file = tmp_path / "oracle.json"
    oracle_file.write_text(json.dumps(GENESIS))
    env = {
        **connection_env(kafka_settings),
        "FLYWHEEL_STATE_DIR": str(tmp_path / "state"),
        "FLYWHEEL_ORACLE_PATH": str(oracle_file),
    }
    events = [sample_proposal_submitted(i) for i in range(60)]
    history = History(_topics(make_topic, unique_name), env, events)
    before = datetime.now(UTC) - timedelta(seconds=1)
    _produce(kafka_settings, codec, history)
    recorded = _decide(kafka_settings, codec, history, unique_name, tmp_path / "gate.log")
    assert len(recorded) == len(events)
    assert {Decision.ALLOW, Decision.ESCALATE} <= set(recorded.values())

    genesis = load_artifact(oracle_file)
    operations = parse_operations(
        [{"op": "add_rule", "rule": rule("no-mail", "true", score=0.0, tools=["email.send"])}]
    )
    patch, target = propose_patch(genesis, operations, author="test", rationale="block mail")
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(history.names["--patches-topic"], patch.to_event("test"))
    replay = _replayer(history, tmp_path)

    same = replay("--oracle", "stable", "--workers", "2")
    assert same["oracle"]["digest"] == genesis.digest
    assert (same["compared"], same["flipped"], same["unrecorded"]) == (60, 0, 0)
    assert same["flips"] == {}
    assert same["skipped"]["count"] == 2
    assert {(s["partition"], s["offset"]) for s in same["skipped"]["items"]} == {
        history.where[junk] for junk in GARBAGE
    }
    assert all(s["reason"].startswith("undecodable") for s in same["skipped"]["items"])

    mail = {str(e.proposal.proposal_id) for e in events if e.proposal.tool == "email.send"}
    patched = replay("--oracle", f"patch:{patch.patch_id}", "--workers", "1")
    assert patched["oracle"]["digest"] == target.digest
    assert patched["flips"] == {"allow->block": len(mail)}
    assert patched["by_tool"] == {"email.send": {"allow->block": len(mail)}}
    assert {e["proposal_id"] for e in patched["examples"]["allow->block"]} <= mail
    assert replay("--oracle", target.digest[:16])["flips"] == patched["flips"]

    ranged = replay("--oracle", "stable", "--from", "5", "--to", "9")
    in_range = [pos for pos in history.where.values() if 5 <= pos[1] <= 9]
    junk_in_range = [history.where[j] for j in GARBAGE if 5 <= history.where[j][1] <= 9]
    assert ranged["compared"] == len(in_range) - len(junk_in_range)
    assert ranged["skipped"]["count"] == len(junk_in_range)
    assert ranged["flipped"] == 0

    assert replay("--from", before.isoformat())["compared"] == 60
    later = replay("--from", (datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert later["replayed"] == 0 and later["skipped"]["count"] == 0
    assert replay("--to", before.isoformat())["replayed"] == 0

    shown = replay_text(history, "--oracle", f"patch:{patch.patch_id}", "--format", "markdown")
    assert f"| allow->block | {len(mail)} |" in shown
