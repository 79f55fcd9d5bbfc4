"""The runtime conformance cases (tests/conformance/*.yaml, catalog/): a case's proposal, and the
checks its verdict must pass (the keys are described in tests/conformance/README.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from alignment_flywheel.enforcement import Enforcer, Verdict
from alignment_flywheel.events import EvidenceKind, Proposal, RiskContext
from alignment_flywheel.oracle import Amendment

DEFAULT_RISK = {
    "origin": "AUTOMATED",
    "proposer_confidence": 0.9,
    "blast_radius": "LOW",
    "environment": "staging",
}


def proposal_of(case: dict[str, Any]) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="conformance",
        session_id="s",
        tool=case["tool"],
        arguments=json.dumps(case["arguments"]),
        risk=RiskContext(**{**DEFAULT_RISK, **case.get("risk", {})}),
    )


def decided(case: dict[str, Any], enforcer: Enforcer) -> Verdict:
    """The case's verdict, checked against every expectation the case states."""
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
    return verdict
