"""The session-context conformance cases (tests/conformance/provenance/): each case's session
events, folded, give the expected provenance of its call and, with the file's rules and the
shipped risk policy, the expected decision."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.config import load_settings
from alignment_flywheel.enforcement import Enforcer, load_policy
from alignment_flywheel.events import (
    EvidenceKind,
    Proposal,
    RiskContext,
    SessionStarted,
    ToolResultObserved,
    new_envelope,
)
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.loader import risk_policy_path
from alignment_flywheel.oracle.provenance import SessionContext, SessionEvent, fold, provenance
from alignment_flywheel.oracle.rules import RuleOracle

CASES = Path(__file__).parents[1] / "conformance" / "provenance" / "cases.yaml"
DOCUMENT = yaml.safe_load(CASES.read_text())
RISK = RiskContext(
    origin="AUTOMATED", proposer_confidence=0.9, blast_radius="LOW", environment="staging"
)


@pytest.fixture(scope="module")
def enforcer(tmp_path_factory: pytest.TempPathFactory) -> Enforcer:
    settings = load_settings(state_dir=tmp_path_factory.mktemp("state"))
    artifact = build_artifact({"name": "provenance", "version": 1, "rules": DOCUMENT["rules"]})
    return Enforcer(RuleOracle(artifact), load_policy(risk_policy_path(settings)))


def session_event(step: dict[str, Any]) -> SessionEvent:
    common = {"envelope": new_envelope("conformance", "s"), "session_id": "s", "proposer_id": "c"}
    if "request" in step:
        return SessionStarted(**common, request=step["request"])
    return ToolResultObserved(**common, tool=step["tool"], output=step["output"])


def context_of(case: dict[str, Any]) -> SessionContext | None:
    steps = case.get("session")
    return None if steps is None else fold(session_event(step) for step in steps)


def proposal_of(call: dict[str, Any]) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="c",
        session_id="s",
        tool=call["tool"],
        arguments=json.dumps(call["arguments"]),
        risk=RISK,
    )


@pytest.mark.parametrize("case", DOCUMENT["cases"], ids=lambda case: case["name"])
def test_case(case: dict[str, Any], enforcer: Enforcer) -> None:
    context = context_of(case)
    call = case["call"]
    found = {} if context is None else provenance(context, call["arguments"])
    assert found == case["provenance"]
    verdict = enforcer.decide(proposal_of(call), session=context)
    assert verdict.decision.value == case["decision"], verdict.reasons
    evidence = () if verdict.signal is None else verdict.signal.evidence
    assert [e.rule_id for e in evidence if e.kind is EvidenceKind.RULE_MATCH] == case["rules"]
    assert [e for e in evidence if e.kind is EvidenceKind.RULE_ERROR] == []


def test_the_cases_cover_every_source_kind_and_the_decisions() -> None:
    cases = DOCUMENT["cases"]
    sources = {s for c in cases for found in c["provenance"].values() for s in found}
    assert {"user", "none", "trivial"} <= sources
    assert any(s.startswith("tool:") for s in sources)
    assert {c["decision"] for c in cases} == {"ALLOW", "BLOCK", "ESCALATE"}
    assert any("session" not in c for c in cases)
