"""Patch operations and patches: pure, all or nothing, same signed bytes from model and event."""

from __future__ import annotations

import uuid

import pytest

from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.patches import (
    ArtifactFold,
    Patch,
    PatchApplyError,
    apply_operations,
    apply_patch,
    parse_operations,
    patch_body,
    propose_patch,
)
from tests.support.oracles import artifact_doc, rule

BASE = build_artifact(artifact_doc(rule("a", "true", score=0.5), rule("b", "false")))


def ops(*raw: dict[str, object]) -> tuple[object, ...]:
    return parse_operations(list(raw))


def test_every_operation_applies() -> None:
    spec = apply_operations(
        BASE.spec,
        ops(
            {"op": "add_rule", "rule": rule("c", "true", score=0.2)},
            {"op": "replace_rule", "rule": rule("a", "false", score=0.4)},
            {"op": "remove_rule", "id": "b"},
            {"op": "set_threshold", "name": "rule_error_uncertainty", "value": 0.3},
            {"op": "set_tier", "tier": "critical", "block_below": 0.8},
        ),  # type: ignore[arg-type]
        version=2,
    )
    assert [r.id for r in spec.rules] == ["a", "c"]
    assert spec.rules[0].when == "false"
    assert spec.thresholds.rule_error_uncertainty == 0.3
    assert spec.tiers["critical"].block_below == 0.8
    assert spec.tiers["critical"].escalate_uncertainty is None
    assert spec.version == 2
    assert BASE.spec.version == 1 and len(BASE.spec.rules) == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"op": "add_rule", "rule": rule("a", "true")}, "operation 1: add_rule: rule a already"),
        ({"op": "replace_rule", "rule": rule("z", "true")}, "operation 1: replace_rule: no rule z"),
        ({"op": "remove_rule", "id": "z"}, "operation 1: remove_rule: no rule z"),
    ],
)
def test_an_operation_that_does_not_apply_is_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(PatchApplyError, match=message):
        apply_operations(BASE.spec, ops(raw), version=2)  # type: ignore[arg-type]


def test_invalid_operations_are_refused_with_their_position() -> None:
    with pytest.raises(PatchApplyError, match=r"operation 0\.set_threshold\.value"):
        parse_operations([{"op": "set_threshold", "name": "base_score", "value": 7}])
    with pytest.raises(PatchApplyError, match="operation 0"):
        parse_operations([{"op": "drop_everything"}])


def test_propose_then_apply_reaches_the_declared_target() -> None:
    operations = ops({"op": "add_rule", "rule": rule("c", "args.cmd == 'x'")})
    patch, target = propose_patch(BASE, operations, author="refinement", rationale="why")  # type: ignore[arg-type]
    assert (patch.base_version, patch.base_digest) == (1, BASE.digest)
    assert (patch.target_version, patch.target_digest) == (2, target.digest)
    applied = apply_patch(BASE, patch)
    assert applied.digest == target.digest and applied.version == 2


def test_a_patch_whose_result_would_not_compile_is_refused() -> None:
    broken = ops({"op": "add_rule", "rule": rule("c", "args.(")})
    with pytest.raises(PatchApplyError, match="rule c: when: Failed to parse"):
        propose_patch(BASE, broken, author="x", rationale="y")  # type: ignore[arg-type]


def test_apply_refuses_another_base_and_a_false_target() -> None:
    operations = ops({"op": "remove_rule", "id": "b"})
    patch, target = propose_patch(BASE, operations, author="x", rationale="y")  # type: ignore[arg-type]
    with pytest.raises(PatchApplyError, match="applies to v1"):
        apply_patch(target, patch)
    lying = patch.model_copy(update={"target_digest": "0" * 64})
    with pytest.raises(PatchApplyError, match="not its declared target"):
        apply_patch(BASE, lying)


def test_the_signed_bytes_survive_the_event_round_trip() -> None:
    operations = ops({"op": "set_threshold", "name": "base_score", "value": 0.9})
    patch, _ = propose_patch(
        BASE, operations, author="x", rationale="y", cluster_ids=[uuid.uuid4()]
    )  # type: ignore[arg-type]
    event = patch.to_event("test")
    assert event.envelope.key == str(patch.patch_id)
    again = Patch.from_event(event)
    assert again == patch
    assert patch_body(again) == patch_body(patch)
    assert b'"operations":[{"name":"base_score","op":"set_threshold","value":0.9}]' in patch_body(
        patch
    )


def test_folding_many_patches_matches_applying_them_one_by_one() -> None:
    artifact, fold = BASE, ArtifactFold(BASE.spec)
    for i in range(20):
        operations = ops({"op": "add_rule", "rule": rule(f"r{i}", "true", score=0.9)})
        patch, artifact = propose_patch(artifact, operations, author="x", rationale="y")  # type: ignore[arg-type]
        fold.apply(patch.operations, patch.target_version)
    assert build_artifact(fold.spec()).digest == artifact.digest
