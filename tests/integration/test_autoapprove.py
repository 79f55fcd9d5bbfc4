"""The auto-approver on the real broker, SIGKILLed mid-stream: the replacement loses no approval,
and an approval sent twice is the same signature by the same key."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event, PatchApproved, PatchProposed, RegressionEvidence
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import key_id
from tests.support.kafka import wait_for_records
from tests.support.signing import make_patch
from tests.support.workers import (
    hook,
    read_events,
    read_until,
    replaceable_worker,
    stop_worker,
    topic_options,
)

PATCHES = 200


def evidence(passed: bool) -> RegressionEvidence:
    return RegressionEvidence(
        cases=10,
        expected_blocked=3,
        blocked=3 if passed else 2,
        benign=7,
        false_positives=0,
        false_positive_rate=0.0,
        labelled=0,
        labels_kept=0,
        passed=passed,
        report="r",
    )


def _approved(events: list[Event]) -> set[tuple[uuid.UUID, str]]:
    return {(e.patch_id, e.key_id) for e in events if isinstance(e, PatchApproved)}


def test_a_sigkilled_auto_approver_loses_no_approval_and_resends_only_the_same_signature(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topics = {
        "patches": make_topic(unique_name("patches"), partitions=3),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    names = ["auto-0", "auto-1"]
    keys = [KeyStore(tmp_path / "keys").new(name) for name in names]
    key_env = {
        "FLYWHEEL_KEYS_DIR": str(tmp_path / "keys"),
        "FLYWHEEL_AUTO_APPROVE_KEYS": json.dumps(names),
    }
    patches: list[Patch] = [make_patch(regression=evidence(i % 4 != 0)) for i in range(PATCHES)]
    passing = [p for p in patches if p.regression is not None and p.regression.passed]
    expected = {
        (p.patch_id, key_id(k.public_key())): approve(
            p, k, role="approver", producer="test", automatic=True
        ).signature
        for p in passing
        for k in keys
    }
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for patch in patches:
            producer.send(topics["patches"], patch.to_event("refinement"))
    app_id = unique_name("autoapprove")

    args = ["autoapprove", "run", "--app-id", app_id, *topic_options(topics)]
    args += ["--approver", hook("slow_approver")]
    start = replaceable_worker(kafka_settings, args, tmp_path, delay_ms=20, env=key_env)
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    first = start(0)
    replacement = None
    try:
        wait_for_records(kafka_settings, topics["patches"], 3, PATCHES + len(expected) // 4)
        assert stop_worker(first, kill=True) == -9
        replacement = start(1)
        read_until(
            kafka_settings, codec, topics["patches"], lambda e: _approved(e) >= set(expected)
        )
        every = read_events(kafka_settings, codec, topics["patches"], 100_000, timeout=15)
        letters = read_events(kafka_settings, codec, topics["dead_letters"], 1, timeout=3)
    finally:
        for worker in (first, replacement):
            if worker is not None:
                stop_worker(worker)
    output = "\n".join(log.read_text()[-1500:] for log in logs)
    proposed = [e for e in every if isinstance(e, PatchProposed)]
    approvals = [e for e in every if isinstance(e, PatchApproved)]
    assert len(proposed) == PATCHES and len(proposed) + len(approvals) == len(every), output
    by_id: dict[tuple[uuid.UUID, str], set[tuple[object, ...]]] = defaultdict(set)
    producers: set[str] = set()
    for approval in approvals:
        assert approval.automatic and approval.role == "approver"
        assert approval.signature == expected[(approval.patch_id, approval.key_id)]
        by_id[(approval.patch_id, approval.key_id)].add((approval.signature, approval.role))
        producers.add(approval.envelope.producer)
    assert set(by_id) == set(expected), output  # none lost, none for a failing patch
    assert all(len(versions) == 1 for versions in by_id.values())
    assert producers == {"worker-0/auto-approver", "worker-1/auto-approver"}, output
    assert letters == []
    print(f"approvals: {len(approvals)}, re-sent after SIGKILL: {len(approvals) - len(expected)}")
