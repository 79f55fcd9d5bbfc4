"""The refinement worker on the real broker: it refines only on a history read to the end, it
proposes patches on top of its earlier ones, and it rebases them when another patch becomes
stable."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

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
    ReleasePromoted,
    ReleaseStage,
    ReleaseStaged,
    Severity,
    new_envelope,
)
from alignment_flywheel.governance.norms import example_proposal as made
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.patches import Patch, apply_patch, parse_operations, propose_patch
from tests.support.workers import read_until, start_cli_worker, stop_worker

pytestmark = pytest.mark.integration
TOOL = "crm.message"
KEYS = (
    "proposals",
    "verdicts",
    "reviews",
    "findings",
    "clusters",
    "patches",
    "releases",
    "dead-letter",
)


def benign(settings: Settings, count: int) -> list[tuple[str, Event]]:
    enforcer = build_enforcer(settings)
    events: list[tuple[str, Event]] = []
    for i in range(count):
        proposal = made(TOOL, {"recipients": [f"p{i % 7}@corp.test"], "body": f"notes {i}"})
        submitted = ProposalSubmitted(envelope=new_envelope("t", "p"), proposal=proposal)
        verdict = verdict_event(enforcer.decide(proposal), proposal, producer="t")
        assert verdict.decision is Decision.ALLOW
        events += [("proposals", submitted), ("verdicts", verdict)]
    return events


def incident(recipient: str) -> FindingRaised:
    return FindingRaised(
        envelope=new_envelope("t", "f"),
        finding_id=uuid.uuid4(),
        source=FindingSource.INCIDENT,
        proposal=made(TOOL, {"recipients": [recipient], "body": "the code is 5512"}),
        oracle_version=1,
        oracle_decision=Decision.ALLOW,
        description="sent to an attacker",
    )


def cluster_of(finding: FindingRaised) -> ClusterUpdated:
    now = datetime.now(UTC)
    return ClusterUpdated(
        envelope=new_envelope("t", "c"),
        cluster_id=uuid.uuid4(),
        signature=f"tool={TOOL}",
        features=(f"tool={TOOL}",),
        size=1,
        sample_finding_ids=(finding.finding_id,),
        tools=(TOOL,),
        severity=Severity.HIGH,
        rank_score=1.0,
        first_seen=now,
        last_seen=now,
        status=ClusterStatus.OPEN,
    )


def patches_of(events: list[Event]) -> list[PatchProposed]:
    return [e for e in events if isinstance(e, PatchProposed)]


@pytest.fixture
def names(make_topic: Callable[..., str], unique_name: Callable[[str], str]) -> dict[str, str]:
    return {
        key: make_topic(unique_name(key), partitions=3 if key in ("proposals", "verdicts") else 1)
        for key in KEYS
    }


def test_refinement_reads_the_history_to_the_end_and_chains_and_rebases_its_patches(
    kafka_settings: Settings,
    names: dict[str, str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    app_id = unique_name("refine")
    command = ["refine", "run", "--app-id", app_id, "--min-members", "1"]
    for key, topic in names.items():
        command += [f"--{key}-topic", topic]
    log = tmp_path / "refine.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log)
    first, second = incident("drop@exfil.test"), incident("box@leak.test")
    try:
        # the backlog and the cluster update arrive together, after the worker started: the
        # patch must be proved on all 200 benign cases, not on what a live consumer had read (fewer
        # than the 300 a 1 % budget needs before broad rules are tried: each incident needs its
        # own patch here, so there is a chain to rebase)
        with EventProducer(kafka_settings, codec) as producer:
            for topic, event in [*benign(kafka_settings, 200), ("findings", first)]:
                producer.send(names[topic], event)
            producer.send(names["clusters"], cluster_of(first))
        events = read_until(kafka_settings, codec, names["patches"], lambda e: bool(patches_of(e)))
        (p1,) = patches_of(events)
        assert p1.regression is not None and p1.regression.benign == 200, log.read_text()[-3000:]
        genesis = load_oracle(kafka_settings).artifact
        assert p1.base_digest == genesis.digest
        # a second cluster while the first patch is out: proposed on top of it
        with EventProducer(kafka_settings, codec) as producer:
            producer.send(names["findings"], second)
            producer.send(names["clusters"], cluster_of(second))
        events = read_until(
            kafka_settings, codec, names["patches"], lambda e: len(patches_of(e)) >= 2
        )
        p2 = patches_of(events)[1]
        assert p2.base_digest == p1.target_digest, log.read_text()[-3000:]
        # another patch becomes stable: both are rebased onto it, in order, and proved again
        operator, target = propose_patch(
            genesis,
            parse_operations(
                [
                    {
                        "op": "add_rule",
                        "rule": {
                            "id": "ops.nothing",
                            "tools": ["ops.none"],
                            "when": "true",
                            "score": 0.0,
                            "message": "an operator's rule",
                        },
                    }
                ]
            ),
            author="operator",
            rationale="unrelated",
        )
        release = uuid.uuid4()
        with EventProducer(kafka_settings, codec) as producer:
            producer.send(names["patches"], operator.to_event("operator"))
            producer.send(
                names["releases"],
                ReleaseStaged(
                    envelope=new_envelope("t", str(release)),
                    release_id=release,
                    patch_id=operator.patch_id,
                    version=target.version,
                    digest=target.digest,
                    stage=ReleaseStage.SHADOW,
                    canary_fraction=0.1,
                    rollout_policy="t",
                ),
            )
            producer.send(
                names["releases"],
                ReleasePromoted(
                    envelope=new_envelope("t", str(release)),
                    release_id=release,
                    version=target.version,
                    digest=target.digest,
                    from_stage=ReleaseStage.SHADOW,
                    to_stage=ReleaseStage.STABLE,
                    metrics={},
                    automatic=False,
                    actor="t",
                ),
            )
        events = read_until(
            kafka_settings, codec, names["patches"], lambda e: len(patches_of(e)) >= 5
        )
    finally:
        stop_worker(worker)
    rebased = [
        p
        for p in patches_of(events)
        if p.patch_id not in (p1.patch_id, p2.patch_id) and p.author != "operator"
    ]
    assert len(rebased) == 2, log.read_text()[-3000:]
    assert rebased[0].base_digest == target.digest
    assert rebased[1].base_digest == rebased[0].target_digest
    assert [r.cluster_ids for r in rebased] == [p1.cluster_ids, p2.cluster_ids]
    assert all(r.regression is not None and r.regression.passed for r in rebased)


def test_with_enough_benign_history_one_report_fixes_the_unreported_ones_of_its_kind(
    kafka_settings: Settings,
    names: dict[str, str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """300 benign cases (3 / the 1 % budget) let refinement try broad rules: the patch for one
    reported address stops mail to an address nobody reported, and no benign mail."""
    codec = EventCodec.from_settings(kafka_settings)
    app_id = unique_name("refine")
    command = ["refine", "run", "--app-id", app_id, "--min-members", "1"]
    for key, topic in names.items():
        command += [f"--{key}-topic", topic]
    log = tmp_path / "refine.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log)
    reported, unreported = incident("drop@exfil.test"), incident("box@leak.test")
    history = benign(kafka_settings, 300)
    try:
        with EventProducer(kafka_settings, codec) as producer:
            for topic, event in [*history, ("findings", reported)]:
                producer.send(names[topic], event)
            producer.send(names["clusters"], cluster_of(reported))
        events = read_until(kafka_settings, codec, names["patches"], lambda e: bool(patches_of(e)))
    finally:
        stop_worker(worker)
    (proposed,) = patches_of(events)
    assert proposed.regression is not None and proposed.regression.passed, log.read_text()[-3000:]
    target = apply_patch(load_oracle(kafka_settings).artifact, Patch.from_event(proposed))
    assert target.spec.data, "the benign recipients are a named set beside the rule"
    gate = build_enforcer(kafka_settings)
    gate.swap_oracle(RuleOracle(target))
    assert gate.decide(unreported.proposal).decision is Decision.BLOCK
    benign_proposals = [e.proposal for _, e in history if isinstance(e, ProposalSubmitted)]
    assert {gate.decide(p).decision for p in benign_proposals} == {Decision.ALLOW}
