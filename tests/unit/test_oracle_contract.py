"""The rules of the oracle contract (alignment_flywheel/oracle/contract.py), for each oracle."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from alignment_flywheel.events import EvidenceKind
from alignment_flywheel.oracle import Oracle, UnknownToolError
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.composite import CompositeOracle
from alignment_flywheel.oracle.loader import DEFAULT_ORACLE
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.oracles import BrokenOracle, proposal, rule, rule_oracle

ORACLES: dict[str, Callable[[], Oracle]] = {
    "rules": lambda: RuleOracle(load_artifact(DEFAULT_ORACLE)),
    "composite": lambda: CompositeOracle(
        [RuleOracle(load_artifact(DEFAULT_ORACLE)), rule_oracle(rule("x", "args.cmd == 'x'"))]
    ),
}
PROPOSALS = [
    proposal("shell.exec", {"cmd": "rm -rf /"}),
    proposal("shell.exec", {"cmd": "ls"}),
    proposal("shell.exec", {"no_cmd": True}),
    proposal("sql.query", {"sql": "select 1"}),
    proposal("crm.update", {}),
]


@pytest.fixture(params=sorted(ORACLES))
def oracle(request: pytest.FixtureRequest) -> Oracle:
    return ORACLES[request.param]()


def test_it_is_an_oracle(oracle: Oracle) -> None:
    assert isinstance(oracle, Oracle)
    assert re.fullmatch(r"[0-9a-f]{64}", oracle.digest)


@pytest.mark.parametrize("index", range(len(PROPOSALS)))
def test_signals_are_in_range_named_and_deterministic(oracle: Oracle, index: int) -> None:
    signal = oracle.evaluate(PROPOSALS[index])
    assert 0.0 <= signal.safety_score <= 1.0
    assert 0.0 <= signal.uncertainty <= 1.0
    assert (signal.version, signal.digest) == (oracle.version, oracle.digest)
    assert oracle.evaluate(PROPOSALS[index]) == signal


def test_a_tool_outside_the_catalog_is_bad_input_not_a_signal(oracle: Oracle) -> None:
    with pytest.raises(UnknownToolError, match=r"unknown tool 'warp\.drive'"):
        oracle.evaluate(proposal("warp.drive", {}))


def test_rule_errors_are_evidence_and_raise_uncertainty(oracle: Oracle) -> None:
    safe = oracle.evaluate(proposal("shell.exec", {"cmd": "ls"}))
    failing = oracle.evaluate(proposal("shell.exec", {"no_cmd": True}))
    assert any(e.kind is EvidenceKind.RULE_ERROR for e in failing.evidence)
    assert failing.uncertainty > safe.uncertainty


def test_composite_takes_the_most_cautious_member() -> None:
    lenient = rule_oracle(rule("mild", "true", score=0.8, uncertainty=0.4), version=3)
    strict = rule_oracle(rule("harsh", "true", score=0.2, uncertainty=0.1), version=9)
    composite = CompositeOracle([lenient, strict], names=["rules", "classifier"])
    signal = composite.evaluate(proposal())
    assert (signal.safety_score, signal.uncertainty) == (0.2, 0.4)
    assert [e.rule_id for e in signal.evidence] == ["mild", "harsh"]
    assert composite.version == 3
    assert composite.digest != CompositeOracle([lenient, lenient]).digest


def test_a_failing_member_is_evidence_with_full_uncertainty() -> None:
    composite = CompositeOracle([rule_oracle(rule("a", "false")), BrokenOracle()], ["r", "vendor"])
    signal = composite.evaluate(proposal())
    assert signal.uncertainty == 1.0
    (item,) = signal.evidence
    assert item.kind is EvidenceKind.ORACLE_ERROR
    assert item.message == "oracle vendor failed: classifier unreachable"


def test_composite_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        CompositeOracle([])
    with pytest.raises(ValueError, match="one name per member"):
        CompositeOracle([BrokenOracle()], names=["a", "b"])
