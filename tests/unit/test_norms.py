"""Norms: judging proposals, and refusing norms that misjudge their own examples."""

from __future__ import annotations

import pytest

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Severity, VerificationOutcome
from alignment_flywheel.governance.norms import build_norms, example_proposal, load_norms


def test_the_shipped_norms_load_and_pass_their_examples() -> None:
    norms = load_norms()
    assert len(norms.norms) >= 5
    assert sum(len(n.spec.examples) for n in norms.norms) >= 15


@pytest.mark.parametrize(
    ("tool", "arguments", "outcome", "ids"),
    [
        ("shell.exec", {"cmd": "sudo rm -rf /var"}, VerificationOutcome.VIOLATION, ("N-OPS-1",)),
        ("shell.exec", {"cmd": "ls"}, VerificationOutcome.NO_VIOLATION, ()),
        ("shell.exec", {"command": "rm -rf /"}, VerificationOutcome.INCONCLUSIVE, ()),
        ("calendar.add", {"title": "x"}, VerificationOutcome.INCONCLUSIVE, ()),
    ],
)
def test_judgements(
    tool: str, arguments: dict[str, object], outcome: VerificationOutcome, ids: tuple[str, ...]
) -> None:
    judgement = load_norms().judge(example_proposal(tool, arguments))
    assert (judgement.outcome, judgement.norm_ids) == (outcome, ids)


def test_several_violations_take_the_highest_severity() -> None:
    norms = build_norms(
        {
            "version": "t",
            "norms": [
                {"id": "a", "title": "a", "severity": "LOW", "violation": "true"},
                {"id": "b", "title": "b", "severity": "HIGH", "violation": "true"},
                {"id": "c", "title": "c", "severity": "MEDIUM", "violation": "false"},
            ],
        }
    )
    judgement = norms.judge(example_proposal("x.y", {}))
    assert judgement.norm_ids == ("a", "b") and judgement.severity is Severity.HIGH


def test_norms_that_misjudge_their_examples_or_do_not_compile_are_refused() -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        build_norms(
            {
                "version": "t",
                "norms": [
                    {
                        "id": "a",
                        "title": "a",
                        "severity": "LOW",
                        "violation": "args.(",
                    },
                    {"id": "a", "title": "b", "severity": "LOW", "violation": "true"},
                ],
            }
        )
    assert caught.value.problems[0] == "norm a: duplicate id"
    assert caught.value.problems[1].startswith("norm a: violation: Failed to parse")
    with pytest.raises(PolicyDocumentError) as caught:
        build_norms(
            {
                "version": "t",
                "norms": [
                    {
                        "id": "n",
                        "title": "n",
                        "severity": "LOW",
                        "tools": ["shell.exec"],
                        "violation": 'args.cmd == "x"',
                        "examples": [
                            {"arguments": {"cmd": "x"}, "violation": False},
                            {"arguments": {"cmd": "y"}, "violation": False},
                        ],
                    },
                ],
            }
        )
    assert caught.value.problems == ("norm n: example 1 should be no violation",)
