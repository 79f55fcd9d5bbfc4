"""Deciding during a rollout: the stable oracle, and a candidate in shadow or canary.

Rules:

* No candidate: the stable oracle decides; there is no shadow verdict.
* SHADOW: the stable oracle's verdict is enforced; the candidate's is a shadow verdict (stage
  SHADOW, not enforced), recorded for comparison.
* CANARY: a proposal is in the canary when the stable hash of its proposer and session, as a
  fraction of 2**64, is under ``canary_fraction``; so one agent session sees one oracle. In the
  canary the candidate's verdict is enforced (stage CANARY) and the stable one is recorded as the
  shadow verdict; outside it the reverse (the candidate's shadow verdict has stage CANARY).
* :meth:`StagedEnforcer.deploy` swaps the whole deployment atomically (a decision in flight
  finishes with the deployment it started with); :meth:`swap_oracle` replaces the stable oracle
  and drops the candidate. Both sides fail closed as the plain :class:`Enforcer` does.
* Both sides decide in the same session context (``session``), when one is given.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace

from alignment_flywheel.enforcement.enforcer import Enforcer
from alignment_flywheel.enforcement.policy import RiskPolicy
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Proposal, ReleaseStage
from alignment_flywheel.oracle.contract import Oracle
from alignment_flywheel.oracle.provenance import SessionContext


@dataclass(frozen=True, slots=True)
class Deployment:
    """The oracles in use: stable, and optionally a candidate at SHADOW or CANARY."""

    stable: Oracle
    candidate: Oracle | None = None
    stage: ReleaseStage = ReleaseStage.SHADOW
    canary_fraction: float = 0.0
    release_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class StagedVerdict:
    """The verdict acted on, and the shadow verdict recorded beside it (if any)."""

    enforced: Verdict
    shadow: Verdict | None


def canary_bucket(proposal: Proposal) -> float:
    """A stable number in [0, 1) for the proposal's proposer and session."""
    key = f"{proposal.proposer_id}\x00{proposal.session_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64


class _Pair:
    def __init__(self, deployment: Deployment, policy: RiskPolicy) -> None:
        self.deployment = deployment
        self.stable = Enforcer(deployment.stable, policy)
        candidate = deployment.candidate
        self.candidate = None if candidate is None else Enforcer(candidate, policy)


class StagedEnforcer:
    """A Decider over a deployment. Thread-safe."""

    def __init__(self, oracle: Oracle, policy: RiskPolicy) -> None:
        self.policy = policy
        self._pair = _Pair(Deployment(oracle), policy)

    @property
    def oracle(self) -> Oracle:
        return self._pair.deployment.stable

    @property
    def deployment(self) -> Deployment:
        return self._pair.deployment

    def deploy(self, deployment: Deployment) -> None:
        self._pair = _Pair(deployment, self.policy)

    def swap_oracle(self, oracle: Oracle) -> None:
        self.deploy(Deployment(oracle))

    def decide(
        self,
        proposal: Proposal,
        *,
        revision_depth: int = 0,
        session: SessionContext | None = None,
    ) -> Verdict:
        return self.decide_staged(proposal, revision_depth=revision_depth, session=session).enforced

    def decide_staged(
        self,
        proposal: Proposal,
        *,
        revision_depth: int = 0,
        session: SessionContext | None = None,
    ) -> StagedVerdict:
        pair = self._pair
        stable = pair.stable.decide(proposal, revision_depth=revision_depth, session=session)
        if pair.candidate is None:
            return StagedVerdict(stable, None)
        candidate = pair.candidate.decide(proposal, revision_depth=revision_depth, session=session)
        deployment = pair.deployment
        if deployment.stage is not ReleaseStage.CANARY:
            return StagedVerdict(stable, _shadow(candidate, ReleaseStage.SHADOW))
        if canary_bucket(proposal) < deployment.canary_fraction:
            enforced = replace(candidate, stage=ReleaseStage.CANARY)
            return StagedVerdict(enforced, _shadow(stable, ReleaseStage.STABLE))
        return StagedVerdict(stable, _shadow(candidate, ReleaseStage.CANARY))


def _shadow(verdict: Verdict, stage: ReleaseStage) -> Verdict:
    return replace(verdict, stage=stage, enforced=False)
