"""The release controller publishes the gate's refusals as unsigned, informational rejections:
they reach the patches topic and take nothing away from a verifying follower."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alignment_flywheel.config import load_settings
from alignment_flywheel.events import Event, PatchRejected, PatchRejectionReason
from alignment_flywheel.processors.release import build_controller
from alignment_flywheel.release.rebuild import PatchLibrary
from alignment_flywheel.release.rollout import RolloutPolicy
from alignment_flywheel.release.trusted import ReleaseGate, chain_check
from tests.support.signing import BASE, Keyring, approvals, make_patch


class Topic:
    """A faust topic that confirms every send at once."""

    def __init__(self) -> None:
        self.sent: list[Event | bytes] = []

    async def send(self, *, key: bytes, value: Event | bytes) -> Any:
        self.sent.append(value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_refusals_are_published_unsigned_and_change_nothing(tmp_path: Path) -> None:
    ring = Keyring()
    root = ring.root().root
    gate = ReleaseGate(root, "controller")
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:9")
    stage = {"min_samples": 1, "min_duration_s": 60.0, "promotion": "automatic"}
    policy = RolloutPolicy(name="t", stages={"SHADOW": stage, "CANARY": stage})
    controller = build_controller(settings, BASE, policy, gate, check=chain_check(root))
    topic = Topic()
    controller.shell.output = lambda _event_type: topic  # type: ignore[method-assign]
    expired = make_patch(expires=datetime.now(UTC) - timedelta(hours=1))
    assert gate(expired, approvals(ring, expired)) is False
    asyncio.run(controller._publish_rejections())
    (sent,) = topic.sent
    rejection = controller.shell.codec.decode(sent) if isinstance(sent, bytes) else sent
    assert isinstance(rejection, PatchRejected) and rejection.signatures == ()
    assert rejection.reason is PatchRejectionReason.EXPIRED
    library = PatchLibrary(chain_check(root))
    assert library.add(rejection) is False and expired.patch_id not in library.rejected
    asyncio.run(controller._publish_rejections())
    assert len(topic.sent) == 1, "each refusal is published once"
