"""The fast path's parts: the CEL subset parser, the RE2 translation, the per-rule fallback to the
CEL engine, what ``flywheel oracle explain`` reports, and the enforcer's caches."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.enforcement import Enforcer
from alignment_flywheel.enforcement.policy import build_policy
from alignment_flywheel.enforcement.verdict import FAST_FIELDS, Verdict, judged_verdict
from alignment_flywheel.events import Decision, EvidenceKind, Proposal, RiskContext
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.celparse import Unsupported, parse
from alignment_flywheel.oracle.fastpath import compile_tool, explain
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.regex import translate
from alignment_flywheel.oracle.rules import RuleOracle


def _proposal(
    arguments: dict[str, Any], tool: str = "shell.exec", confidence: float = 0.9
) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="agent",
        session_id="s",
        tool=tool,
        arguments=json.dumps(arguments),
        risk=RiskContext(proposer_confidence=confidence, environment="staging"),
    )


def _oracle(*whens: str) -> RuleOracle:
    rules = [
        {"id": f"r{i}", "tools": ["*"], "when": w, "score": 0.1, "message": f"r{i}"}
        for i, w in enumerate(whens)
    ]
    return RuleOracle(build_artifact({"name": "t", "version": 1, "rules": rules}))


def test_the_parser_keeps_cel_precedence() -> None:
    assert parse("a || b && !c") == ("or", ("id", "a"), ("and", ("id", "b"), ("not", ("id", "c"))))
    assert parse('x.y["z"] in [1, -2]')[0] == "rel"
    assert parse("a ? b : c ? d : e")[3][0] == "cond"


@pytest.mark.parametrize(
    "source", ["a + 1 > 2", 'b"x" == a', "1u == a", "a.b(", "a @ b", "9007199254740993 == a"]
)
def test_the_parser_refuses_what_is_outside_the_subset(source: str) -> None:
    with pytest.raises(Unsupported):
        parse(source)


def test_string_literals_mean_what_cel_says() -> None:
    assert parse(r'"a\tb\u00e9"') == ("lit", "a\tb\u00e9")
    assert parse("r'a\\d'") == ("lit", "a\\d")


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("^x$", "x\n", False),
        ("^x$", "x", True),
        ("a.c", "a\nc", False),
        ("[]a]", "]", True),
        ("\\s", "\x0b", True),
        ("a{2,3}?b", "aab", True),
    ],
)
def test_regexes_match_as_re2(pattern: str, text: str, expected: bool) -> None:
    assert (translate(pattern).pattern.search(text) is not None) is expected


def test_unicode_classes_run_on_ascii_only_and_the_rest_is_refused() -> None:
    assert translate("\\d+").ascii_only and not translate("[a-z]+").ascii_only
    for pattern in ["(?i)rm", "(?=x)", "(a)\\1", "\\pL", "a*+", "[[:alpha:]]", "[a&&b]", "\\z"]:
        with pytest.raises(Unsupported):
            translate(pattern)


def test_a_rule_outside_the_subset_runs_on_cel_and_explain_says_why() -> None:
    oracle = _oracle('args.cmd.matches("(?i)rm")', "args.count + 1 > 2", 'args.cmd == "ls"')
    compiled = oracle.tool_rules("shell.exec").compiled
    assert compiled is not None and compiled.on_cel == (0, 1)
    signal = oracle.evaluate(_proposal({"cmd": "RM -rf", "count": 5}))
    assert [s.rule_id for s in signal.evidence] == ["r0", "r1"]
    reasons = explain(['args.cmd.matches("(?i)rm")', "data.x[0] == 1", 'effect == "unknown"'])
    assert reasons[0] is not None and "group flags" in reasons[0]
    assert reasons[1:] == [None, None]


def test_an_input_the_translation_is_not_sure_of_goes_to_cel_with_cels_message() -> None:
    fast, slow = _oracle("args.count > 2", "size(args.cmd) > 3"), None
    slow = RuleOracle(fast.artifact, fast=False)
    for arguments in ({"count": True, "cmd": "é"}, {"count": 2**70, "cmd": "abcd"}, {}):
        proposal = _proposal(arguments)
        assert fast.evaluate(proposal) == slow.evaluate(proposal)
    (error, _) = fast.evaluate(_proposal({"count": "x"})).evidence
    assert error.kind is EvidenceKind.RULE_ERROR and "overload" in error.message


def test_the_tool_function_reports_cel_positions_as_complements() -> None:
    compiled = compile_tool(["args.a == 1", "args.b", "args.a + 1 == 2"], {})
    assert compiled.function(_proposal({}), {"a": 1, "b": "x"}, None) == [0, ~1, ~2]
    assert compile_tool(["args.a == 1"], {}) is compile_tool(["args.a == 1"], {})


def test_the_oracle_reuses_the_signal_of_the_same_matching_rules() -> None:
    oracle = _oracle('args.cmd == "ls"')
    first, second = (oracle.evaluate(_proposal({"cmd": "ls"})) for _ in range(2))
    assert first is second and [s.rule_id for s in first.evidence] == ["r0"]


def test_the_enforcer_chooses_tiers_as_the_cel_policy_does() -> None:
    policy = build_policy(read_document(DEFAULT_RISK_POLICY))
    enforcer = Enforcer(_oracle('args.cmd == "ls"'), policy)
    for confidence in (0.05, 0.2, 0.5, 0.99):
        proposal = _proposal({"cmd": "ls"}, confidence=confidence)
        expected = policy._choose(proposal.risk, proposal.tool).tier.name
        assert enforcer.decide(proposal).tier == expected


def test_flywheel_oracle_explain_lists_every_rule(tmp_path: Any) -> None:
    document = {
        "name": "t",
        "version": 1,
        "rules": [
            {"id": "fast-one", "when": 'args.x == "y"', "score": 0.1, "message": "m"},
            {"id": "cel-one", "when": 'args.x.matches("(?i)y")', "score": 0.1, "message": "m"},
        ],
    }
    path = tmp_path / "oracle.json"
    path.write_text(json.dumps(document))
    env = {"FLYWHEEL_STATE_DIR": str(tmp_path / "state")}
    result = CliRunner().invoke(app, ["oracle", "explain", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert re.search(r"fast-one.*fast", result.output)
    assert re.search(r"cel-one.*cel.*group flags", result.output)
    assert "1 of 2 rules on the fast path, 1 on CEL" in result.output


def test_the_enforcers_verdict_is_the_dataclass_with_every_field_set() -> None:
    signal = _oracle('args.cmd == "ls"').evaluate(_proposal({"cmd": "ls"}))
    made = judged_verdict(
        Decision.BLOCK,
        "critical",
        ("why",),
        policy_version="p1",
        latency_us=3,
        signal=signal,
        amendment=None,
    )
    assert tuple(f.name for f in dataclasses.fields(Verdict)) == FAST_FIELDS
    assert made == Verdict(
        Decision.BLOCK,
        "critical",
        ("why",),
        "p1",
        3,
        signal,
        oracle_version=signal.version,
        oracle_digest=signal.digest,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.tier = "other"  # type: ignore[misc]
