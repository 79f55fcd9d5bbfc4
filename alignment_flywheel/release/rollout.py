"""The rollout policy and the metrics it judges: promote, hold, wait for a releaser, or roll back.

The policy is data (``policies/rollout.yaml``)::

    name: default
    canary_fraction: 0.1
    stages:
      SHADOW: {min_samples: 200, min_duration_s: 30, promotion: automatic}
      CANARY: {min_samples: 200, min_duration_s: 60, promotion: manual}
    gates: {max_disagreement_rate: 0.1, max_block_rate_delta: 0.05, max_escalation_rate_delta: 0.05,
            max_error_rate: 0.01, max_reviewed_false_positives: 0, min_samples_for_rollback: 50}

Metrics are computed over *pairs*: for each proposal decided while the candidate is out, the
verdict of the candidate and the verdict of the stable oracle (one enforced, the other recorded as
a shadow verdict). ``disagreement_rate`` is the share of pairs whose decisions differ; the rate
deltas are candidate minus stable; ``error_rate`` is the share of candidate verdicts with an
evaluation error (a fail-closed verdict or a rule that failed); ``reviewed_false_positives``
counts proposals the candidate blocked or escalated, the stable oracle allowed, and a human
approved.

Judgement, in this order: with at least ``min_samples_for_rollback`` pairs, any gate breached
gives ROLLBACK with every breach named; with ``min_samples`` pairs and ``min_duration_s`` in the
stage, PROMOTE (``automatic``) or WAIT for a releaser (``manual``); otherwise HOLD.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Decision, EvidenceKind, ReleaseStage, VerdictIssued
from alignment_flywheel.oracle.artifact import Spec, Unit, read_document, validation_problems
from alignment_flywheel.replay.engine import Tally
from alignment_flywheel.resources import POLICIES_DIR

DEFAULT_ROLLOUT = POLICIES_DIR / "rollout.yaml"
MAX_OPEN_PAIRS = 100_000


class StageRule(Spec):
    min_samples: Annotated[int, Field(ge=0)] = 200
    min_duration_s: Annotated[float, Field(ge=0)] = 60.0
    promotion: Literal["automatic", "manual"] = "automatic"


class Gates(Spec):
    max_disagreement_rate: Unit = 0.1
    max_block_rate_delta: Annotated[float, Field(ge=-1, le=1)] = 0.05
    max_escalation_rate_delta: Annotated[float, Field(ge=-1, le=1)] = 0.05
    max_error_rate: Unit = 0.01
    max_reviewed_false_positives: Annotated[int, Field(ge=0)] = 0
    min_samples_for_rollback: Annotated[int, Field(ge=1)] = 50


class RolloutPolicy(Spec):
    name: Annotated[str, Field(min_length=1)]
    canary_fraction: Unit = 0.1
    stages: dict[str, StageRule] = Field(
        default_factory=lambda: {"SHADOW": StageRule(), "CANARY": StageRule()}
    )
    gates: Gates = Gates()

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: dict[str, StageRule]) -> dict[str, StageRule]:
        unknown = sorted(set(stages) - {"SHADOW", "CANARY"})
        if unknown:
            raise ValueError(f"stages are SHADOW and CANARY, not {', '.join(unknown)}")
        return stages

    def rule_for(self, stage: ReleaseStage) -> StageRule:
        return self.stages.get(stage.value, StageRule())


def load_rollout_policy(path: Path = DEFAULT_ROLLOUT) -> RolloutPolicy:
    document = read_document(path)
    try:
        return RolloutPolicy.model_validate(document)
    except ValidationError as exc:
        raise PolicyDocumentError(str(path), validation_problems(exc, document)) from None


class Judgement(StrEnum):
    HOLD = "HOLD"
    PROMOTE = "PROMOTE"
    WAIT = "WAIT"
    ROLLBACK = "ROLLBACK"


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What a judgement needs of one verdict."""

    decision: Decision
    failed: bool

    @classmethod
    def of(cls, event: VerdictIssued) -> Verdicts:
        failed = event.error is not None or any(
            e.kind in (EvidenceKind.RULE_ERROR, EvidenceKind.ORACLE_ERROR) for e in event.evidence
        )
        return cls(event.decision, failed)


@dataclass
class RolloutMetrics:
    """Counters over verdict pairs of one release; :meth:`add` takes every verdict. The pairs are
    counted by the replay engine's :class:`~alignment_flywheel.replay.engine.Tally` (baseline:
    stable, replayed: candidate), the same diff an offline replay of the candidate computes."""

    candidate_digest: str
    tally: Tally = field(default_factory=Tally)
    candidate_errors: int = 0
    reviewed_false_positives: int = 0
    suspects: set[uuid.UUID] = field(default_factory=set)
    _open: OrderedDict[uuid.UUID, tuple[bool, Verdicts]] = field(default_factory=OrderedDict)

    @property
    def pairs(self) -> int:
        return self.tally.total

    def add(self, event: VerdictIssued) -> None:
        """Count a verdict; a pair is counted when both of a proposal's verdicts are in."""
        is_candidate = event.oracle_digest == self.candidate_digest
        mine = Verdicts.of(event)
        other = self._open.pop(event.proposal_id, None)
        if other is None or other[0] == is_candidate:
            self._open[event.proposal_id] = (is_candidate, mine)
            if len(self._open) > MAX_OPEN_PAIRS:
                self._open.popitem(last=False)
            return
        candidate, stable = (mine, other[1]) if is_candidate else (other[1], mine)
        self._count(event.proposal_id, candidate, stable)

    def _count(self, proposal_id: uuid.UUID, candidate: Verdicts, stable: Verdicts) -> None:
        self.tally.add(stable.decision, candidate.decision)
        self.candidate_errors += candidate.failed
        stricter = candidate.decision in (Decision.BLOCK, Decision.ESCALATE)
        if stricter and stable.decision is Decision.ALLOW:
            self.suspects.add(proposal_id)

    def review_approved(self, proposal_id: uuid.UUID) -> None:
        """A human approved a proposal: a false positive if the candidate alone refused it."""
        if proposal_id in self.suspects:
            self.suspects.discard(proposal_id)
            self.reviewed_false_positives += 1

    def figures(self) -> dict[str, float]:
        tally = self.tally
        n = max(tally.total, 1)
        block, escalate = Decision.BLOCK, Decision.ESCALATE
        return {
            "samples": float(tally.total),
            "disagreement_rate": tally.changed / n,
            "block_rate_delta": (tally.after(block) - tally.before(block)) / n,
            "escalation_rate_delta": (tally.after(escalate) - tally.before(escalate)) / n,
            "error_rate": self.candidate_errors / n,
            "reviewed_false_positives": float(self.reviewed_false_positives),
        }


def breaches(gates: Gates, figures: dict[str, float]) -> list[str]:
    """Each gate the figures breach, as text."""
    limits: list[tuple[str, float]] = [
        ("disagreement_rate", gates.max_disagreement_rate),
        ("block_rate_delta", gates.max_block_rate_delta),
        ("escalation_rate_delta", gates.max_escalation_rate_delta),
        ("error_rate", gates.max_error_rate),
        ("reviewed_false_positives", gates.max_reviewed_false_positives),
    ]
    return [
        f"{name} {figures[name]:.4g} over {limit:.4g}"
        for name, limit in limits
        if figures[name] > limit
    ]


def judge(
    policy: RolloutPolicy, stage: ReleaseStage, figures: dict[str, float], elapsed_s: float
) -> tuple[Judgement, list[str]]:
    """The judgement of the policy on a release at ``stage``, and why."""
    samples = figures["samples"]
    if samples >= policy.gates.min_samples_for_rollback:
        breached = breaches(policy.gates, figures)
        if breached:
            return Judgement.ROLLBACK, breached
    rule = policy.rule_for(stage)
    if samples < rule.min_samples or elapsed_s < rule.min_duration_s:
        need = (
            f"{samples:.0f}/{rule.min_samples} samples, {elapsed_s:.0f}/{rule.min_duration_s:.0f} s"
        )
        return Judgement.HOLD, [need]
    if rule.promotion == "manual":
        return Judgement.WAIT, ["gates hold; waiting for a releaser"]
    return Judgement.PROMOTE, ["gates hold"]


def describe(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in figures.items())
