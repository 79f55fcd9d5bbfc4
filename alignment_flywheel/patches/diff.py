"""A patch as a reviewer reads it: rule-level diff lines and the regression evidence.

Each operation becomes lines prefixed ``+`` (added), ``-`` (removed) or ``~`` (changed). A rule is
shown by id, tools, severity, score and its CEL ``when``. When the base artifact is known (its
digest is the patch's base digest), removed and replaced rules also show what they were, and
threshold changes show the old value; otherwise only the new side is shown.
"""

from __future__ import annotations

from collections.abc import Iterator

from alignment_flywheel.events import RegressionEvidence
from alignment_flywheel.oracle.artifact import ArtifactSpec, RuleSpec
from alignment_flywheel.patches.model import Patch
from alignment_flywheel.patches.operations import (
    AddRule,
    Operation,
    RemoveRule,
    ReplaceRule,
    SetThreshold,
)


def rule_line(sign: str, rule: RuleSpec) -> list[str]:
    tools = ",".join(rule.tools)
    head = f"{sign} rule {rule.id} [{tools}] severity={rule.severity.value} score={rule.score}"
    extra = f" uncertainty={rule.uncertainty}" if rule.uncertainty else ""
    review = " review" if rule.review else ""
    return [head + extra + review, f"{sign}     when: {rule.when}", f"{sign}     {rule.message}"]


def diff_lines(patch: Patch, base: ArtifactSpec | None = None) -> list[str]:
    """The patch's operations as diff lines, against ``base`` when it is the patch's base."""
    rules = {r.id: r for r in base.rules} if base is not None else {}
    lines = [
        f"v{patch.base_version} ({patch.base_digest[:12]}) -> v{patch.target_version} "
        f"({patch.target_digest[:12]})"
    ]
    for number, operation in enumerate(patch.operations, start=1):
        lines.append(f"@@ operation {number}: {operation.op}")
        lines.extend(_operation_lines(operation, rules, base))
    return lines


def _operation_lines(
    operation: Operation, rules: dict[str, RuleSpec], base: ArtifactSpec | None
) -> Iterator[str]:
    if isinstance(operation, AddRule):
        yield from rule_line("+", operation.rule)
    elif isinstance(operation, RemoveRule):
        old = rules.get(operation.id)
        yield from rule_line("-", old) if old else [f"- rule {operation.id}"]
    elif isinstance(operation, ReplaceRule):
        old = rules.get(operation.rule.id)
        if old is not None:
            yield from rule_line("-", old)
        yield from rule_line("+", operation.rule)
    elif isinstance(operation, SetThreshold):
        before = "?" if base is None else getattr(base.thresholds, operation.name)
        yield f"~ threshold {operation.name}: {before} -> {operation.value}"
    else:
        before = base.tiers.get(operation.tier) if base is not None else None
        settings = operation.model_dump(exclude={"op", "tier"}, exclude_none=True)
        was = "unset" if before is None else before.model_dump(exclude_none=True)
        yield f"~ tier {operation.tier}: {was} -> {settings}"


def evidence_lines(regression: RegressionEvidence | None) -> list[str]:
    """The regression evidence refinement attached, or a warning that there is none."""
    if regression is None:
        return ["no regression evidence attached"]
    verdict = "PASSED" if regression.passed else "FAILED"
    lines = [
        f"regression {verdict}: {regression.cases} case(s)",
        f"  blocked {regression.blocked} of {regression.expected_blocked} expected",
        f"  benign {regression.benign}, false positives {regression.false_positives} "
        f"(rate {regression.false_positive_rate:.3f})",
        f"  labels kept {regression.labels_kept} of {regression.labelled}",
    ]
    if regression.report:
        lines.extend(f"  {line}" for line in regression.report.splitlines())
    return lines
