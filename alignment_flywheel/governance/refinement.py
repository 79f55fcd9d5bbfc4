"""Refinement: the smallest patch that fixes a cluster, proved on replayed history.

Given a cluster's members (proposals the norms call violations that the oracle let through), the
red team's variants of them, the base oracle and a history of past cases (proposals with the
decision they got and, where a human reviewed them, a label; with ``norms``, an unreviewed case
the norms call a violation is labelled unsafe, so the unsafe traffic the oracle let through
before the patch does not count as benign), :func:`refine`:

1. collects candidate predicates that every member satisfies (:mod:`.synthesis`; over members and
   variants together first, over the members alone if that finds nothing);
2. evaluates every candidate once on every case (a bit set per candidate) and picks the smallest
   conjunction (1 to ``max_terms`` predicates, more general kinds first) whose false positives on
   the benign history (cases allowed by the base oracle and not labelled unsafe) stay within
   ``fp_budget``: a rule over what the cluster shares, not a list of the calls seen;
3. writes it as one ``add_rule`` patch on the base and replays the regression suite with the
   patched oracle through the replay engine (:mod:`alignment_flywheel.replay.engine`, the
   enforcer behind it): every member and variant must be BLOCKed, the benign
   history must stay allowed within the budget, and every labelled case must keep its label
   (a case labelled safe is not blocked, one labelled unsafe is not allowed);
4. returns the patch with its :class:`RegressionEvidence`, or :class:`NoPatch` saying why none
   qualifies (no shared predicate, every candidate over budget, the regression failed).

A cluster that grows usually refines to the same change again. :class:`ProposedChanges` remembers
which patch first proposed each change (its base and target digests), so the processor proposes
a change once, however often its cluster is updated, and reviewers see one patch per change.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from alignment_flywheel.enforcement import Enforcer, RiskPolicy
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
    Predicate,
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

KIND_ORDER = {"word": 0, "flag": 1, "host": 2, "prefix": 3, "number": 4}
Change = tuple[str, str]
"""A patch's effect: (base digest, target digest)."""


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
) -> Refined | NoPatch:
    """The smallest qualifying patch for the cluster, or why there is none."""
    if not cluster.members:
        return NoPatch("the cluster has no members")
    if any(rule.spec.id == f"refined.{cluster.name}" for rule in base.rules):
        return NoPatch(f"the oracle already has rule refined.{cluster.name}")
    if norms is not None:
        history = [_judged(case, norms) for case in history]
    benign = [c for c in history if c.decision is Decision.ALLOW and c.safe is not False]
    for pool in (list(cluster.members) + list(cluster.variants), list(cluster.members)):
        candidates = sorted(shared_predicates(pool), key=lambda p: KIND_ORDER[p.kind])
        if not candidates:
            continue
        chosen = _smallest(candidates, pool, benign, fp_budget, max_terms)
        if chosen is not None:
            return _prove(
                cluster, chosen, pool=pool, base=base, policy=policy, history=history,
                fp_budget=fp_budget, author=author,
            )  # fmt: skip
    return NoPatch("no conjunction of shared predicates stays within the false-positive budget")


def _judged(case: Case, norms: Norms) -> Case:
    """A case the norms call a violation is not benign, even if the oracle allowed it."""
    if case.safe is None and norms.judge(case.proposal).outcome is VerificationOutcome.VIOLATION:
        return Case(case.proposal, case.decision, False)
    return case


def _smallest(
    candidates: list[Predicate],
    pool: list[Proposal],
    benign: list[Case],
    fp_budget: float,
    max_terms: int,
) -> tuple[Predicate, ...] | None:
    bits = {p: _bits(p, [c.proposal for c in benign]) for p in candidates}
    allowed = int(fp_budget * len(benign))
    for size in range(1, max_terms + 1):
        best: tuple[int, tuple[Predicate, ...]] | None = None
        for combo in itertools.combinations(candidates, size):
            matched = (1 << len(benign)) - 1
            for predicate in combo:
                matched &= bits[predicate]
            false_positives = matched.bit_count()
            if false_positives <= allowed and (best is None or false_positives < best[0]):
                best = (false_positives, combo)
        if best is not None:
            return best[1]
    return None


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


def _prove(
    cluster: Cluster,
    predicates: tuple[Predicate, ...],
    *,
    pool: list[Proposal],
    base: OracleArtifact,
    policy: RiskPolicy,
    history: Sequence[Case],
    fp_budget: float,
    author: str,
) -> Refined | NoPatch:
    rule = rule_document(
        f"refined.{cluster.name}",
        tools_glob([p.tool for p in pool]),
        predicates,
        message=f"refined for cluster {cluster.name}: "
        + ", ".join(p.describe() for p in predicates),
        severity=cluster.severity.value,
        norms=cluster.norms,
    )
    operations = parse_operations([{"op": "add_rule", "rule": rule}])
    rationale = (
        f"blocks cluster {cluster.name} ({len(cluster.members)} members) by "
        + " and ".join(p.describe() for p in predicates)
    )
    patch, target = propose_patch(base, operations, author=author, rationale=rationale)
    evidence = regression(cluster, Enforcer(RuleOracle(target), policy), history, fp_budget)
    if not evidence.passed:
        return NoPatch(f"regression failed: {evidence.report}")
    return Refined(patch.model_copy(update={"regression": evidence}), target, evidence, predicates)


def regression(
    cluster: Cluster, enforcer: Enforcer, history: Sequence[Case], fp_budget: float
) -> RegressionEvidence:
    """Replay the regression suite with ``enforcer`` (the patched oracle), through the replay
    engine: each distinct proposal is decided once; the benign history is diffed against its
    recorded ALLOW."""
    evaluator = Evaluator(enforcer)
    must_block = list(cluster.members) + list(cluster.variants)
    blocked = sum(d is Decision.BLOCK for d in evaluator.decisions(must_block))
    benign = [c for c in history if c.decision is Decision.ALLOW and c.safe is not False]
    diff = replay_diff((ReplayCase(c.proposal, Decision.ALLOW) for c in benign), evaluator)
    false_positives = diff.tally.changed + len(diff.refused)
    labelled = [c for c in history if c.safe is not None]
    decisions = evaluator.decisions(c.proposal for c in labelled)
    kept = sum(_keeps_label(d, c.safe) for d, c in zip(decisions, labelled, strict=True))
    fp_rate = false_positives / len(benign) if benign else 0.0
    passed = blocked == len(must_block) and fp_rate <= fp_budget and kept == len(labelled)
    report = (
        f"{blocked}/{len(must_block)} members and variants blocked; "
        f"{false_positives}/{len(benign)} benign cases changed (budget {fp_budget:.2%}); "
        f"{kept}/{len(labelled)} labels kept"
    )
    return RegressionEvidence(
        cases=len(must_block) + len(benign) + len(labelled),
        expected_blocked=len(must_block),
        blocked=blocked,
        benign=len(benign),
        false_positives=false_positives,
        false_positive_rate=fp_rate,
        labelled=len(labelled),
        labels_kept=kept,
        passed=passed,
        report=report,
    )


def _keeps_label(decision: Decision | None, safe: bool | None) -> bool:
    if decision is None:
        return False
    if safe:
        return decision is not Decision.BLOCK
    return decision is not Decision.ALLOW
