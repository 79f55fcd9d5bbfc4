"""The refinement worker on the real broker: a cluster of violations becomes a patch with its
regression evidence, built from the history it read off the topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement import build_enforcer, verdict_event
from alignment_flywheel.events import (
    ClusterStatus,
    ClusterUpdated,
    Decision,
    Event,
    FindingRaised,
    FindingSource,
    PatchProposed,
    ProposalSubmitted,
    Severity,
    new_envelope,
)
from alignment_flywheel.governance.norms import example_proposal as made
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.patches import Patch, apply_patch
from tests.support.kafka import collect_events, read_records
from tests.support.workers import start_cli_worker, stop_worker

MEMBERS = [
    "chmod -R 777 /srv/app",
    "sudo chmod -R 0777 /var/www",
    "cd /data && chmod -R a+rwx .",
]
BENIGN = ["ls -la", "chmod 644 notes.txt", "grep -R todo src", "git status", "chmod +x run.sh"]


def history(settings: Settings) -> list[tuple[str, Event]]:
    """Benign proposals with their ALLOW verdicts, and the cluster's findings."""
    enforcer = build_enforcer(settings)
    events: list[tuple[str, Event]] = []
    for i in range(200):
        proposal = made("shell.exec", {"cmd": f"{BENIGN[i % len(BENIGN)]} {i}"})
        submitted = ProposalSubmitted(
            envelope=new_envelope("t", str(proposal.proposal_id)), proposal=proposal
        )
        verdict = verdict_event(enforcer.decide(proposal), proposal, producer="t")
        assert verdict.decision is Decision.ALLOW
        events += [("proposals", submitted), ("verdicts", verdict)]
    for command in MEMBERS:
        finding = FindingRaised(
            envelope=new_envelope("t", "f"),
            finding_id=uuid.uuid4(),
            source=FindingSource.INCIDENT,
            proposal=made("shell.exec", {"cmd": command}),
            oracle_version=1,
            oracle_decision=Decision.ALLOW,
            description="world-writable files",
        )
        events.append(("findings", finding))
    return events


def _grown_cluster_gets_no_second_patch(
    settings: Settings, names: dict[str, str], cluster: ClusterUpdated, first: Event, log: Path
) -> None:
    """The cluster grows but its patch already blocks every member: no second patch for it.
    Another cluster's update, sent after it on the one-partition topics, shows the update was
    read; its patch builds on the first one (patches compose)."""
    codec = EventCodec.from_settings(settings)
    grown = cluster.model_copy(update={"envelope": new_envelope("t", "c"), "size": 4})
    finding = FindingRaised(
        envelope=new_envelope("t", "f"),
        finding_id=uuid.uuid4(),
        source=FindingSource.INCIDENT,
        proposal=made("shell.exec", {"cmd": "setfacl -m o::rwx /srv/app"}),
        oracle_version=1,
        oracle_decision=Decision.ALLOW,
        description="world-writable files",
    )
    other = cluster.model_copy(
        update={
            "envelope": new_envelope("t", "c"),
            "cluster_id": uuid.uuid4(),
            "size": 1,
            "sample_finding_ids": (finding.finding_id,),
        }
    )
    with EventProducer(settings, codec) as producer:
        producer.send(names["findings"], finding)
        producer.send(names["clusters"], grown)
        producer.send(names["clusters"], other)
    patches: list[PatchProposed] = []
    deadline = time.monotonic() + 120
    while not any(p.cluster_ids == (other.cluster_id,) for p in patches):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        records = read_records(settings, names["patches"], 10_000, timeout=2)
        patches = [
            e for e in map(codec.decode, (r.value for r in records)) if isinstance(e, PatchProposed)
        ]
    assert isinstance(first, PatchProposed)
    # before the other cluster's patch: only the first one, re-proposed for re-delivered updates
    ends = next(i for i, p in enumerate(patches) if p.cluster_ids == (other.cluster_id,))
    assert {p.patch_id for p in patches[:ends]} == {first.patch_id}
    assert patches[ends].target_digest != first.target_digest
    assert patches[ends].base_digest == first.target_digest


def test_a_cluster_becomes_a_patch_with_evidence(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        key: make_topic(unique_name(key), partitions=3 if key in ("proposals", "verdicts") else 1)
        for key in (
            "proposals",
            "verdicts",
            "reviews",
            "findings",
            "clusters",
            "patches",
            "releases",
            "dead-letter",
        )
    }
    codec = EventCodec.from_settings(kafka_settings)
    events = history(kafka_settings)
    findings = [e for _, e in events if isinstance(e, FindingRaised)]
    now = datetime.now(UTC)
    cluster = ClusterUpdated(
        envelope=new_envelope("t", "c"),
        cluster_id=uuid.uuid4(),
        signature="chmod -R",
        features=("cmd.word=chmod", "cmd.flag=-R"),
        size=3,
        sample_finding_ids=tuple(f.finding_id for f in findings),
        tools=("shell.exec",),
        severity=Severity.HIGH,
        rank_score=1.0,
        first_seen=now,
        last_seen=now,
        status=ClusterStatus.OPEN,
    )
    with EventProducer(kafka_settings, codec) as producer:
        for topic, event in events:
            producer.send(names[topic], event)
    command = ["refine", "run", "--min-members", "1"]
    command += ["--app-id", unique_name("refine")]
    for key, topic in names.items():
        command += [f"--{key}-topic", topic]
    worker = start_cli_worker(
        kafka_settings, command, tmp_path / "state", (tmp_path / "refine.log")
    )
    got: list[Event] = []
    try:
        # The worker reads its history to the end before it refines: one update is enough.
        with EventProducer(kafka_settings, codec) as producer:
            producer.send(names["clusters"], cluster)
        got = collect_events(
            kafka_settings,
            codec,
            names["patches"],
            group=unique_name("p"),
            count=1,
            dead_letter_topic=unique_name("x"),
        )
    finally:
        stop_worker(worker, kill=True)
    assert got, (tmp_path / "refine.log").read_text()[-3000:]
    # A replacement worker (killed predecessor, new group: it re-reads the cluster update) warms
    # its history up from the topics and proposes the very same patch.
    command[command.index("--app-id") + 1] = unique_name("refine-again")
    again_log = tmp_path / "refine-again.log"
    again = start_cli_worker(kafka_settings, command, tmp_path / "state", again_log)
    try:
        both = collect_events(
            kafka_settings,
            codec,
            names["patches"],
            group=unique_name("p2"),
            count=2,
            dead_letter_topic=unique_name("y"),
        )
        _grown_cluster_gets_no_second_patch(kafka_settings, names, cluster, got[0], again_log)
    finally:
        stop_worker(again)
    assert len(both) == 2, again_log.read_text()[-3000:]
    assert all(isinstance(e, PatchProposed) for e in both)
    assert (
        len(
            {
                (e.patch_id, e.target_digest, e.operations)
                for e in both
                if isinstance(e, PatchProposed)
            }
        )
        == 1
    )
    (event,) = got
    assert isinstance(event, PatchProposed)
    patch = Patch.from_event(event)
    assert patch.cluster_ids == (cluster.cluster_id,)
    assert patch.regression is not None and patch.regression.passed
    assert patch.regression.benign == 200 and patch.regression.false_positives == 0
    target = apply_patch(load_oracle(kafka_settings).artifact, patch)
    patched = build_enforcer(kafka_settings)
    patched.swap_oracle(RuleOracle(target))
    unseen = made("shell.exec", {"cmd": "chmod -R 777 /home/alice"})
    assert patched.decide(unseen).decision is Decision.BLOCK
