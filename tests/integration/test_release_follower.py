"""Following releases on the real broker: the same digests after a restart, new releases live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.staged import Deployment
from alignment_flywheel.events import ReleaseStage
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from tests.support.kafka import publish
from tests.support.oracles import artifact_doc, rule
from tests.support.releases import patch_chain, promoted, staged

GENESIS = build_artifact(artifact_doc(rule("base", "false")))
S, C, ST = ReleaseStage.SHADOW, ReleaseStage.CANARY, ReleaseStage.STABLE


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_follower_rebuilds_the_deployment_and_follows_new_releases(
    kafka_settings: Settings, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topics = ReleaseTopics(
        make_topic(unique_name("patches"), partitions=3), make_topic(unique_name("releases"))
    )
    chain = patch_chain(GENESIS, 3)
    first, second = staged(chain[0][0]), staged(chain[1][0], C, 0.25)
    publish(kafka_settings, topics.patches, [p.to_event("test") for p, _ in chain])
    publish(kafka_settings, topics.releases, [first, promoted(first, ST, S), second])

    follower = ReleaseFollower(kafka_settings, GENESIS, topics=topics).start()
    seen: list[Deployment] = []
    changed = threading.Event()
    follower.attach_deployment(lambda d: (seen.append(d), changed.set()))
    try:
        current = follower.deployment
        assert current.stable.digest == chain[0][1].digest
        assert current.candidate is not None and current.candidate.digest == chain[1][1].digest
        assert (current.stage, current.canary_fraction) == (C, 0.25)
        restarted = ReleaseFollower(kafka_settings, GENESIS, topics=topics).start()
        restarted.stop()
        assert restarted.deployment.stable.digest == current.stable.digest
        assert restarted.state == follower.state

        changed.clear()
        publish(kafka_settings, topics.releases, [promoted(second, ST, C)])
        assert changed.wait(20)
        assert wait_for(lambda: seen[-1].stable.digest == chain[1][1].digest)
        assert seen[-1].candidate is None
        assert follower.errors == 0
    finally:
        follower.stop()
