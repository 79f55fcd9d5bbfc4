"""The shipped oracle and risk policy against the conformance cases in tests/conformance/."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.enforcement import Enforcer, build_enforcer
from alignment_flywheel.events import Decision, EvidenceKind, Proposal, RiskContext
from alignment_flywheel.oracle import Amendment

CASES_DIR = Path(__file__).parents[1] / "conformance"
DEFAULT_RISK = {
    "origin": "AUTOMATED",
    "proposer_confidence": 0.9,
    "blast_radius": "LOW",
    "environment": "staging",
}


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


@pytest.fixture(scope="module")
def enforcer(settings_factory: Any) -> Enforcer:
    return build_enforcer(settings_factory())


@pytest.fixture(scope="module")
def settings_factory(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from alignment_flywheel.config import load_settings  # noqa: PLC0415

    return lambda: load_settings(state_dir=tmp_path_factory.mktemp("state"))


def proposal_of(case: dict[str, Any]) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="conformance",
        session_id="s",
        tool=case["tool"],
        arguments=json.dumps(case["arguments"]),
        risk=RiskContext(**{**DEFAULT_RISK, **case.get("risk", {})}),
    )


def test_there_are_cases_for_every_decision_and_tier() -> None:
    cases = [param.values[0] for param in _cases()]
    assert {c["decision"] for c in cases} == {d.value for d in Decision}
    assert {c["tier"] for c in cases if "tier" in c} == {
        "critical",
        "elevated",
        "sandbox",
        "standard",
    }


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict[str, Any], enforcer: Enforcer) -> None:
    verdict = enforcer.decide(proposal_of(case), revision_depth=case.get("revision_depth", 0))
    assert verdict.decision.value == case["decision"], verdict.reasons
    if "reason" in case:
        assert case["reason"] in verdict.reasons[0]
    if "tier" in case:
        assert verdict.tier == case["tier"]
    evidence = () if verdict.signal is None else verdict.signal.evidence
    if "rules" in case:
        matched = [e.rule_id for e in evidence if e.kind is EvidenceKind.RULE_MATCH]
        assert matched == case["rules"]
    if "errors" in case:
        failed = [e.rule_id for e in evidence if e.kind is EvidenceKind.RULE_ERROR]
        assert failed == case["errors"]
    if "amendment" in case:
        assert verdict.amendment == Amendment.from_json(json.dumps(case["amendment"]))
    assert verdict.oracle_digest == enforcer.oracle.digest
    assert verdict.policy_version == enforcer.policy.version
