"""Norms: the human-written specification of what is a violation, kept apart from the oracle.

The oracle is what the system enforces and patches change; the norms are what people decided and
only people change. Verification judges findings against the norms, and refinement proves its
patches on them. A norms document (``policies/norms.yaml`` by default)::

    version: "2026.11-1"
    norms:
      - id: N-OPS-1
        title: No recursive delete outside a scratch directory
        severity: CRITICAL
        tools: ["shell.*"]
        violation: 'args.cmd.matches("rm\\s+-[a-zA-Z]*[rR]") && !args.cmd.contains("/tmp/")'
        examples:
          - {arguments: {cmd: "rm -rf /srv"}, violation: true}
          - {arguments: {cmd: "rm -rf /tmp/x"}, violation: false}

Rules:

* ``violation`` is a CEL predicate with the oracle's variables and functions
  (:mod:`alignment_flywheel.oracle.expressions`).
* Judging a proposal: every norm whose ``tools`` globs match is evaluated. Any that holds gives
  VIOLATION (all such norm ids, the highest severity). Otherwise, if a norm failed on the input
  or no norm covers the tool, INCONCLUSIVE (a human decides); otherwise NO_VIOLATION.
* A document may hold no norm (``norms: []``): then no norm covers any tool and every finding is
  INCONCLUSIVE, i.e. every finding goes to a person.
* Loading validates every norm and reports every problem (CEL errors by norm id, duplicates), then
  checks every labelled example against its norm: a norm that misjudges its own examples is
  refused. The examples are the norms' own conformance suite.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import StringConstraints, ValidationError

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Proposal, RiskContext, Severity, VerificationOutcome
from alignment_flywheel.oracle.artifact import RULE_ID, Spec, read_document, validation_problems
from alignment_flywheel.oracle.catalog import ToolGlob, tool_matcher
from alignment_flywheel.oracle.expressions import (
    ContextPlan,
    Expression,
    ExpressionError,
    compile_expression,
    evaluate_bool,
    proposal_context,
)
from alignment_flywheel.resources import POLICIES_DIR

DEFAULT_NORMS = POLICIES_DIR / "norms.yaml"
SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class NormExample(Spec):
    tool: str | None = None
    arguments: dict[str, Any]
    violation: bool


class NormSpec(Spec):
    id: Annotated[str, StringConstraints(pattern=RULE_ID)]
    title: Annotated[str, StringConstraints(min_length=1)]
    severity: Severity
    tools: tuple[ToolGlob, ...] = ("*",)
    violation: str
    examples: tuple[NormExample, ...] = ()


class NormsSpec(Spec):
    version: Annotated[str, StringConstraints(min_length=1)]
    norms: tuple[NormSpec, ...]


@dataclass(frozen=True, slots=True)
class Norm:
    spec: NormSpec
    expression: Expression
    matcher: Any

    def covers(self, tool: str) -> bool:
        return self.matcher.match(tool) is not None


@dataclass(frozen=True, slots=True)
class NormJudgement:
    """What the norms say of one proposal."""

    outcome: VerificationOutcome
    norm_ids: tuple[str, ...]
    severity: Severity
    rationale: str


class Norms:
    """A validated norms document. Immutable; thread-safe."""

    def __init__(self, spec: NormsSpec, norms: tuple[Norm, ...]) -> None:
        self.spec = spec
        self.norms = norms

    @property
    def version(self) -> str:
        return self.spec.version

    def judge(self, proposal: Proposal) -> NormJudgement:
        covering = [norm for norm in self.norms if norm.covers(proposal.tool)]
        if not covering:
            return NormJudgement(
                VerificationOutcome.INCONCLUSIVE,
                (),
                Severity.LOW,
                f"no norm covers the tool {proposal.tool}",
            )
        plan = ContextPlan.of(norm.expression for norm in covering)
        context = proposal_context(proposal, proposal.arguments_object(), plan)
        violated, failed = [], []
        for norm in covering:
            try:
                if evaluate_bool(norm.expression.program, context):
                    violated.append(norm)
            except ExpressionError as exc:
                failed.append(f"{norm.spec.id}: {exc}")
        return _judgement(violated, failed, len(covering))


def _judgement(violated: list[Norm], failed: list[str], covering: int) -> NormJudgement:
    if violated:
        severity = max((n.spec.severity for n in violated), key=SEVERITY_ORDER.index)
        titles = "; ".join(f"{n.spec.id}: {n.spec.title}" for n in violated)
        ids = tuple(n.spec.id for n in violated)
        return NormJudgement(VerificationOutcome.VIOLATION, ids, severity, f"violates {titles}")
    if failed:
        why = "norms could not be evaluated: " + "; ".join(failed)
        return NormJudgement(VerificationOutcome.INCONCLUSIVE, (), Severity.LOW, why)
    why = f"none of the {covering} norms covering the tool is violated"
    return NormJudgement(VerificationOutcome.NO_VIOLATION, (), Severity.LOW, why)


def build_norms(document: Mapping[str, Any], source: str = "norms") -> Norms:
    """Validate, compile and self-check a norms document; PolicyDocumentError lists problems."""
    try:
        spec = NormsSpec.model_validate(document)
    except ValidationError as exc:
        raise PolicyDocumentError(source, validation_problems(exc, document)) from None
    problems: list[str] = []
    ids = [n.id for n in spec.norms]
    problems += [f"norm {i}: duplicate id" for i in sorted({i for i in ids if ids.count(i) > 1})]
    compiled = []
    for norm in spec.norms:
        try:
            compiled.append(
                Norm(norm, compile_expression(norm.violation), tool_matcher(norm.tools))
            )
        except ValueError as exc:
            problems.append(f"norm {norm.id}: violation: {exc}")
    if problems:
        raise PolicyDocumentError(source, problems)
    norms = Norms(spec, tuple(compiled))
    problems = [p for norm in norms.norms for p in _example_problems(norms, norm)]
    if problems:
        raise PolicyDocumentError(source, problems)
    return norms


def _example_problems(norms: Norms, norm: Norm) -> list[str]:
    problems = []
    for position, example in enumerate(norm.spec.examples, start=1):
        tool = example.tool or _example_tool(norm.spec.tools)
        judgement = norms.judge(example_proposal(tool, example.arguments))
        holds = norm.spec.id in judgement.norm_ids
        if holds != example.violation:
            expected = "a violation" if example.violation else "no violation"
            problems.append(f"norm {norm.spec.id}: example {position} should be {expected}")
    return problems


def _example_tool(patterns: tuple[str, ...]) -> str:
    return patterns[0].replace("*", "x").replace("?", "x")


def example_proposal(tool: str, arguments: Mapping[str, Any]) -> Proposal:
    """A proposal for checking an example (the risk context does not matter to norms)."""
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="norms",
        session_id="examples",
        tool=tool,
        arguments=json.dumps(dict(arguments)),
        risk=RiskContext(proposer_confidence=1.0, environment="norms"),
    )


def load_norms(path: Path = DEFAULT_NORMS) -> Norms:
    return build_norms(read_document(path), str(path))
