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
* ``{"op": "add_to_set", "set": "known_recipients", "values": ["a@example.com"]}``: add values to
  a named set of the artifact's ``data``, creating the set if it is missing; a value already in it
  does not apply.
* ``{"op": "remove_from_set", "set": "payees", "values": ["DE89..."]}``: remove values from a set
  that exists; a value not in it does not apply. The set stays, possibly empty.
* ``{"op": "set_data", "set": "payees", "values": [...]}``: replace a set's values (create it).

Rules:

* :func:`apply_operations` works on specs only (no CEL compilation, no digest) so that folding a
  long history stays cheap; it raises :class:`PatchApplyError` naming the first operation that does
  not apply (an id that exists or does not), and returns a new spec: the input is never changed.
  The values of one set operation are distinct; sets are stored canonical (sorted, see
  :mod:`alignment_flywheel.oracle.data`) and the result must stay within the data size bound.
* :class:`ArtifactFold` folds many patches in a row on a mutable working copy and produces one
  spec at the end; callers check the final digest, which pins every intermediate state because
  applying is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

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
from alignment_flywheel.oracle.data import (
    DataValue,
    Scalar,
    SetName,
    canonical_data,
    canonical_values,
    value_key,
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


def _distinct(values: tuple[Scalar, ...]) -> tuple[Scalar, ...]:
    if len(canonical_values(values)) != len(values):
        raise ValueError("values repeat")
    return values


Values = Annotated[tuple[DataValue, ...], AfterValidator(_distinct)]


class AddToSet(Spec):
    op: Literal["add_to_set"]
    set: SetName
    values: Annotated[Values, Field(min_length=1)]


class RemoveFromSet(Spec):
    op: Literal["remove_from_set"]
    set: SetName
    values: Annotated[Values, Field(min_length=1)]


class SetData(Spec):
    op: Literal["set_data"]
    set: SetName
    values: Values


SetOperation = AddToSet | RemoveFromSet | SetData
Operation = Annotated[
    AddRule | ReplaceRule | RemoveRule | SetThreshold | SetTier | SetOperation,
    Field(discriminator="op"),
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
        self.data: dict[str, tuple[Scalar, ...]] = dict(spec.data)
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
        if isinstance(operation, AddToSet | RemoveFromSet | SetData):
            self.data[operation.set] = changed_set(self.data.get(operation.set), operation)
        elif isinstance(operation, AddRule):
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
        """The spec as it stands (a new immutable object); PatchApplyError if data is too large."""
        try:
            data = canonical_data(self.data)
        except ValueError as exc:
            raise PatchApplyError(f"the patched artifact is invalid: data: {exc}") from None
        return self.base.model_copy(
            update={
                "version": self.version,
                "rules": tuple(self.rules.values()),
                "thresholds": Thresholds.model_validate(self.thresholds),
                "tiers": dict(self.tiers),
                "data": data,
            }
        )


def changed_set(current: tuple[Scalar, ...] | None, operation: SetOperation) -> tuple[Scalar, ...]:
    """The set's values after the operation (canonical); KeyError when it does not apply."""
    if isinstance(operation, SetData):
        return canonical_values(operation.values)
    have = {value_key(v) for v in current or ()}
    if isinstance(operation, AddToSet):
        present = [v for v in operation.values if value_key(v) in have]
        if present:
            raise KeyError(f"add_to_set: {_shown(present)} already in set {operation.set}")
        return canonical_values((*(current or ()), *operation.values))
    if current is None:
        raise KeyError(f"remove_from_set: no set {operation.set}")
    absent = [v for v in operation.values if value_key(v) not in have]
    if absent:
        raise KeyError(f"remove_from_set: {_shown(absent)} not in set {operation.set}")
    removed = {value_key(v) for v in operation.values}
    return tuple(v for v in current if value_key(v) not in removed)


def _shown(values: list[Scalar], most: int = 5) -> str:
    shown = ", ".join(json.dumps(v) for v in values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def apply_operations(
    spec: ArtifactSpec, operations: Iterable[Operation], version: int
) -> ArtifactSpec:
    """The spec after the operations, at ``version``; the input spec is unchanged."""
    fold = ArtifactFold(spec)
    fold.apply(operations, version)
    return fold.spec()
