"""A patch as a reviewer reads it: rule-level diff lines and the regression evidence.

Each operation becomes lines prefixed ``+`` (added), ``-`` (removed) or ``~`` (changed). A rule is
shown by id, tools, severity, score and its CEL ``when``. When the base artifact is known (its
digest is the patch's base digest), removed and replaced rules also show what they were, and
threshold changes show the old value; otherwise only the new side is shown.

A set operation shows one line per value: ``+ set NAME: VALUE`` added, ``- set NAME: VALUE``
removed (values as JSON, non-ASCII escaped so that look-alike characters show). ``set_data`` is
headed by ``~ set NAME: ...`` and, against the base, lists only the values it adds and removes;
without the base it lists every value it sets. Against the base, the sets are followed through the
patch, so that a later operation is read against what the earlier ones left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from alignment_flywheel.events import RegressionEvidence
from alignment_flywheel.oracle.artifact import ArtifactSpec, RuleSpec
from alignment_flywheel.oracle.data import Scalar, value_key
from alignment_flywheel.patches.model import Patch
from alignment_flywheel.patches.operations import (
    AddRule,
    AddToSet,
    RemoveFromSet,
    RemoveRule,
    ReplaceRule,
    SetData,
    SetOperation,
    SetThreshold,
    SetTier,
    changed_set,
)

Sets = dict[str, tuple[Scalar, ...]]
RuleOperation = AddRule | RemoveRule | ReplaceRule | SetThreshold | SetTier


def rule_line(sign: str, rule: RuleSpec) -> list[str]:
    tools = ",".join(rule.tools)
    head = f"{sign} rule {rule.id} [{tools}] severity={rule.severity.value} score={rule.score}"
    extra = f" uncertainty={rule.uncertainty}" if rule.uncertainty else ""
    review = " review" if rule.review else ""
    return [head + extra + review, f"{sign}     when: {rule.when}", f"{sign}     {rule.message}"]


def diff_lines(patch: Patch, base: ArtifactSpec | None = None) -> list[str]:
    """The patch's operations as diff lines, against ``base`` when it is the patch's base."""
    rules = {r.id: r for r in base.rules} if base is not None else {}
    sets = dict(base.data) if base is not None else None
    lines = [
        f"v{patch.base_version} ({patch.base_digest[:12]}) -> v{patch.target_version} "
        f"({patch.target_digest[:12]})"
    ]
    for number, operation in enumerate(patch.operations, start=1):
        lines.append(f"@@ operation {number}: {operation.op}")
        if isinstance(operation, AddToSet | RemoveFromSet | SetData):
            lines.extend(_set_lines(operation, sets))
        else:
            lines.extend(_operation_lines(operation, rules, base))
    return lines


def _set_lines(operation: SetOperation, sets: Sets | None) -> list[str]:
    """The operation's lines; ``sets`` (the sets so far, None without a base) follows it."""
    name = operation.set
    before = None if sets is None else sets.get(name)
    try:
        after = changed_set(before, operation) if sets is not None else None
    except KeyError:
        after = None  # it does not apply to the base: show what it says
    if sets is not None and after is not None:
        sets[name] = after
    if isinstance(operation, AddToSet):
        head = [f"+ set {name} (new)"] if sets is not None and before is None else []
        return head + _values("+", name, operation.values)
    if not isinstance(operation, SetData):
        return _values("-", name, operation.values)
    if before is None or after is None:
        added = _values("+", name, operation.values)
        return [f"~ set {name}: set to {len(operation.values)} value(s)", *added]
    old, new = {value_key(v) for v in before}, {value_key(v) for v in after}
    return [
        f"~ set {name}: {len(before)} -> {len(after)} value(s)",
        *_values("-", name, tuple(v for v in before if value_key(v) not in new)),
        *_values("+", name, tuple(v for v in after if value_key(v) not in old)),
    ]


def _values(sign: str, name: str, values: tuple[Scalar, ...]) -> list[str]:
    return [f"{sign} set {name}: {json.dumps(value)}" for value in values]


def _operation_lines(
    operation: RuleOperation, rules: dict[str, RuleSpec], base: ArtifactSpec | None
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
