"""Refinement: the patch that fixes a cluster, proved on replayed history.

Given a cluster's members (proposals a person or the norms confirmed as failures), the red team's
variants of them, the base oracle and a history of past cases (proposals with the decision they
got and, where a human reviewed them, a label; with ``norms``, an unreviewed case the norms call a
violation is labelled unsafe), :func:`refine` returns a patch or, rarely, why there is none.

Rules:

* **Every confirmed failure is fixed.** The patch is the most general rule that passes the
  cluster's own regression; when none does, the narrowest rule that stops exactly the members
  (:func:`~.synthesis.exact_condition`). Only a contradiction stops it: a person labelled one of
  the very calls safe.
* **The cluster's own regression** (:func:`regression`): every member (and, for a general rule,
  every variant) is BLOCKed; the confirmed-benign history *of the cluster's tools* (cases allowed
  by the base oracle, not labelled unsafe) changes within ``fp_budget``; no case a person
  labelled safe is blocked. Cases labelled unsafe elsewhere (other clusters' incidents) are not
  this patch's business. The cluster's own members are never benign: a history case that is a
  member, or the same call (tool and arguments) as a member or variant, is left out.
* **What transfers first**: candidates (:func:`~.synthesis.shared_predicates`, over members and
  variants, then over the members alone, with their session contexts) are combined into
  conjunctions of 1 to ``max_terms`` predicates; those within the budget on the benign history (a
  bit set per candidate) are proved in order: most members held out first (leave-one-member-out
  validation, :mod:`.generalise`), then fewer terms, fewer false positives and more general kinds
  (where a value came from before literal values); at most ``max_proofs``; the first whose
  regression passes is the patch. Why it should generalise is on the patch: its rationale says how
  many members the rule learnt without them stops, its regression evidence how much of the benign
  history it changes.
* **A rule for the application**: a ``steered`` candidate (:mod:`.steered`) makes a rule for
  every tool of the members' application, so its budget is judged on the benign history of all
  those tools, and its regression too.
* **Broad kinds need evidence**: ``untrusted`` and ``novel`` match on where a value came from and
  on its being new, so they reach far beyond the members. They are candidates only when the
  cluster's tools have at least ``3 / fp_budget`` benign cases (the rule of three: with no false
  positive in that many, a rate above the budget is unlikely at 95 %); with less evidence a broad
  rule could pass a regression it never had the data to fail.
* **Sessions**: a case is decided, and a candidate evaluated, in the session context its proposal
  was made in (``LabelledCase.session``, ``Cluster.sessions``), so ``provenance`` means what it
  meant for the decision.
* The patch adds rule ``refined.<cluster>``, or replaces it when the base already has it (the
  cluster grew past its released rule). A cluster whose members the base already BLOCKs needs no
  patch.

A cluster that grows usually refines to the same change again: see :mod:`.changes`.
"""

from __future__ import annotations

import functools
import itertools
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from alignment_flywheel.enforcement import Enforcer, RiskPolicy
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import (
    Decision,
    Proposal,
    RegressionEvidence,
    VerificationOutcome,
)
from alignment_flywheel.governance.generalise import (
    Identity,
    catalog_json,
    held_out,
    held_out_table,
    matching_bits,
)
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.regression import (
    Cluster,
    LabelledCase,
    benign_cases,
    call_key,
    own_history,
    regression,
)
from alignment_flywheel.governance.synthesis import (
    KIND_ORDER,
    Predicate,
    conjunction,
    exact_condition,
    known_values,
    rule_document,
    shared_predicates,
    tools_glob,
)
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.oracle.catalog import ToolCatalog
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.replay.engine import Evaluator

MAX_PROOFS = 16
__all__ = [
    "Cluster",
    "LabelledCase",
    "NoPatch",
    "Refined",
    "benign_cases",
    "own_history",
    "refine",
    "regression",
]


@dataclass(frozen=True, slots=True)
class Refined:
    patch: Patch
    target: OracleArtifact
    evidence: RegressionEvidence
    predicates: tuple[Predicate, ...]
    exact: bool = False


@dataclass(frozen=True, slots=True)
class NoPatch:
    """Why there is no patch; ``covered`` when the base oracle already blocks every member."""

    reason: str
    covered: bool = False


def refine(
    cluster: Cluster,
    base: OracleArtifact,
    policy: RiskPolicy,
    history: Sequence[LabelledCase],
    *,
    fp_budget: float = 0.01,
    max_terms: int = 3,
    author: str = "refinement",
    norms: Norms | None = None,
    max_proofs: int = MAX_PROOFS,
) -> Refined | NoPatch:
    """The patch for the cluster (see the module rules), or why there is none."""
    if not cluster.members:
        return NoPatch("the cluster has no members")
    evaluator = Evaluator(Enforcer(RuleOracle(base), policy))
    stopped = evaluator.decisions(cluster.members, sessions=cluster.sessions)
    if all(decision is Decision.BLOCK for decision in stopped):
        reason = f"the oracle already blocks every member of cluster {cluster.name}"
        return NoPatch(reason, covered=True)
    if norms is not None:
        history = [_judged(case, norms) for case in history]
    prover = _Prover(cluster, base, policy, own_history(cluster, history), fp_budget, author)
    general = _most_general(prover, max_terms, max_proofs)
    if isinstance(general, Refined):
        return general
    exact = prover.prove_exact(general.reason)
    if isinstance(exact, Refined):
        return exact
    return NoPatch(f"{general.reason}; the exact rule failed too: {exact.reason}")


def _judged(case: LabelledCase, norms: Norms) -> LabelledCase:
    """A case the norms call a violation is not benign, even if the oracle allowed it."""
    if case.safe is None and norms.judge(case.proposal).outcome is VerificationOutcome.VIOLATION:
        return LabelledCase(case.proposal, case.decision, False)
    return case


def _most_general(prover: _Prover, max_terms: int, max_proofs: int) -> Refined | NoPatch:
    members = list(prover.cluster.members)
    sessions = prover.cluster.sessions
    pools = [members + list(prover.cluster.variants), members]
    reasons: list[str] = []
    benign = prover.benign
    broad = prover.fp_budget > 0 and len(benign) >= math.ceil(3 / prover.fp_budget)
    scope = tools_glob(sorted(prover.cluster.tools))
    known = known_values(scope, [c.proposal for c in benign]) if broad else None
    catalog = prover.catalog
    for pool in pools[: 2 if prover.cluster.variants else 1]:
        candidates = shared_predicates(pool, sessions, known, catalog=catalog, untrusted=broad)
        if not candidates:
            reasons.append("no candidate predicate is shared by every member")
            continue
        table = held_out_table(members, pool, sessions, known, catalog=catalog, untrusted=broad)
        fitting = _within_budget(prover, candidates, max_terms, table)
        combos = list(itertools.islice(fitting, max_proofs))
        if not combos:
            reasons.append(
                "no conjunction of shared predicates is within the false-positive budget"
            )
            continue
        failed = ""
        for combo in combos:
            result = prover.prove_general(combo, pool, held_out(combo, table))
            if isinstance(result, Refined):
                return result
            failed = result.reason
        reasons.append(f"no general rule passed its regression ({failed})")
    return NoPatch("; ".join(dict.fromkeys(reasons)))


def _within_budget(
    prover: _Prover,
    candidates: list[Predicate],
    max_terms: int,
    table: Mapping[Identity, frozenset[uuid.UUID]],
) -> Iterator[tuple[Predicate, ...]]:
    """Conjunctions within the budget on the benign history of the tools each one would rule,
    what transfers first."""
    tools = catalog_json(prover.catalog)
    scopes: dict[str | None, list[LabelledCase]] = {None: prover.benign}
    for wide in {p.tools for p in candidates if p.tools is not None}:
        scopes[wide] = prover.benign_of(wide)
    bits = {
        (p, scope): _bits(p, cases, tools)
        for scope, cases in scopes.items()
        for p in candidates
        if scope is None or p.tools == scope
    }
    for size in range(1, max_terms + 1):
        fitting = []
        for combo in itertools.combinations(candidates, size):
            scope = rule_tools(combo)
            cases = scopes[scope]
            matched = (1 << len(cases)) - 1
            for predicate in combo:
                matched &= bits[predicate, scope]
            false_positives = matched.bit_count()
            if false_positives <= int(prover.fp_budget * len(cases)):
                kinds = tuple(KIND_ORDER[p.kind] for p in combo)
                fitting.append((-held_out(combo, table), false_positives, kinds, combo))
        yield from (f[-1] for f in sorted(fitting, key=lambda f: f[:3]))


def _bits(predicate: Predicate, cases: list[LabelledCase], tools: str) -> int:
    return matching_bits(predicate, [(c.proposal, c.session) for c in cases], tools)


def rule_tools(predicates: Sequence[Predicate]) -> str | None:
    """The glob of a conjunction's rule when every predicate reaches the same tools beyond the
    members' (``*``); None for the members' own tools."""
    wide = {p.tools for p in predicates}
    return wide.pop() if len(wide) == 1 else None


@dataclass(frozen=True)
class _Prover:
    """Writes a rule for the cluster as a patch on the base and proves it."""

    cluster: Cluster
    base: OracleArtifact
    policy: RiskPolicy
    history: list[LabelledCase]
    fp_budget: float
    author: str

    @property
    def benign(self) -> list[LabelledCase]:
        return benign_cases(self.cluster, self.history)

    def benign_of(self, tools: str) -> list[LabelledCase]:
        return benign_cases(self.cluster, self.history, tools)

    @functools.cached_property
    def catalog(self) -> ToolCatalog:
        return ToolCatalog(self.base.spec.tools)

    def prove_general(
        self, predicates: tuple[Predicate, ...], pool: list[Proposal], held: int
    ) -> Refined | NoPatch:
        described = " and ".join(p.describe() for p in predicates)
        members = len(self.cluster.members)
        transfer = (
            f"; learnt without each member in turn, it stops {held} of the {members}"
            if members > 1
            else ""
        )
        data: list[dict[str, object]] = [
            {"op": "set_data", "set": n, "values": list(v)} for p in predicates for n, v in p.data
        ]
        result = self._prove(
            conjunction(predicates),
            pool,
            described,
            why="",
            transfer=transfer,
            data=data,
            tools=rule_tools(predicates),
        )
        if isinstance(result, Refined):
            return Refined(result.patch, result.target, result.evidence, predicates)
        return result

    def prove_exact(self, why: str) -> Refined | NoPatch:
        members = list(self.cluster.members)
        distinct = len({call_key(p) for p in members})
        described = f"exactly the {distinct} reported call(s)"
        result = self._prove(exact_condition(members), members, described, why=why)
        if isinstance(result, Refined):
            return Refined(result.patch, result.target, result.evidence, (), exact=True)
        return result

    def _prove(
        self,
        when: str,
        pool: list[Proposal],
        described: str,
        *,
        why: str,
        transfer: str = "",
        data: Sequence[dict[str, object]] = (),
        tools: str | None = None,
    ) -> Refined | NoPatch:
        cluster = self.cluster
        replacing = any(rule.spec.id == cluster.rule_id for rule in self.base.rules)
        rule = rule_document(
            cluster.rule_id,
            tools or tools_glob([p.tool for p in pool]),
            when,
            message=f"refined for cluster {cluster.name}: {described}",
            severity=cluster.severity.value,
            norms=cluster.norms,
        )
        operation = {"op": "replace_rule" if replacing else "add_rule", "rule": rule}
        rationale = f"blocks cluster {cluster.name} ({len(cluster.members)} members) by {described}"
        rationale += transfer
        if why:
            rationale += f"; no general rule qualified: {why}"
        try:
            patch, target = propose_patch(
                self.base,
                parse_operations([*data, operation]),
                author=self.author,
                rationale=rationale,
            )
        except FlywheelError as exc:
            return NoPatch(f"the rule does not compile: {exc}")
        enforcer = Enforcer(RuleOracle(target), self.policy)
        evidence = regression(
            cluster, enforcer, self.history, self.fp_budget, must_block=pool, tools=tools
        )
        if not evidence.passed:
            return NoPatch(f"regression failed: {evidence.report}")
        return Refined(patch.model_copy(update={"regression": evidence}), target, evidence, ())
