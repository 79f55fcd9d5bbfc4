"""The reviewer's view of a patch: rule-level diff lines and the regression evidence."""

from __future__ import annotations

from alignment_flywheel.events import RegressionEvidence
from alignment_flywheel.patches import parse_operations, propose_patch
from alignment_flywheel.patches.diff import diff_lines, evidence_lines
from tests.support.oracles import rule
from tests.support.signing import BASE


def test_every_operation_is_shown_with_old_values_against_its_base() -> None:
    operations = parse_operations(
        [
            {"op": "add_rule", "rule": rule("b", "args.cmd == 'rm'", severity="HIGH")},
            {"op": "replace_rule", "rule": rule("a", "false", score=0.4)},
            {"op": "set_threshold", "name": "base_score", "value": 0.9},
            {"op": "set_tier", "tier": "critical", "block_below": 0.8},
            {"op": "remove_rule", "id": "b"},
        ]
    )
    patch, _ = propose_patch(BASE, operations, author="r", rationale="why")
    lines = diff_lines(patch, BASE.spec)
    assert lines[0].startswith("v1 (") and "-> v2" in lines[0]
    assert "+ rule b [*] severity=HIGH score=0.1" in lines
    assert "+     when: args.cmd == 'rm'" in lines
    assert "- rule a [*] severity=MEDIUM score=0.5" in lines and "-     when: true" in lines
    assert "+ rule a [*] severity=MEDIUM score=0.4" in lines
    assert "~ threshold base_score: 1.0 -> 0.9" in lines
    assert "~ tier critical: unset -> {'block_below': 0.8}" in lines
    assert lines[-1] == "- rule b"  # removed in the same patch: not in the base


def test_without_the_base_only_the_new_side_is_shown() -> None:
    operations = parse_operations([{"op": "set_threshold", "name": "base_score", "value": 0.9}])
    patch, _ = propose_patch(BASE, operations, author="r", rationale="why")
    assert "~ threshold base_score: ? -> 0.9" in diff_lines(patch)


def test_the_regression_evidence_is_summarised() -> None:
    evidence = RegressionEvidence(
        cases=10,
        expected_blocked=4,
        blocked=4,
        benign=6,
        false_positives=1,
        false_positive_rate=1 / 6,
        labelled=3,
        labels_kept=3,
        passed=True,
        report="all attack cases blocked",
    )
    lines = evidence_lines(evidence)
    assert lines[0] == "regression PASSED: 10 case(s)"
    assert "  blocked 4 of 4 expected" in lines and lines[-1] == "  all attack cases blocked"
    assert evidence_lines(None) == ["no regression evidence attached"]
