"""The risk policy: tiers chosen from the risk context, each with its thresholds, as data.

A policy is a YAML document (``policies/risk-policy.yaml`` is the default)::

    version: "2026.11-1"
    default_tier: standard
    revise_budget: 2               # REVISE only while the chain's depth is under this
    on_oracle_error: BLOCK         # fail closed: BLOCK or ESCALATE, never ALLOW
    on_oracle_timeout: ESCALATE
    on_revise_exhausted: ESCALATE  # an amendment is offered but the budget is spent
    on_unknown_tool: ESCALATE      # a tool outside the oracle's catalog: REFUSE, BLOCK or ESCALATE
    oracle_timeout_ms: 100
    tiers:
      - name: critical
        when: 'risk.blast_radius == "CRITICAL"'
        block_below: 0.7           # BLOCK when the safety score is under this
        escalate_uncertainty: 0.2  # ESCALATE when the uncertainty reaches this
        revise_budget: 1           # optional; overrides the policy's budget in this tier
      - name: standard
        block_below: 0.3
        escalate_uncertainty: 0.5

Rules:

* The tier is the first whose ``when`` holds; a tier without ``when`` always holds; if none holds,
  ``default_tier``. A tier's ``when`` sees ``risk`` and ``tool`` only (tiers follow the declared
  risk, not the arguments). The tiers' ``when`` run as one function of the oracle's fast path
  (:mod:`~alignment_flywheel.oracle.fastpath`) that returns the first tier that holds; a tier it
  leaves to the CEL engine is chosen there, cached per (risk context, tool) on plain values
  (:func:`tier_key`).
* A ``when`` that fails on an input selects the strictest tier (highest ``block_below``), and the
  verdict's reasons say so.
* The verdict, in this order: BLOCK when the score is under the tier's ``block_below``; ESCALATE
  when the uncertainty reaches ``escalate_uncertainty`` or a matching rule demands review; REVISE
  when matching rules offer amendments and the chain's depth is under the revise budget (the
  amendments are merged: set_arguments in rule order, first wins; removals and constraints
  united); ``on_revise_exhausted`` when amendments are offered and the budget is spent; else ALLOW.
* A tool outside the oracle artifact's tool catalog gets ``on_unknown_tool``: BLOCK or ESCALATE
  is a verdict like any other (its reason names the tool); REFUSE (the default when the key is
  absent) treats the proposal as bad input, refused at the edge (HTTP 422, dead letter, SDK error).
  Never ALLOW: a tool nobody declared is not judged by rules written for other tools.
* Loading reports every problem at once: unknown ``default_tier``, duplicate tier names, CEL errors
  by tier name, thresholds out of range, a fail-closed action that is not BLOCK or ESCALATE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import rfc8785
from pydantic import Field, StringConstraints, ValidationError

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Proposal, RiskContext
from alignment_flywheel.oracle.artifact import Spec, Unit, read_document, validation_problems
from alignment_flywheel.oracle.expressions import (
    ContextPlan,
    Expression,
    ExpressionError,
    compile_expression,
    evaluate_bool,
    make_context,
)
from alignment_flywheel.oracle.fastpath import compile_tool

TIER_VARIABLES = frozenset({"risk", "tool"})
MAX_CACHED_TIERS = 10_000
FailClosed = Literal["BLOCK", "ESCALATE"]


class TierSpec(Spec):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    when: str | None = None
    block_below: Unit
    escalate_uncertainty: Unit
    revise_budget: Annotated[int, Field(ge=0, le=100)] | None = None


class RiskPolicySpec(Spec):
    version: Annotated[str, StringConstraints(min_length=1)]
    description: str = ""
    default_tier: str
    revise_budget: Annotated[int, Field(ge=0, le=100)] = 2
    on_oracle_error: FailClosed = "BLOCK"
    on_oracle_timeout: FailClosed = "ESCALATE"
    on_revise_exhausted: Literal["ALLOW", "BLOCK", "ESCALATE"] = "ESCALATE"
    on_unknown_tool: Literal["REFUSE", "BLOCK", "ESCALATE"] = "REFUSE"
    oracle_timeout_ms: Annotated[float, Field(gt=0, le=600_000)] = 100.0
    tiers: Annotated[tuple[TierSpec, ...], Field(min_length=1)]


TierKey = tuple[str, str, float, str, str]
_NO_ARGUMENTS: dict[str, Any] = {}


def tier_key(proposal: Proposal) -> TierKey:
    """What a tier's choice depends on, as plain values (hashing the pydantic risk context is
    slow): the risk context's fields and the tool."""
    risk = proposal.risk
    return (
        risk.origin.value,
        risk.blast_radius.value,
        risk.proposer_confidence,
        risk.environment,
        proposal.tool,
    )


@dataclass(frozen=True, slots=True)
class Tier:
    spec: TierSpec
    expression: Expression | None
    revise_budget: int

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class TierChoice:
    tier: Tier
    note: str | None = None


class RiskPolicy:
    """A validated risk policy. Immutable apart from its tier cache; thread-safe."""

    def __init__(self, spec: RiskPolicySpec, tiers: tuple[Tier, ...]) -> None:
        self.spec = spec
        self.tiers = tiers
        self.digest = hashlib.sha256(rfc8785.dumps(spec.model_dump(mode="json"))).hexdigest()
        self._default = next(t for t in tiers if t.name == spec.default_tier)
        self._strictest = max(tiers, key=lambda t: t.spec.block_below)
        expressions = [t.expression for t in tiers if t.expression is not None]
        self._functions = ContextPlan.of(expressions).functions
        self._cache: dict[TierKey, TierChoice] = {}
        sources = ["true" if t.expression is None else t.expression.source for t in tiers]
        self._first = compile_tool(sources, {}, first=True).function
        self._choices = (*(TierChoice(t) for t in tiers), TierChoice(self._default))

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def timeout_s(self) -> float:
        return self.spec.oracle_timeout_ms / 1000.0

    def tier_for(self, proposal: Proposal) -> TierChoice:
        position: int = self._first(proposal, _NO_ARGUMENTS, None)
        if position >= 0:
            return self._choices[position]
        key = tier_key(proposal)
        choice = self._cache.get(key)
        if choice is None:
            choice = self._choose(proposal.risk, proposal.tool)
            if len(self._cache) >= MAX_CACHED_TIERS:
                self._cache.clear()
            self._cache[key] = choice
        return choice

    def _choose(self, risk: RiskContext, tool: str) -> TierChoice:
        variables = {"risk": risk.model_dump(mode="json"), "tool": tool}
        context = make_context(variables, self._functions)
        for tier in self.tiers:
            if tier.expression is None:
                return TierChoice(tier)
            try:
                if evaluate_bool(tier.expression.program, context):
                    return TierChoice(tier)
            except ExpressionError as exc:
                note = f"tier {tier.name} could not be evaluated ({exc}); strictest tier used"
                return TierChoice(self._strictest, note)
        return TierChoice(self._default)


def build_policy(document: Mapping[str, Any], source: str = "risk policy") -> RiskPolicy:
    """Validate and compile a risk policy; PolicyDocumentError lists every problem."""
    try:
        spec = RiskPolicySpec.model_validate(document)
    except ValidationError as exc:
        raise PolicyDocumentError(source, validation_problems(exc, document)) from None
    problems: list[str] = []
    names = [tier.name for tier in spec.tiers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    problems += [f"tier {name}: duplicate name" for name in duplicates]
    if spec.default_tier not in names:
        problems.append(f"default_tier: {spec.default_tier!r} is not one of {names}")
    tiers = []
    for tier in spec.tiers:
        expression = None
        if tier.when is not None:
            try:
                expression = _compile_tier(tier.when)
            except ValueError as exc:
                problems.append(f"tier {tier.name}: when: {exc}")
        budget = spec.revise_budget if tier.revise_budget is None else tier.revise_budget
        tiers.append(Tier(tier, expression, budget))
    if problems:
        raise PolicyDocumentError(source, problems)
    return RiskPolicy(spec, tuple(tiers))


def _compile_tier(source: str) -> Expression:
    expression = compile_expression(source)
    other = sorted(expression.variables - TIER_VARIABLES)
    if other:
        raise ValueError(f"a tier sees only risk and tool, not {', '.join(other)}")
    return expression


def load_policy(path: Path) -> RiskPolicy:
    """Read, validate and compile the risk policy at ``path``."""
    return build_policy(read_document(path), str(path))
