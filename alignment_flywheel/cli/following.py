"""The enforcer of a worker that decides (gate, intake): built from the settings, and, unless told
not to, kept on the oracle version the release topic deploys by a release follower."""

from __future__ import annotations

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.enforcer import build_enforcer
from alignment_flywheel.enforcement.staged import StagedEnforcer
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check


def following_enforcer(
    settings: Settings, *, follow: bool, patches: str, releases: str
) -> tuple[StagedEnforcer, ReleaseFollower | None]:
    """The enforcer and, with ``follow``, the started follower that deploys into it (the caller
    stops it)."""
    enforcer = build_enforcer(settings)
    if not follow:
        return enforcer, None
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(
        settings,
        genesis,
        topics=ReleaseTopics(patches, releases),
        check=follower_check(settings),
    ).start()
    follower.attach_deployment(enforcer.deploy)
    return enforcer, follower
