"""A staged rollout on the real broker: a bad patch is staged, breaches its gates, rolls back,
with the controller killed and replaced mid-rollout.

The controller runs as its own worker; the decisions come from an SDK guard that follows the
releases (it decides and publishes enforced and shadow verdicts exactly as a gate does).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard, SdkTopics
from alignment_flywheel.enforcement import build_enforcer
from alignment_flywheel.events import (
    Decision,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
)
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.patches import parse_operations, propose_patch
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from tests.support.kafka import collect_events
from tests.support.releases import controller_args
from tests.support.signing import Keyring, approvals
from tests.support.workers import start_cli_worker, stop_worker

POLICY = {
    "name": "test",
    "canary_fraction": 0.5,
    "stages": {
        "SHADOW": {"min_samples": 10_000, "min_duration_s": 600},
        "CANARY": {"min_samples": 10_000, "min_duration_s": 600},
    },
    "gates": {"max_block_rate_delta": 0.05, "min_samples_for_rollback": 20},
}


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_rollout_that_breaches_its_gates_rolls_back_by_itself(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "verdicts": make_topic(unique_name("verdicts"), partitions=3),
        "reviews": make_topic(unique_name("reviews")),
        "patches": make_topic(unique_name("patches"), partitions=3),
        "releases": make_topic(unique_name("releases")),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    proposals = make_topic(unique_name("proposals"), partitions=3)
    genesis = load_oracle(kafka_settings).artifact
    operations = parse_operations(
        [
            {
                "op": "add_rule",
                "rule": {
                    "id": "ls-is-dangerous",
                    "tools": ["shell.exec"],
                    "when": "true",
                    "score": 0.0,
                    "message": "blocks every shell command",
                },
            }
        ]
    )
    patch, _target = propose_patch(genesis, operations, author="test", rationale="a bad patch")
    ring = Keyring()
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(names["patches"], patch.to_event("test"))
        for approval in approvals(ring, patch):
            producer.send(names["patches"], approval)

    state = tmp_path / "controller"
    args = controller_args(state, unique_name("release"), names, POLICY, ring)
    controller = start_cli_worker(kafka_settings, args, state, tmp_path / "controller.log")
    follower = ReleaseFollower(
        kafka_settings, genesis, topics=ReleaseTopics(names["patches"], names["releases"])
    ).start()
    guard = Guard(
        kafka_settings,
        enforcer=build_enforcer(kafka_settings),
        proposer_id="agent-rollout",
        topics=SdkTopics(proposals, names["verdicts"], names["reviews"]),
    )
    guard.follow(follower)
    try:
        assert wait_for(lambda: follower.deployment.candidate is not None), (
            tmp_path / "controller.log"
        ).read_text()[-3000:]
        assert follower.deployment.stage is ReleaseStage.SHADOW
        # The controller is killed mid-rollout; its replacement (a new group) folds the release
        # topic, does not stage the patch again, and finishes the rollout.
        stop_worker(controller, kill=True)
        args = controller_args(state, unique_name("release-again"), names, POLICY, ring)
        controller = start_cli_worker(
            kafka_settings, args, state, tmp_path / "controller-again.log"
        )
        decisions = []
        deadline = time.monotonic() + 120
        while follower.deployment.candidate is not None and time.monotonic() < deadline:
            decisions.append(guard.check("shell.exec", {"cmd": f"ls /workspace/{len(decisions)}"}))
            time.sleep(0.01)
        assert {d.decision for d in decisions} == {Decision.ALLOW}, (
            "shadow verdicts are never enforced"
        )
        assert wait_for(lambda: follower.deployment.candidate is None), (
            tmp_path / "controller-again.log"
        ).read_text()[-3000:]
        assert follower.deployment.stable.digest == genesis.digest
        after = guard.check("shell.exec", {"cmd": "ls"})
        assert after.decision is Decision.ALLOW and after.verdict.oracle_digest == genesis.digest
    finally:
        guard.close()
        follower.stop()
        stop_worker(controller)

    events = collect_events(
        kafka_settings,
        codec,
        names["releases"],
        group=unique_name("check"),
        count=2,
        dead_letter_topic=names["dead_letters"],
    )
    staged, rolled_back = events
    assert isinstance(staged, ReleaseStaged) and staged.patch_id == patch.patch_id
    assert isinstance(rolled_back, ReleaseRolledBack)
    assert rolled_back.automatic and rolled_back.from_stage is ReleaseStage.SHADOW
    assert rolled_back.restored_digest == genesis.digest
    assert rolled_back.metrics["block_rate_delta"] > 0.05
    assert rolled_back.metrics["samples"] >= 20
    assert "block_rate_delta" in rolled_back.reason
    assert uuid.UUID(str(rolled_back.release_id)) == staged.release_id
