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
* **Most general first**: candidates (:func:`~.synthesis.shared_predicates`, over members and
  variants, then over the members alone) are combined into conjunctions of 1 to ``max_terms``
  predicates; those within the budget on the benign history (a bit set per candidate) are proved
  in order (fewer terms, fewer false positives, more general kinds first), at most
  ``max_proofs``; the first whose regression passes is the patch.
* The patch adds rule ``refined.<cluster>``, or replaces it when the base already has it (the
  cluster grew past its released rule). A cluster whose members the base already BLOCKs needs no
  patch.

A cluster that grows usually refines to the same change again. :class:`ProposedChanges` remembers
which patch first proposed each change (its base and target digests), so the processor proposes
a change once, however often its cluster is updated, and reviewers see one patch per change.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from alignment_flywheel.enforcement import Enforcer, RiskPolicy
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import (
    Decision,
    PatchProposed,
    Proposal,
    RegressionEvidence,
    Severity,
    VerificationOutcome,
)
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.synthesis import (
    KIND_ORDER,
    Predicate,
    conjunction,
    exact_condition,
    rule_document,
    shared_predicates,
    tools_glob,
)
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.oracle.expressions import (
    ContextPlan,
    ExpressionError,
    compile_expression,
    evaluate_bool,
    proposal_context,
)
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.replay.engine import Case as ReplayCase
from alignment_flywheel.replay.engine import Evaluator, replay_diff

Change = tuple[str, str]
"""A patch's effect: (base digest, target digest)."""
MAX_PROOFS = 16


@dataclass(frozen=True, slots=True)
class Case:
    """A past proposal, the decision it got, and a human label if reviewed (True: safe)."""

    proposal: Proposal
    decision: Decision
    safe: bool | None = None


@dataclass(frozen=True, slots=True)
class Refined:
    patch: Patch
    target: OracleArtifact
    evidence: RegressionEvidence
    predicates: tuple[Predicate, ...]
    exact: bool = False


@dataclass(frozen=True, slots=True)
class NoPatch:
    reason: str


@dataclass(frozen=True, slots=True)
class Cluster:
    """What refinement needs of a cluster."""

    name: str
    members: Sequence[Proposal]
    variants: Sequence[Proposal] = ()
    severity: Severity = Severity.HIGH
    norms: Sequence[str] = ()

    @property
    def rule_id(self) -> str:
        return f"refined.{self.name}"

    @property
    def tools(self) -> frozenset[str]:
        return frozenset(p.tool for p in self.members)


class ProposedChanges:
    """The patch that first proposed each change, from the patches topic and from this worker.

    A change is a base digest and a target digest: two patches with both equal make the same
    oracle from the same one. A patch is a duplicate when another patch id proposed its change
    first; proposing the same patch id again (a re-delivered cluster update) is not.
    """

    def __init__(self) -> None:
        self._first: dict[Change, uuid.UUID] = {}

    def note(self, event: PatchProposed) -> None:
        self._first.setdefault((event.base_digest, event.target_digest), event.patch_id)

    def duplicate_of(self, patch_id: uuid.UUID, patch: Patch) -> uuid.UUID | None:
        """The earlier patch that already proposes ``patch``'s change, if another one does."""
        first = self._first.get((patch.base_digest, patch.target_digest))
        return None if first is None or first == patch_id else first

    def __len__(self) -> int:
        return len(self._first)


def refine(
    cluster: Cluster,
    base: OracleArtifact,
    policy: RiskPolicy,
    history: Sequence[Case],
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
    stopped = Evaluator(Enforcer(RuleOracle(base), policy)).decisions(cluster.members)
    if all(decision is Decision.BLOCK for decision in stopped):
        return NoPatch(f"the oracle already blocks every member of cluster {cluster.name}")
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


def own_history(cluster: Cluster, history: Sequence[Case]) -> list[Case]:
    """The history without the cluster's own calls: members and the same calls again."""
    ids = {p.proposal_id for p in cluster.members}
    calls = {_call(p) for p in (*cluster.members, *cluster.variants)}
    return [
        c for c in history if c.proposal.proposal_id not in ids and _call(c.proposal) not in calls
    ]


def _call(proposal: Proposal) -> tuple[str, str]:
    return proposal.tool, json.dumps(proposal.arguments_object(), sort_keys=True)


def _judged(case: Case, norms: Norms) -> Case:
    """A case the norms call a violation is not benign, even if the oracle allowed it."""
    if case.safe is None and norms.judge(case.proposal).outcome is VerificationOutcome.VIOLATION:
        return Case(case.proposal, case.decision, False)
    return case


def benign_cases(cluster: Cluster, history: Sequence[Case]) -> list[Case]:
    """The confirmed-benign history a patch for ``cluster`` is judged on: its tools' cases."""
    return [
        c
        for c in history
        if c.decision is Decision.ALLOW and c.safe is not False and c.proposal.tool in cluster.tools
    ]


def _most_general(prover: _Prover, max_terms: int, max_proofs: int) -> Refined | NoPatch:
    members = list(prover.cluster.members)
    pools = [members + list(prover.cluster.variants), members]
    reasons: list[str] = []
    for pool in pools[: 2 if prover.cluster.variants else 1]:
        candidates = shared_predicates(pool)
        if not candidates:
            reasons.append("no candidate predicate is shared by every member")
            continue
        combos = list(itertools.islice(_within_budget(prover, candidates, max_terms), max_proofs))
        if not combos:
            reasons.append(
                "no conjunction of shared predicates is within the false-positive budget"
            )
            continue
        failed = ""
        for combo in combos:
            result = prover.prove_general(combo, pool)
            if isinstance(result, Refined):
                return result
            failed = result.reason
        reasons.append(f"no general rule passed its regression ({failed})")
    return NoPatch("; ".join(dict.fromkeys(reasons)))


def _within_budget(
    prover: _Prover, candidates: list[Predicate], max_terms: int
) -> Iterator[tuple[Predicate, ...]]:
    """Conjunctions within the budget on the benign history, most general first."""
    benign = [c.proposal for c in prover.benign]
    bits = {p: _bits(p, benign) for p in candidates}
    allowed = int(prover.fp_budget * len(benign))
    everyone = (1 << len(benign)) - 1
    for size in range(1, max_terms + 1):
        fitting = []
        for combo in itertools.combinations(candidates, size):
            matched = everyone
            for predicate in combo:
                matched &= bits[predicate]
            false_positives = matched.bit_count()
            if false_positives <= allowed:
                kinds = tuple(KIND_ORDER[p.kind] for p in combo)
                fitting.append((false_positives, kinds, combo))
        yield from (combo for *_, combo in sorted(fitting, key=lambda f: (f[0], f[1])))


def _bits(predicate: Predicate, proposals: list[Proposal]) -> int:
    expression = compile_expression(predicate.expression)
    plan = ContextPlan.of([expression])
    value = 0
    for position, proposal in enumerate(proposals):
        try:
            context = proposal_context(proposal, proposal.arguments_object(), plan)
            if evaluate_bool(expression.program, context):
                value |= 1 << position
        except ExpressionError:
            continue
    return value


@dataclass(frozen=True)
class _Prover:
    """Writes a rule for the cluster as a patch on the base and proves it."""

    cluster: Cluster
    base: OracleArtifact
    policy: RiskPolicy
    history: list[Case]
    fp_budget: float
    author: str

    @property
    def benign(self) -> list[Case]:
        return benign_cases(self.cluster, self.history)

    def prove_general(
        self, predicates: tuple[Predicate, ...], pool: list[Proposal]
    ) -> Refined | NoPatch:
        described = " and ".join(p.describe() for p in predicates)
        result = self._prove(conjunction(predicates), pool, described, why="")
        if isinstance(result, Refined):
            return Refined(result.patch, result.target, result.evidence, predicates)
        return result

    def prove_exact(self, why: str) -> Refined | NoPatch:
        members = list(self.cluster.members)
        distinct = len({_call(p) for p in members})
        described = f"exactly the {distinct} reported call(s)"
        result = self._prove(exact_condition(members), members, described, why=why)
        if isinstance(result, Refined):
            return Refined(result.patch, result.target, result.evidence, (), exact=True)
        return result

    def _prove(
        self, when: str, pool: list[Proposal], described: str, why: str
    ) -> Refined | NoPatch:
        cluster = self.cluster
        replacing = any(rule.spec.id == cluster.rule_id for rule in self.base.rules)
        rule = rule_document(
            cluster.rule_id,
            tools_glob([p.tool for p in pool]),
            when,
            message=f"refined for cluster {cluster.name}: {described}",
            severity=cluster.severity.value,
            norms=cluster.norms,
        )
        operation = {"op": "replace_rule" if replacing else "add_rule", "rule": rule}
        rationale = f"blocks cluster {cluster.name} ({len(cluster.members)} members) by {described}"
        if why:
            rationale += f"; no general rule qualified: {why}"
        try:
            patch, target = propose_patch(
                self.base, parse_operations([operation]), author=self.author, rationale=rationale
            )
        except FlywheelError as exc:
            return NoPatch(f"the rule does not compile: {exc}")
        enforcer = Enforcer(RuleOracle(target), self.policy)
        evidence = regression(cluster, enforcer, self.history, self.fp_budget, must_block=pool)
        if not evidence.passed:
            return NoPatch(f"regression failed: {evidence.report}")
        return Refined(patch.model_copy(update={"regression": evidence}), target, evidence, ())


def regression(
    cluster: Cluster,
    enforcer: Enforcer,
    history: Sequence[Case],
    fp_budget: float,
    *,
    must_block: Sequence[Proposal] | None = None,
) -> RegressionEvidence:
    """The cluster's own regression (module rules), replayed with ``enforcer`` (the patched
    oracle) through the replay engine: each distinct proposal is decided once; the benign history
    of the cluster's tools is diffed against its recorded ALLOW."""
    evaluator = Evaluator(enforcer)
    own = own_history(cluster, history)
    blocking = list(cluster.members) + list(cluster.variants) if must_block is None else must_block
    blocked = sum(d is Decision.BLOCK for d in evaluator.decisions(blocking))
    benign = benign_cases(cluster, own)
    diff = replay_diff((ReplayCase(c.proposal, Decision.ALLOW) for c in benign), evaluator)
    false_positives = diff.tally.changed + len(diff.refused)
    labelled = [c for c in own if c.safe is True]
    decisions = evaluator.decisions(c.proposal for c in labelled)
    kept = sum(d is not None and d is not Decision.BLOCK for d in decisions)
    fp_rate = false_positives / len(benign) if benign else 0.0
    passed = blocked == len(blocking) and fp_rate <= fp_budget and kept == len(labelled)
    report = (
        f"{blocked}/{len(blocking)} members and variants blocked; "
        f"{false_positives}/{len(benign)} benign cases of its tools changed "
        f"(budget {fp_budget:.2%}); {kept}/{len(labelled)} calls labelled safe kept"
    )
    return RegressionEvidence(
        cases=len(blocking) + len(benign) + len(labelled),
        expected_blocked=len(blocking),
        blocked=blocked,
        benign=len(benign),
        false_positives=false_positives,
        false_positive_rate=fp_rate,
        labelled=len(labelled),
        labels_kept=kept,
        passed=passed,
        report=report,
    )
