"""Named sets, effect classes and roles against tests/conformance/catalog/ (its own artifact)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import EvidenceKind, Proposal, RiskContext
from alignment_flywheel.oracle import Amendment
from alignment_flywheel.oracle.artifact import load_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle

CATALOG_DIR = Path(__file__).parents[1] / "conformance" / "catalog"
DEFAULT_RISK = {
    "origin": "AUTOMATED",
    "proposer_confidence": 0.9,
    "blast_radius": "LOW",
    "environment": "staging",
}


def _cases() -> list[Any]:
    cases = yaml.safe_load((CATALOG_DIR / "cases.yaml").read_text())
    return [pytest.param(case, id=case["name"]) for case in cases]


@pytest.fixture(scope="module")
def enforcer() -> Enforcer:
    oracle = RuleOracle(load_artifact(CATALOG_DIR / "oracle.yaml"))
    return Enforcer(oracle, build_policy(read_document(DEFAULT_RISK_POLICY)))


def proposal_of(case: dict[str, Any]) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="conformance",
        session_id="s",
        tool=case["tool"],
        arguments=json.dumps(case["arguments"]),
        risk=RiskContext(**{**DEFAULT_RISK, **case.get("risk", {})}),
    )


def test_the_artifact_uses_every_new_form() -> None:
    spec = load_artifact(CATALOG_DIR / "oracle.yaml").spec
    assert spec.data and spec.tools and any(not isinstance(t, str) for t in spec.tools)
    text = "\n".join(rule.when for rule in spec.rules)
    assert all(name in text for name in ("data.", "effect", "roles"))


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
