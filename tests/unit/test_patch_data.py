"""Patch operations on the artifact's named sets: applied, described, signed and verified."""

from __future__ import annotations

from typing import Any

import pytest

from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.data import DATA_MAX_BYTES
from alignment_flywheel.patches import (
    Operation,
    Patch,
    PatchApplyError,
    apply_operations,
    apply_patch,
    parse_operations,
    patch_body,
    propose_patch,
)
from alignment_flywheel.patches.diff import diff_lines
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from tests.support.oracles import artifact_doc, rule
from tests.support.signing import NOW, Keyring, approvals

BASE = build_artifact(
    artifact_doc(
        rule("stranger", "!(args.to in data.known)", tools=["email.send"]),
        data={"known": ["alice@example.com"], "payees": ["DE01", "DE02"]},
    )
)


def ops(*raw: dict[str, Any]) -> tuple[Operation, ...]:
    return parse_operations(list(raw))


def test_add_remove_and_set_data_apply_and_keep_sets_canonical() -> None:
    spec = apply_operations(
        BASE.spec,
        ops(
            {"op": "add_to_set", "set": "known", "values": ["carol@x.org", "bob@x.org"]},
            {"op": "remove_from_set", "set": "payees", "values": ["DE01"]},
            {"op": "add_to_set", "set": "limits", "values": [250, 100.0]},
            {"op": "set_data", "set": "payees", "values": ["DE09", "DE03"]},
            {"op": "set_data", "set": "empty", "values": []},
        ),
        version=2,
    )
    assert spec.data == {
        "empty": (),
        "known": ("alice@example.com", "bob@x.org", "carol@x.org"),
        "limits": (100, 250),
        "payees": ("DE03", "DE09"),
    }
    assert BASE.spec.data["payees"] == ("DE01", "DE02")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"op": "add_to_set", "set": "known", "values": ["alice@example.com"]},
            'operation 1: add_to_set: "alice@example.com" already in set known',
        ),
        (
            {"op": "remove_from_set", "set": "nope", "values": ["x"]},
            "operation 1: remove_from_set: no set nope",
        ),
        (
            {"op": "remove_from_set", "set": "payees", "values": ["DE01", "DE77", 7]},
            'operation 1: remove_from_set: "DE77", 7 not in set payees',
        ),
    ],
)
def test_an_operation_that_does_not_apply_is_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchApplyError, match=message):
        apply_operations(BASE.spec, ops(raw), version=2)


@pytest.mark.parametrize(
    "raw",
    [
        {"op": "add_to_set", "set": "known", "values": []},
        {"op": "add_to_set", "set": "Known", "values": ["x"]},
        {"op": "set_data", "set": "known", "values": ["x", "x"]},
        {"op": "set_data", "set": "known", "values": [{"x": 1}]},
        {"op": "remove_from_set", "set": "known", "values": [1, 1.0]},
    ],
)
def test_invalid_set_operations_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(PatchApplyError, match="operation 0"):
        parse_operations([raw])


def test_a_patch_over_the_data_bound_is_refused() -> None:
    big = [f"{i:08d}" * 4 for i in range(DATA_MAX_BYTES // 30)]
    with pytest.raises(PatchApplyError, match=f"over the limit of {DATA_MAX_BYTES}"):
        apply_operations(BASE.spec, ops({"op": "set_data", "set": "big", "values": big}), 2)


def test_a_rule_added_for_a_set_that_does_not_exist_is_refused() -> None:
    operations = ops({"op": "add_rule", "rule": rule("r", "args.x in data.missing")})
    with pytest.raises(PatchApplyError, match="unknown data set"):
        propose_patch(BASE, operations, author="r", rationale="why")


def test_a_set_patch_round_trips_through_its_event_and_changes_decisions() -> None:
    operations = ops({"op": "add_to_set", "set": "known", "values": ["bob@example.com"]})
    patch, target = propose_patch(BASE, operations, author="refinement", rationale="new hire")
    again = Patch.from_event(patch.to_event("test"))
    assert patch_body(again) == patch_body(patch)
    assert apply_patch(BASE, again).digest == target.digest != BASE.digest
    assert target.spec.data["known"] == ("alice@example.com", "bob@example.com")


def test_a_set_patch_is_signed_and_verified_like_any_patch() -> None:
    ring = Keyring()
    operations = ops({"op": "remove_from_set", "set": "payees", "values": ["DE02"]})
    patch, target = propose_patch(BASE, operations, author="refinement", rationale="closed")
    check = PatchVerifier(ring.root().root, OracleHead(BASE.version, BASE.digest))
    verified = check.verify(patch, approvals(ring, patch), NOW)
    assert apply_patch(BASE, verified.patch).digest == target.digest


def test_set_operations_are_described_value_by_value() -> None:
    operations = ops(
        {"op": "add_to_set", "set": "known", "values": ["bob@example.com"]},
        {"op": "add_to_set", "set": "limits", "values": [100]},
        {"op": "remove_from_set", "set": "payees", "values": ["DE01"]},
        {"op": "set_data", "set": "payees", "values": ["DE02", "DE03", "b\u0430d"]},
    )
    patch, _ = propose_patch(BASE, operations, author="r", rationale="why")
    lines = diff_lines(patch, BASE.spec)
    assert lines[1:] == [
        "@@ operation 1: add_to_set",
        '+ set known: "bob@example.com"',
        "@@ operation 2: add_to_set",
        "+ set limits (new)",
        "+ set limits: 100",
        "@@ operation 3: remove_from_set",
        '- set payees: "DE01"',
        "@@ operation 4: set_data",
        "~ set payees: 1 -> 3 value(s)",
        '+ set payees: "DE03"',
        '+ set payees: "b\\u0430d"',
    ]
    assert diff_lines(patch)[-4:] == [
        "~ set payees: set to 3 value(s)",
        '+ set payees: "DE02"',
        '+ set payees: "DE03"',
        '+ set payees: "b\\u0430d"',
    ]
