"""Patch operations over an oracle artifact, and applying them: a pure function, all or nothing.

Operations (JSON objects, discriminated by ``op``):

* ``{"op": "add_rule", "rule": {...}}``: append a rule; its id must be new.
* ``{"op": "replace_rule", "rule": {...}}``: replace the rule with that id, in place.
* ``{"op": "remove_rule", "id": "..."}``: remove the rule with that id.
* ``{"op": "set_threshold", "name": "base_score" | "base_uncertainty" |
  "rule_error_uncertainty", "value": 0.3}``: set one of the artifact's thresholds.
* ``{"op": "set_tier", "tier": "critical", "block_below": 0.8, "escalate_uncertainty": null,
  "revise_budget": null}``: set the thresholds the artifact imposes on a risk-policy tier (null
  leaves that threshold to the policy).

Rules:

* :func:`apply_operations` works on specs only (no CEL compilation, no digest) so that folding a
  long history stays cheap; it raises :class:`PatchApplyError` naming the first operation that does
  not apply (an id that exists or does not), and returns a new spec: the input is never changed.
* :class:`ArtifactFold` folds many patches in a row on a mutable working copy and produces one
  spec at the end; callers check the final digest, which pins every intermediate state because
  applying is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.oracle.artifact import (
    RULE_ID,
    ArtifactSpec,
    RuleSpec,
    Spec,
    Thresholds,
    TierOverride,
    Unit,
)


class PatchApplyError(InvalidInputError):
    """A patch does not apply to the artifact it names, or its operations are not valid."""


class AddRule(Spec):
    op: Literal["add_rule"]
    rule: RuleSpec


class ReplaceRule(Spec):
    op: Literal["replace_rule"]
    rule: RuleSpec


class RemoveRule(Spec):
    op: Literal["remove_rule"]
    id: Annotated[str, Field(pattern=RULE_ID)]


class SetThreshold(Spec):
    op: Literal["set_threshold"]
    name: Literal["base_score", "base_uncertainty", "rule_error_uncertainty"]
    value: Unit


class SetTier(TierOverride):
    op: Literal["set_tier"]
    tier: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


Operation = Annotated[
    AddRule | ReplaceRule | RemoveRule | SetThreshold | SetTier, Field(discriminator="op")
]
OPERATIONS: TypeAdapter[tuple[Operation, ...]] = TypeAdapter(tuple[Operation, ...])


def parse_operations(raw: Any) -> tuple[Operation, ...]:
    """Operations from JSON-like data; PatchApplyError naming each bad one."""
    try:
        return OPERATIONS.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"operation {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise PatchApplyError(f"invalid operations: {problems}") from None


def operations_json(operations: Iterable[Operation]) -> list[dict[str, Any]]:
    """The operations as JSON-ready data (what is signed and put on the topic)."""
    return [op.model_dump(mode="json") for op in operations]


class ArtifactFold:
    """A working copy of an artifact spec that operations change in place."""

    def __init__(self, spec: ArtifactSpec) -> None:
        self.base = spec
        self.rules: dict[str, RuleSpec] = {rule.id: rule for rule in spec.rules}
        self.thresholds: dict[str, float] = spec.thresholds.model_dump()
        self.tiers: dict[str, TierOverride] = dict(spec.tiers)
        self.version = spec.version

    def apply(self, operations: Iterable[Operation], version: int) -> None:
        """Apply operations in order (the working copy is left part-changed on error)."""
        for position, operation in enumerate(operations, start=1):
            try:
                self._apply(operation)
            except KeyError as exc:
                raise PatchApplyError(f"operation {position}: {exc.args[0]}") from None
        self.version = version

    def _apply(self, operation: Operation) -> None:
        if isinstance(operation, AddRule):
            if operation.rule.id in self.rules:
                raise KeyError(f"add_rule: rule {operation.rule.id} already exists")
            self.rules[operation.rule.id] = operation.rule
        elif isinstance(operation, ReplaceRule):
            if operation.rule.id not in self.rules:
                raise KeyError(f"replace_rule: no rule {operation.rule.id}")
            self.rules[operation.rule.id] = operation.rule
        elif isinstance(operation, RemoveRule):
            if self.rules.pop(operation.id, None) is None:
                raise KeyError(f"remove_rule: no rule {operation.id}")
        elif isinstance(operation, SetThreshold):
            self.thresholds[operation.name] = operation.value
        else:
            self.tiers[operation.tier] = TierOverride.model_validate(
                operation.model_dump(exclude={"op", "tier"})
            )

    def spec(self) -> ArtifactSpec:
        """The spec as it stands (a new immutable object)."""
        return self.base.model_copy(
            update={
                "version": self.version,
                "rules": tuple(self.rules.values()),
                "thresholds": Thresholds.model_validate(self.thresholds),
                "tiers": dict(self.tiers),
            }
        )


def apply_operations(
    spec: ArtifactSpec, operations: Iterable[Operation], version: int
) -> ArtifactSpec:
    """The spec after the operations, at ``version``; the input spec is unchanged."""
    fold = ArtifactFold(spec)
    fold.apply(operations, version)
    return fold.spec()
