"""Oracle releases in the HTTP endpoint: followed on Kafka as the gate and the SDK follow them.

Rules:

* With release topics (``create_http_app(follow=...)``, which ``flywheel serve`` passes unless
  ``--no-follow``), the endpoint runs a
  :class:`~alignment_flywheel.release.follower.ReleaseFollower` over the settings' bootstrap
  artifact (``oracle_path``), checked against the trust root like every follower
  (:func:`~alignment_flywheel.release.trusted.follower_check`): only verified releases are
  enforced.
* The follower starts with the app (its lifespan): the endpoint serves only once both topics are
  read to their end, so a restarted endpoint enforces what every gate enforces. A follower that
  cannot read them stops the start, as it stops ``flywheel gate run``: the endpoint never serves
  an older oracle without saying so.
* Each new deployment (the stable oracle, and a candidate at SHADOW or CANARY) goes to the
  guard's enforcer (:meth:`Guard.follow`): canary sessions are decided by the candidate and
  shadow verdicts are recorded, exactly as the SDK does.
* :func:`candidate_of` and :meth:`ReleaseFollowing.report` are what ``GET /v1/oracle`` shows; the
  follower's own status (degraded, and why) is shown when the follower has one.
"""

from __future__ import annotations

from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http.models import CandidateOut, ReleasesOut
from alignment_flywheel.connectors.sdk.decision import SwappableDecider
from alignment_flywheel.connectors.sdk.guard import Guard
from alignment_flywheel.events import ReleaseStage
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check

START_TIMEOUT_S = 60.0


class ReleaseFollowing:
    """The endpoint's release follower and what it reports."""

    def __init__(self, settings: Settings, topics: ReleaseTopics) -> None:
        self.topics = topics
        genesis = load_artifact(oracle_path(settings))
        check = follower_check(settings)
        self.follower = ReleaseFollower(settings, genesis, topics=topics, check=check)

    def start(self, guard: Guard) -> None:
        """Read both topics to their end, then deploy into ``guard`` (now and on every release)."""
        self.follower.start(timeout=START_TIMEOUT_S)
        guard.follow(self.follower)

    def stop(self) -> None:
        self.follower.stop()

    @property
    def degraded(self) -> bool:
        return self.report().degraded is True

    def report(self) -> ReleasesOut:
        status: Any = getattr(self.follower, "status", None)
        degraded = getattr(status, "degraded", None)
        released = getattr(status, "released", None)
        return ReleasesOut(
            following=True,
            patches_topic=self.topics.patches,
            releases_topic=self.topics.releases,
            errors=self.follower.errors,
            degraded=degraded if isinstance(degraded, bool) else None,
            reason=getattr(status, "reason", None),
            released_version=getattr(released, "version", None),
        )


def candidate_of(enforcer: SwappableDecider) -> CandidateOut | None:
    """The candidate of the enforcer's deployment, if it runs one."""
    deployment: Any = getattr(enforcer, "deployment", None)
    candidate = getattr(deployment, "candidate", None)
    if deployment is None or candidate is None:
        return None
    stage: ReleaseStage = deployment.stage
    return CandidateOut(
        oracle_version=candidate.version,
        oracle_digest=candidate.digest,
        stage=stage,
        canary_fraction=deployment.canary_fraction if stage is ReleaseStage.CANARY else 0.0,
    )
