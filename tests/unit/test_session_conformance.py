"""The session conformance cases (tests/conformance/sessions/) without Kafka: the fold of each
session's events gives each call the expected provenance, decision and reason. The integration
test checks the SDK, the gate and replay agree on them."""

from __future__ import annotations

import pytest

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.provenance import fold, provenance
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.session_cases import SessionCase, artifact_document, session_cases


@pytest.fixture(scope="module")
def enforcer() -> Enforcer:
    policy = build_policy(dict(read_document(DEFAULT_RISK_POLICY)))
    return Enforcer(RuleOracle(build_artifact(artifact_document())), policy)


@pytest.mark.parametrize("case", session_cases(), ids=lambda case: case.name)
def test_each_call_gets_its_provenance_decision_and_reason(
    case: SessionCase, enforcer: Enforcer
) -> None:
    context = fold(case.session_events("agent-c", "s-c"))
    for call in case.calls:
        proposal = call.proposal("agent-c", "s-c")
        assert provenance(context, call.arguments) == call.provenance
        verdict = enforcer.decide(proposal, session=context)
        assert verdict.error is None
        assert verdict.decision is call.decision
        assert call.reason in verdict.reasons


def test_there_is_a_blocked_and_an_allowed_call() -> None:
    decisions = {call.decision.value for case in session_cases() for call in case.calls}
    assert {"ALLOW", "BLOCK"} <= decisions
