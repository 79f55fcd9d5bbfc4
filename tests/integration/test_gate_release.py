"""A gate follows releases: a new stable version is enforced live, and a gate killed and restarted
comes back on the same digest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Decision, ReleaseStage, VerdictIssued
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.patches import parse_operations, propose_patch
from tests.support.kafka import collect_events
from tests.support.releases import promoted, staged
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import start_cli_worker, stop_worker


def gate_command(names: dict[str, str], app_id: str) -> list[str]:
    command = ["gate", "run", "--app-id", app_id]
    for option, topic in names.items():
        command += [option, topic]
    return command


def test_a_released_version_is_enforced_and_survives_a_killed_gate(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "--proposals-topic": make_topic(unique_name("proposals"), partitions=3),
        "--verdicts-topic": make_topic(unique_name("verdicts"), partitions=3),
        "--reviews-topic": make_topic(unique_name("reviews")),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
        "--patches-topic": make_topic(unique_name("patches")),
        "--releases-topic": make_topic(unique_name("releases")),
    }
    genesis = load_oracle(kafka_settings).artifact
    operations = parse_operations(
        [
            {
                "op": "add_rule",
                "rule": {
                    "id": "no-shell",
                    "tools": ["shell.exec"],
                    "when": "true",
                    "score": 0.0,
                    "message": "no shell at all",
                },
            }
        ]
    )
    patch, target = propose_patch(genesis, operations, author="test", rationale="no shell")
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(names["--patches-topic"], patch.to_event("test"))
        release = staged(patch, ReleaseStage.CANARY, 1.0)
        producer.send(names["--releases-topic"], release)
        producer.send(
            names["--releases-topic"], promoted(release, ReleaseStage.STABLE, ReleaseStage.CANARY)
        )
    state = tmp_path / "state"
    verdicts: list[VerdictIssued] = []
    for round_ in range(2):
        # A new group after the kill: the restarted gate does not wait out the dead member's
        # session; it decides the whole topic again, on the digests it rebuilt from the log.
        app_id = unique_name("gate")
        # on a loaded machine the worker can take longer to start than the collector's idle
        # limit: the start waits until it holds partitions
        log = tmp_path / f"gate-{round_}.log"
        worker = start_cli_worker(kafka_settings, gate_command(names, app_id), state, log)
        events = [sample_proposal_submitted(i) for i in range(round_ * 10, round_ * 10 + 10)]
        shell = [e for e in events if e.proposal.tool == "shell.exec"]
        with EventProducer(kafka_settings, codec) as producer:
            for event in events:
                producer.send(names["--proposals-topic"], event)
        try:
            got = collect_events(
                kafka_settings,
                codec,
                names["--verdicts-topic"],
                group=unique_name("v"),
                count=10 + 20 * round_,
                dead_letter_topic=names["--dead-letter-topic"],
            )
        finally:
            stop_worker(worker, kill=True)
        mine = {e.proposal.proposal_id for e in events}
        verdicts = [v for v in got if isinstance(v, VerdictIssued) and v.proposal_id in mine]
        log_text = (tmp_path / f"gate-{round_}.log").read_text()[-3000:]
        assert {v.proposal_id for v in verdicts} == mine, log_text
        assert len({(v.proposal_id, v.decision_id, v.decision) for v in verdicts}) == 10
        assert {v.oracle_digest for v in verdicts} == {target.digest}
        assert {v.oracle_version for v in verdicts} == {2}
        blocked = {v.proposal_id for v in verdicts if v.decision is Decision.BLOCK}
        assert {e.proposal.proposal_id for e in shell} <= blocked
        assert shell, "the sample proposals include shell commands"
