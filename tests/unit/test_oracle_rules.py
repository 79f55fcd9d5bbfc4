"""The rule oracle: tool index, combination rule, rule errors as evidence, the tool catalog."""

from __future__ import annotations

import pytest

from alignment_flywheel.events import EvidenceKind
from alignment_flywheel.oracle import UnknownToolError
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.oracles import proposal, rule, rule_oracle


def test_rules_are_indexed_by_exact_name_and_glob_in_document_order() -> None:
    oracle = rule_oracle(
        rule("any", "true", tools=["*"]),
        rule("shell", "true", tools=["shell.exec"]),
        rule("http", "true", tools=["http.*"]),
        rule("both", "true", tools=["shell.exec", "http.get"]),
    )
    assert [r.spec.id for r in oracle.rules_for("shell.exec")] == ["any", "shell", "both"]
    assert [r.spec.id for r in oracle.rules_for("http.get")] == ["any", "http", "both"]
    assert [r.spec.id for r in oracle.rules_for("http.post")] == ["any", "http"]
    assert [r.spec.id for r in oracle.rules_for("mail.send")] == ["any"]


def test_a_rule_for_another_tool_is_never_evaluated() -> None:
    oracle = rule_oracle(rule("shell-only", "args.cmd == 1", tools=["shell.exec"]))
    signal = oracle.evaluate(proposal("mail.send", {"to": "x"}))
    assert signal.evidence == ()
    assert signal.safety_score == 1.0


def test_score_is_the_minimum_and_uncertainty_a_noisy_or() -> None:
    oracle = rule_oracle(
        rule("a", "true", score=0.6, uncertainty=0.2),
        rule("b", "true", score=0.4, uncertainty=0.5),
        rule("c", "false", score=0.0, uncertainty=0.9),
        thresholds={"base_uncertainty": 0.1},
    )
    signal = oracle.evaluate(proposal())
    assert signal.safety_score == 0.4
    assert signal.uncertainty == pytest.approx(1 - 0.9 * 0.8 * 0.5)
    assert [e.rule_id for e in signal.evidence] == ["a", "b"]
    assert all(e.kind is EvidenceKind.RULE_MATCH for e in signal.evidence)


def test_match_evidence_carries_severity_norms_review_and_amendment() -> None:
    amendment = {"set_arguments": {"dry_run": True}, "constraints": ["no-network"]}
    oracle = rule_oracle(
        rule("r", "true", severity="HIGH", norms=["N-1"], review=True, amendment=amendment)
    )
    (item,) = oracle.evaluate(proposal()).evidence
    assert item.message == "HIGH: r matched"
    assert item.norm_refs == ("N-1",)
    assert item.requires_review
    assert item.amendment is not None
    assert item.amendment.set_arguments == {"dry_run": True}
    assert item.amendment.constraints == ("no-network",)


@pytest.mark.parametrize(
    ("when", "arguments", "message"),
    [
        ("args.path == 1", {"cmd": "ls"}, "no such key: 'path'"),
        ("args.cmd + 1 == 2", {"cmd": "ls"}, "Unsupported operation"),
        ("args.cmd", {"cmd": "ls"}, "must give a bool, gave str"),
        ("args.n > 3", {"n": "four"}, ""),
    ],
)
def test_a_rule_that_fails_is_evidence_and_raises_uncertainty(
    when: str, arguments: dict[str, object], message: str
) -> None:
    thresholds = {"rule_error_uncertainty": 0.6}
    oracle = rule_oracle(rule("fragile", when, score=0.0), thresholds=thresholds)
    signal = oracle.evaluate(proposal(arguments=arguments))
    (item,) = signal.evidence
    assert item.kind is EvidenceKind.RULE_ERROR
    assert item.rule_id == "fragile"
    assert message in item.message
    assert signal.uncertainty == pytest.approx(0.6)
    assert signal.safety_score == 1.0
    assert signal.errors == (item,)


def test_two_failing_rules_raise_uncertainty_further() -> None:
    oracle = rule_oracle(rule("a", "args.x == 1"), rule("b", "args.y == 1"))
    assert oracle.evaluate(proposal()).uncertainty == pytest.approx(0.75)


def test_the_tool_catalog_refuses_unknown_tools() -> None:
    oracle = rule_oracle(rule("a", "true"), tools=["shell.*", "sql.query"])
    assert oracle.evaluate(proposal("shell.exec")).safety_score == 0.1
    assert oracle.evaluate(proposal("sql.query", {"sql": "x"})).safety_score == 0.1
    with pytest.raises(UnknownToolError, match=r"unknown tool 'sql\.execute'"):
        oracle.evaluate(proposal("sql.execute", {"sql": "x"}))


def test_rules_see_risk_proposer_and_reasoning() -> None:
    oracle = rule_oracle(
        rule(
            "prod-auto",
            'risk.environment == "production" && risk.origin == "AUTOMATED"'
            ' && risk.proposer_confidence < 0.5 && proposer == "agent-1" && reasoning == ""'
            ' && parent == "" && session == "session-1"',
        )
    )
    hit = proposal(environment="production", proposer_confidence=0.2)
    assert [e.rule_id for e in oracle.evaluate(hit).evidence] == ["prod-auto"]
    assert oracle.evaluate(proposal(environment="production")).evidence == ()


def test_signal_names_the_artifact() -> None:
    oracle = rule_oracle(rule("a", "true"), version=42)
    signal = oracle.evaluate(proposal())
    assert (signal.version, signal.digest) == (42, oracle.digest)
    assert isinstance(oracle, RuleOracle)
