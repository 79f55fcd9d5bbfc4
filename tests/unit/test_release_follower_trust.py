"""A follower with a trust root enforces only verified versions: release events can move it
forward among them, never back without the releaser's signature, and a version it cannot accept
leaves it on the last one it accepted, degraded, live as after a restart."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alignment_flywheel.config import load_settings
from alignment_flywheel.enforcement.staged import Deployment
from alignment_flywheel.events import Event, ReleaseStage
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.approvals import sign_rejection
from alignment_flywheel.patches.verify import human_rejection
from alignment_flywheel.release import commands
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.rebuild import PatchCheck
from alignment_flywheel.release.trusted import chain_check, sign_rollback
from tests.support.releases import patch_chain, promoted, rolled_back, staged
from tests.support.signing import BASE, Keyring, approvals

S, C, ST = ReleaseStage.SHADOW, ReleaseStage.CANARY, ReleaseStage.STABLE
CHAIN = [patch for patch, _ in patch_chain(BASE, 3)]


def follower(tmp_path: Path, check: PatchCheck | None) -> ReleaseFollower:
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:9")
    topics = ReleaseTopics("patches", "releases")
    return ReleaseFollower(settings, BASE, topics=topics, check=check)


def signed_log(ring: Keyring, patches: Iterable[Patch]) -> list[Event]:
    return [e for p in patches for e in (p.to_event("refinement"), *approvals(ring, p))]


def feed(target: ReleaseFollower, events: Iterable[Event]) -> ReleaseFollower:
    for event in events:
        target.apply_now(event)
    return target


def released(patch: Patch) -> list[Event]:
    release = staged(patch)
    return [release, promoted(release, ST, S)]


def test_an_older_verified_version_promoted_again_is_refused(tmp_path: Path) -> None:
    ring = Keyring()
    live = feed(follower(tmp_path, chain_check(ring.root().root)), signed_log(ring, CHAIN[:2]))
    feed(live, [*released(CHAIN[0]), *released(CHAIN[1])])
    assert live.deployment.stable.version == 3 and not live.status.degraded
    again = staged(CHAIN[0])
    feed(live, [promoted(again, ST, S)])
    assert live.deployment.stable.digest == CHAIN[1].target_digest
    assert live.status.degraded and "not newer" in (live.status.reason or "")


def test_a_stable_rollback_needs_the_releasers_signature(tmp_path: Path) -> None:
    ring = Keyring()
    live = feed(follower(tmp_path, chain_check(ring.root().root)), signed_log(ring, CHAIN[:2]))
    feed(live, [*released(CHAIN[0]), *released(CHAIN[1])])
    unsigned = commands.rollback(live.state, live.builder, actor="ops", reason="x", stable=True)
    feed(live, [unsigned])
    assert live.deployment.stable.version == 3
    assert live.status.degraded and "rollback" in (live.status.reason or "")
    assert live.ignored.snapshot() == {"rollback NOT_AUTHORIZED": 1}
    signed = sign_rollback(unsigned, [ring["rel"]])
    feed(live, [signed])
    assert live.deployment.stable.digest == CHAIN[0].target_digest
    assert not live.status.degraded


def test_without_a_trust_root_a_rollback_is_followed_unsigned(tmp_path: Path) -> None:
    live = feed(follower(tmp_path, None), [p.to_event("t") for p in CHAIN[:2]])
    feed(live, [*released(CHAIN[0]), *released(CHAIN[1])])
    second = staged(CHAIN[1])
    feed(live, [rolled_back(second, ST, (2, CHAIN[0].target_digest))])
    assert live.deployment.stable.digest == CHAIN[0].target_digest
    assert not live.status.verifying and not live.status.degraded


def test_a_rejection_signed_by_the_releaser_withdraws_a_released_patch(tmp_path: Path) -> None:
    ring = Keyring()
    live = feed(follower(tmp_path, chain_check(ring.root().root)), signed_log(ring, CHAIN[:2]))
    feed(live, [*released(CHAIN[0]), *released(CHAIN[1])])
    refusal = human_rejection(CHAIN[1].patch_id, "unsafe", rejected_by="ops")
    feed(live, [refusal])
    assert live.deployment.stable.version == 3, "an unsigned rejection changes nothing"
    feed(live, [sign_rejection(refusal, [ring["rel"]])])
    assert live.deployment.stable.digest == CHAIN[0].target_digest
    assert live.status.degraded and "rejected" in (live.status.reason or "")


def test_an_unverified_candidate_is_not_run(tmp_path: Path) -> None:
    ring = Keyring()
    log = [*signed_log(ring, CHAIN[:1]), CHAIN[1].to_event("mallory")]
    live = feed(follower(tmp_path, chain_check(ring.root().root)), log)
    feed(live, released(CHAIN[0]))
    feed(live, [staged(CHAIN[1], C, 1.0)])
    assert live.deployment.candidate is None
    assert live.status.candidate is None and live.status.degraded
    assert live.status.reason is not None and "candidate v3" in live.status.reason


def test_a_release_read_before_its_patch_is_deployed_once_the_patch_arrives(
    tmp_path: Path,
) -> None:
    ring = Keyring()
    live = follower(tmp_path, chain_check(ring.root().root))
    feed(live, released(CHAIN[0]))
    assert live.status.degraded and live.deployment.stable.digest == BASE.digest
    feed(live, signed_log(ring, CHAIN[:1]))
    assert live.deployment.stable.digest == CHAIN[0].target_digest
    assert not live.status.degraded


def test_promotion_to_canary_deploys_the_canary(tmp_path: Path) -> None:
    ring = Keyring()
    live = feed(follower(tmp_path, chain_check(ring.root().root)), signed_log(ring, CHAIN[:1]))
    seen: list[Deployment] = []
    live.attach_deployment(seen.append)
    release = staged(CHAIN[0])
    feed(live, [release])
    assert seen[-1].stage is S
    feed(live, [promoted(release, C, S)])
    assert seen[-1].stage is C and seen[-1].candidate is not None
