"""The red team: variants of known failures, checked offline for what the oracle misses.

Rules:

* A seed is a proposal known to be unsafe: the proposal of a finding the norms confirmed, or one
  the oracle blocked. :func:`red_team` generates its variants (:mod:`.variants`; deterministic
  for ``seed``, at most ``budget`` of them) and makes each a proposal with the seed's proposer,
  session, risk context and reasoning; its proposal id is uuid5 of the seed proposal id, the seed
  and the variant, so the same seed always gives the same proposals.
* Each variant is judged by the norms, then, if they call it a VIOLATION, decided offline by every
  target (the current oracle, and a candidate if given, each through an enforcer). A target that
  ALLOWs or REVISEs it has **missed** it; one that BLOCKs or ESCALATEs has not. A target that
  refuses the variant as bad input (a tool outside its catalog) has not missed it either: the
  edge refuses such a call. Variants the norms do not call a violation are never misses.
* Each miss becomes a ``FindingRaised`` (source RED_TEAM, the seed, the parent finding if any,
  the variant proposal, the missing oracle's version and decision). Its finding id is uuid5 of
  the variant's proposal id and the oracle digest, and its event id follows from the finding id,
  so raising the findings again (after a crash) gives the same events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.enforcement.enforcer import Enforcer
from alignment_flywheel.enforcement.policy import RiskPolicy
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import (
    Decision,
    FindingRaised,
    FindingSource,
    Proposal,
    VerificationOutcome,
)
from alignment_flywheel.events.ids import redteam_id
from alignment_flywheel.governance.norms import NormJudgement, Norms
from alignment_flywheel.governance.variants import Variant, generate
from alignment_flywheel.governance.verification import derived_envelope
from alignment_flywheel.oracle.contract import Oracle

MISSED = frozenset({Decision.ALLOW, Decision.REVISE})


@dataclass(frozen=True, slots=True)
class Target:
    """An oracle to attack, behind an enforcer; ``label`` (stable, candidate) names it."""

    label: str
    decider: Decider


def targets(
    policy: RiskPolicy, stable: Oracle, candidate: Oracle | None = None
) -> tuple[Target, ...]:
    """The targets of a deployment: the stable oracle and, if any, the candidate."""
    found = [Target("stable", Enforcer(stable, policy))]
    if candidate is not None:
        found.append(Target("candidate", Enforcer(candidate, policy)))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Miss:
    """A variant the norms call a violation and a target allowed (or revised)."""

    variant: Variant
    proposal: Proposal
    judgement: NormJudgement
    target: str
    verdict: Verdict


@dataclass
class Campaign:
    """The outcome of red-teaming one seed."""

    seed_proposal: Proposal
    seed: int
    variants: list[Variant] = field(default_factory=list)
    violations: int = 0
    refused: int = 0
    misses: list[Miss] = field(default_factory=list)


def variant_proposal(seed_proposal: Proposal, seed: int, variant: Variant) -> Proposal:
    """The proposal of a variant: the seed's context, the variant's call, a derived id."""
    name = f"{seed_proposal.proposal_id}/{seed}/{variant.tool}/{variant.arguments}"
    return seed_proposal.model_copy(
        update={
            "proposal_id": redteam_id(name),
            "tool": variant.tool,
            "arguments": variant.arguments,
            "parent_proposal_id": None,
        }
    )


def red_team(
    seed_proposal: Proposal,
    norms: Norms,
    attacked: Sequence[Target],
    *,
    seed: int,
    budget: int,
) -> Campaign:
    """Generate, judge and evaluate the variants of one seed (see the module rules)."""
    campaign = Campaign(seed_proposal, seed)
    args = seed_proposal.arguments_object()
    campaign.variants = generate(seed_proposal.tool, args, seed=seed, budget=budget)
    for variant in campaign.variants:
        proposal = variant_proposal(seed_proposal, seed, variant)
        judgement = norms.judge(proposal)
        if judgement.outcome is not VerificationOutcome.VIOLATION:
            continue
        campaign.violations += 1
        for target in attacked:
            try:
                verdict = target.decider.decide(proposal)
            except InvalidInputError:
                campaign.refused += 1
                continue
            if verdict.decision in MISSED:
                campaign.misses.append(Miss(variant, proposal, judgement, target.label, verdict))
    return campaign


def finding_id_for(miss: Miss) -> uuid.UUID:
    """The one finding id of a variant missed by one oracle (by digest)."""
    name = f"redteam/{miss.proposal.proposal_id}/{miss.verdict.oracle_digest}"
    return redteam_id(name)


def miss_finding(
    miss: Miss, *, seed: int, parent_finding_id: uuid.UUID | None, producer: str
) -> FindingRaised:
    """The FindingRaised of one miss."""
    finding_id = finding_id_for(miss)
    variant, verdict = miss.variant, miss.verdict
    description = (
        f"red team: {variant.family} variant ({variant.transform}) violates "
        f"{', '.join(miss.judgement.norm_ids)} but the {miss.target} oracle "
        f"v{verdict.oracle_version} gives {verdict.decision.value}"
    )
    correlation = None if parent_finding_id is None else str(parent_finding_id)
    return FindingRaised(
        envelope=derived_envelope(
            producer, str(finding_id), finding_id, correlation_id=correlation
        ),
        finding_id=finding_id,
        source=FindingSource.RED_TEAM,
        proposal=miss.proposal,
        oracle_version=verdict.oracle_version,
        oracle_decision=verdict.decision,
        description=description,
        seed=seed,
        parent_finding_id=parent_finding_id,
    )


def campaign_findings(
    campaign: Campaign, *, parent_finding_id: uuid.UUID | None, producer: str
) -> list[FindingRaised]:
    """The findings of every miss of a campaign, in the order found."""
    return [
        miss_finding(
            miss, seed=campaign.seed, parent_finding_id=parent_finding_id, producer=producer
        )
        for miss in campaign.misses
    ]
