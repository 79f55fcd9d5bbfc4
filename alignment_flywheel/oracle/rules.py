"""The built-in oracle: rules as data, compiled once, indexed by tool.

Signal of one proposal (the combination rule, documented for users writing rules):

* Only rules whose ``tools`` globs match the proposal's tool are evaluated, in document order.
* ``safety_score`` = the minimum of ``thresholds.base_score`` and the scores of matching rules
  (the most dangerous match decides).
* ``uncertainty`` = noisy-or of ``thresholds.base_uncertainty``, the ``uncertainty`` of each
  matching rule and ``thresholds.rule_error_uncertainty`` for each rule that failed:
  ``1 - prod(1 - u_i)``. It only grows as evidence accumulates.
* Evidence: one ``RULE_MATCH`` per matching rule (its id, norms, review flag and amendment; the
  message starts with the rule's severity) and one ``RULE_ERROR`` per rule that failed on the input
  (missing key, index out of range, type error, overflow, non-bool result), with CEL's
  message. A failing rule is never a silent
  non-match: it raises the uncertainty and the risk policy sees it.
* With a tool catalog in the artifact, a tool outside it raises
  :class:`~alignment_flywheel.oracle.contract.UnknownToolError` (bad input, refused at the edge).
* The artifact variables a tool's rules read (``data``, ``effect``, ``roles``) are computed once
  per tool and converted into CEL once per tool and thread: each thread keeps, per tool, a
  context holding them that proposals never change (:class:`ReusedContext`).
* ``evaluate(proposal, session)``: rules that reference ``provenance`` see the provenance of the
  arguments in that session context (:mod:`alignment_flywheel.oracle.provenance`), an empty map
  without one; it is computed only when one of the tool's rules references it.
* The fast path (:mod:`alignment_flywheel.oracle.fastpath`, the default): each tool's rules run as
  one compiled Python function giving CEL's results; a rule it does not translate, or an input it
  is not sure of, is evaluated by the CEL engine as above, and an error is always CEL's. The signal
  of a set of matching rules is built once per tool and reused. ``RuleOracle(artifact, fast=False)``
  evaluates every rule on the CEL engine.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

from alignment_flywheel.events import EvidenceKind, Proposal
from alignment_flywheel.oracle.artifact import CompiledRule, OracleArtifact, TierOverride
from alignment_flywheel.oracle.catalog import tool_matcher
from alignment_flywheel.oracle.contract import OracleSignal, Signal, UnknownToolError
from alignment_flywheel.oracle.expressions import (
    ContextPlan,
    Expression,
    ExpressionError,
    evaluate_bool,
    make_context,
    proposal_variables,
)
from alignment_flywheel.oracle.fastpath import CompiledTool, compile_tool, plain_arguments
from alignment_flywheel.oracle.provenance import SessionContext

GLOB_CHARS = frozenset("*?[")
MAX_CACHED_TOOLS = 50_000
MAX_CACHED_SIGNALS = 4096


@dataclass(frozen=True, slots=True)
class ToolRules:
    """The rules that apply to one tool and what their contexts must hold."""

    rules: tuple[CompiledRule, ...]
    plan: ContextPlan
    """The context of the rules that read only the proposal."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """Artifact variables the other rules read: the same for every proposal."""
    fixed_plan: ContextPlan | None = None
    """The context of the rules that read artifact variables; None when none does."""
    plain: bool = True
    """Whether any rule reads only the proposal."""
    compiled: CompiledTool | None = None
    """The rules as one function (the fast path); None on the CEL engine alone."""
    signals: dict[tuple[int, ...], OracleSignal] = field(default_factory=dict, compare=False)
    """The signal of each set of matching rules seen, built once."""
    local: threading.local = field(default_factory=threading.local, compare=False)

    def contexts(
        self, proposal: Proposal, session: SessionContext | None = None
    ) -> tuple[cel.Context, cel.Context]:
        """The contexts of this proposal: for the rules that read only the proposal, and for those
        that read artifact variables (this thread's :class:`ReusedContext`)."""
        arguments = proposal.arguments_object()
        if self.fixed_plan is None:
            context = self._plain(proposal, arguments, session)
            return context, context
        reused: ReusedContext | None = getattr(self.local, "reused", None)
        if reused is None:
            reused = self.local.reused = ReusedContext(self.fixed, self.fixed_plan.functions)
        reused.variables = proposal_variables(proposal, arguments, self.fixed_plan, session)
        plain = self._plain(proposal, arguments, session) if self.plain else reused.context
        return plain, reused.context

    def _plain(
        self, proposal: Proposal, arguments: Mapping[str, Any], session: SessionContext | None
    ) -> cel.Context:
        variables = proposal_variables(proposal, arguments, self.plan, session)
        return make_context(variables, self.plan.functions)


class ReusedContext:
    """A context whose artifact variables are converted into CEL once, then never changed.

    The binding converts a context's variables again on the first evaluation after any change to
    them, so the proposal's variables are not set in it: a resolver hands them over, converted at
    each reference, and names it does not know fall through to the artifact variables.
    """

    def __init__(
        self, fixed: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        self.variables: Mapping[str, Any] = {}
        self.context = make_context(fixed, functions)
        self.context.set_variable_resolver(self._resolve)

    def _resolve(self, name: str) -> Any:
        return self.variables.get(name)


ArtifactVariables = Callable[[str, tuple[CompiledRule, ...]], Mapping[str, Any]]


class RuleIndex:
    """Which rules apply to a tool: exact names by dict, globs by regex, results cached."""

    def __init__(
        self,
        rules: tuple[CompiledRule, ...],
        variables: ArtifactVariables | None = None,
        *,
        fast: bool = True,
    ) -> None:
        self._variables = variables
        self._fast = fast
        self._exact: dict[str, list[tuple[int, CompiledRule]]] = defaultdict(list)
        self._globbed: list[tuple[int, CompiledRule]] = []
        for position, rule in enumerate(rules):
            patterns = rule.spec.tools
            if any(GLOB_CHARS & set(p) for p in patterns):
                self._globbed.append((position, rule))
            else:
                for name in set(patterns):
                    self._exact[name].append((position, rule))
        self._matchers = {id(rule): tool_matcher(rule.spec.tools) for _, rule in self._globbed}
        self.cached: dict[str, ToolRules] = {}
        """The tools resolved so far (read by the oracle's hot path before calling rules_for)."""

    def rules_for(self, tool: str) -> ToolRules:
        cached = self.cached.get(tool)
        if cached is None:
            cached = self._resolve(tool)
            if len(self.cached) >= MAX_CACHED_TOOLS:
                self.cached.clear()
            self.cached[tool] = cached
        return cached

    def _resolve(self, tool: str) -> ToolRules:
        found = list(self._exact.get(tool, ()))
        found += [(p, r) for p, r in self._globbed if self._matchers[id(r)].match(tool)]
        rules = tuple(rule for _, rule in sorted(found, key=lambda item: item[0]))
        readers = tuple(rule for rule in rules if rule.reads_artifact)
        plain = ContextPlan.of(rule.expression for rule in rules if not rule.reads_artifact)
        if not readers:
            return ToolRules(rules, plain, compiled=self._compile(rules, {}))
        fixed = {} if self._variables is None else self._variables(tool, readers)
        readers_plan = ContextPlan.of(rule.expression for rule in readers)
        compiled = self._compile(rules, fixed)
        return ToolRules(rules, plain, fixed, readers_plan, len(readers) < len(rules), compiled)

    def _compile(
        self, rules: tuple[CompiledRule, ...], fixed: Mapping[str, Any]
    ) -> CompiledTool | None:
        if not self._fast or not rules:
            return None
        expressions: list[Expression] = [rule.expression for rule in rules]
        keys = ContextPlan.of(expressions).provenance_fields
        return compile_tool([e.source for e in expressions], fixed, keys)


class RuleOracle:
    """An :class:`~alignment_flywheel.oracle.contract.Oracle` over one artifact. Thread-safe."""

    def __init__(self, artifact: OracleArtifact, *, fast: bool = True) -> None:
        self.artifact = artifact
        self.fast = fast
        self._index = RuleIndex(artifact.rules, artifact.variables_for, fast=fast)
        self._tools = self._index.cached
        self._catalog = artifact.catalog.matcher
        thresholds = artifact.spec.thresholds
        self._base_score = thresholds.base_score
        self._base_keep = 1.0 - thresholds.base_uncertainty
        self._error_keep = 1.0 - thresholds.rule_error_uncertainty
        self._quiet = OracleSignal(
            thresholds.base_score, thresholds.base_uncertainty, (), self.version, self.digest
        )

    @property
    def version(self) -> int:
        return self.artifact.version

    @property
    def tier_overrides(self) -> Mapping[str, TierOverride]:
        """Thresholds the artifact sets over the risk policy's tiers (patched like rules)."""
        return self.artifact.spec.tiers

    @property
    def digest(self) -> str:
        return self.artifact.digest

    def rules_for(self, tool: str) -> tuple[CompiledRule, ...]:
        return self._index.rules_for(tool).rules

    def tool_rules(self, tool: str) -> ToolRules:
        """The rules of ``tool``, their contexts' plans and their compiled function."""
        return self._index.rules_for(tool)

    def evaluate(self, proposal: Proposal, session: SessionContext | None = None) -> OracleSignal:
        tool = proposal.tool
        if self._catalog is not None and self._catalog.match(tool) is None:
            raise UnknownToolError(tool)
        applicable = self._tools.get(tool) or self._index.rules_for(tool)
        if not applicable.rules:
            return self._quiet
        compiled = applicable.compiled
        arguments = None if compiled is None else plain_arguments(proposal.arguments)
        if compiled is None or arguments is None:
            hits = [~position for position in range(len(applicable.rules))]
        else:
            hits = compiled.function(proposal, arguments, session)
            if not hits:
                return self._quiet
            if min(hits) >= 0:
                return self._known(applicable, tuple(hits))
        return self._signal(applicable, self._outcomes(applicable, hits, proposal, session))

    def _known(self, applicable: ToolRules, hits: tuple[int, ...]) -> OracleSignal:
        """The signal of these matching rules (every hit a match), built once per tool."""
        signal = applicable.signals.get(hits)
        if signal is None:
            signal = self._signal(applicable, [(p, None) for p in hits])
            if len(applicable.signals) >= MAX_CACHED_SIGNALS:
                applicable.signals.clear()
            applicable.signals[hits] = signal
        return signal

    def _outcomes(
        self,
        applicable: ToolRules,
        hits: list[int],
        proposal: Proposal,
        session: SessionContext | None,
    ) -> list[tuple[int, str | None]]:
        """Each hit as (position, None) for a match or (position, CEL's error): the positions
        ``~p`` are decided by the CEL engine here."""
        contexts: tuple[cel.Context, cel.Context] | None = None
        outcomes: list[tuple[int, str | None]] = []
        for hit in hits:
            if hit >= 0:
                outcomes.append((hit, None))
                continue
            rule = applicable.rules[~hit]
            if contexts is None:
                contexts = applicable.contexts(proposal, session)
            try:
                if evaluate_bool(rule.expression.program, contexts[rule.reads_artifact]):
                    outcomes.append((~hit, None))
            except ExpressionError as exc:
                outcomes.append((~hit, str(exc)))
        return outcomes

    def _signal(
        self, applicable: ToolRules, outcomes: list[tuple[int, str | None]]
    ) -> OracleSignal:
        score, keep = self._base_score, self._base_keep
        evidence: list[Signal] = []
        for position, error in outcomes:
            rule = applicable.rules[position]
            spec = rule.spec
            if error is not None:
                keep *= self._error_keep
                message = f"rule failed on this input: {error}"
                evidence.append(Signal(EvidenceKind.RULE_ERROR, message, spec.id, spec.norms))
                continue
            score = min(score, spec.score)
            keep *= 1.0 - spec.uncertainty
            evidence.append(_match(rule))
        if not evidence:
            return self._quiet
        uncertainty = round(1.0 - keep, 12)
        return OracleSignal(score, uncertainty, tuple(evidence), self.version, self.digest)


def _match(rule: CompiledRule) -> Signal:
    spec = rule.spec
    return Signal(
        EvidenceKind.RULE_MATCH,
        f"{spec.severity.value}: {spec.message}",
        spec.id,
        spec.norms,
        spec.review,
        rule.amendment,
    )
