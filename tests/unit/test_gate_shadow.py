"""Shadow verdicts of the gate during a rollout."""

from __future__ import annotations

from dataclasses import replace as with_fields

from alignment_flywheel.enforcement import build_policy
from alignment_flywheel.enforcement.staged import Deployment, StagedEnforcer
from alignment_flywheel.events import ReleaseStage
from alignment_flywheel.processors.gate_events import (
    decision_id_for,
    envelope_record,
    shadow_decision_id_for,
    verdict_record,
)
from tests.support.oracles import policy_doc, proposal, rule, rule_oracle


def test_a_shadow_verdict_record_has_its_own_decision_id_and_is_not_enforced() -> None:
    gate = StagedEnforcer(rule_oracle(), build_policy(policy_doc()))
    candidate = rule_oracle(rule("strict", "true", score=0.0), version=2)
    gate.deploy(Deployment(gate.oracle, candidate, ReleaseStage.SHADOW))
    item = proposal()
    staged = gate.decide_staged(item)
    assert staged.shadow is not None
    envelope = envelope_record("gate", str(item.proposal_id), "t")
    enforced = verdict_record(staged.enforced, item, envelope=envelope)
    shadow = verdict_record(staged.shadow, item, envelope=envelope)
    assert (enforced["decision_id"], enforced["enforced"]) == (
        decision_id_for(item.proposal_id),
        True,
    )
    assert (shadow["decision_id"], shadow["enforced"]) == (
        shadow_decision_id_for(item.proposal_id),
        False,
    )
    assert shadow["stage"] is ReleaseStage.SHADOW and shadow["oracle_version"] == 2
    assert with_fields(staged.shadow, enforced=True).enforced
