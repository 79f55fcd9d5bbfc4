"""The enforcement layer: every verdict kind and tier, the revise budget, failing closed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement import Enforcer, TimeoutOracle, build_enforcer, verdict_event
from alignment_flywheel.enforcement.enforcer import merge_amendments
from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Decision
from alignment_flywheel.oracle import Amendment, OracleTimeoutError, UnknownToolError
from tests.support.oracles import (
    BrokenOracle,
    BusyOracle,
    SlowOracle,
    enforcer,
    policy,
    proposal,
    rule,
    rule_oracle,
)

LIMIT = {"set_arguments": {"limit": 10}, "constraints": ["max_rows<=10"]}


def test_allow_when_no_threshold_is_reached() -> None:
    verdict = enforcer(rule("mild", "true", score=0.8)).decide(proposal())
    assert verdict.decision is Decision.ALLOW
    assert verdict.tier == "standard"
    assert verdict.reasons == (
        "no threshold of tier standard reached",
        "rule mild: MEDIUM: mild matched",
    )
    assert verdict.error is None


def test_block_under_the_tiers_threshold() -> None:
    verdict = enforcer(rule("bad", "true", score=0.29)).decide(proposal())
    assert verdict.decision is Decision.BLOCK
    assert verdict.reasons[0] == "safety score 0.290 is under 0.3 (tier standard)"


def test_the_same_score_blocks_in_a_stricter_tier() -> None:
    gate = enforcer(rule("meh", "true", score=0.5))
    assert gate.decide(proposal()).decision is Decision.ALLOW
    critical = gate.decide(proposal(blast_radius="CRITICAL"))
    assert (critical.decision, critical.tier) == (Decision.BLOCK, "critical")


def test_escalate_when_uncertainty_reaches_the_limit() -> None:
    verdict = enforcer(rule("unsure", "true", score=0.9, uncertainty=0.5)).decide(proposal())
    assert verdict.decision is Decision.ESCALATE
    assert verdict.reasons[0] == "uncertainty 0.500 reaches 0.5 (tier standard)"


def test_escalate_when_a_rule_demands_review() -> None:
    verdict = enforcer(rule("ask", "true", score=0.9, review=True)).decide(proposal())
    assert verdict.decision is Decision.ESCALATE
    assert verdict.reasons[0] == "review demanded by ask"


def test_revise_within_the_budget_then_the_exhausted_action() -> None:
    gate = enforcer(rule("limit", "true", score=0.9, amendment=LIMIT))
    first = gate.decide(proposal(), revision_depth=0)
    assert first.decision is Decision.REVISE
    assert first.amendment == Amendment({"limit": 10}, (), ("max_rows<=10",))
    assert gate.decide(proposal(), revision_depth=1).decision is Decision.REVISE
    spent = gate.decide(proposal(), revision_depth=2)
    assert spent.decision is Decision.ESCALATE
    assert spent.reasons[0] == "revise budget 2 spent at depth 2: ESCALATE"
    assert spent.amendment is None
    critical = gate.decide(proposal(blast_radius="CRITICAL"), revision_depth=1)
    assert critical.decision is Decision.ESCALATE


def test_the_exhausted_action_is_policy() -> None:
    gate = enforcer(rule("limit", "true", score=0.9, amendment=LIMIT), on_revise_exhausted="BLOCK")
    assert gate.decide(proposal(), revision_depth=5).decision is Decision.BLOCK


def test_block_wins_over_revise() -> None:
    gate = enforcer(rule("limit", "true", score=0.9, amendment=LIMIT), rule("bad", "true", score=0))
    assert gate.decide(proposal()).decision is Decision.BLOCK


def test_amendments_merge_first_wins_and_unite() -> None:
    merged = merge_amendments(
        [
            Amendment({"limit": 10, "a": 1}, ("x",), ("c1",)),
            Amendment({"limit": 99}, ("y", "a"), ("c1", "c2")),
        ]
    )
    assert merged == Amendment({"limit": 10, "a": 1}, ("x", "y"), ("c1", "c2"))


def test_a_rule_error_escalates_instead_of_allowing() -> None:
    verdict = enforcer(rule("needs-path", "args.path == '/'", score=0.0)).decide(proposal())
    assert verdict.decision is Decision.ESCALATE
    assert verdict.reasons[1].startswith("error in needs-path: rule failed on this input")


@pytest.mark.parametrize(
    ("error", "action", "expected", "text"),
    [
        (None, "BLOCK", Decision.BLOCK, "oracle failed: OracleError('classifier unreachable')"),
        (None, "ESCALATE", Decision.ESCALATE, "oracle failed"),
        (RuntimeError("segfault-ish"), "BLOCK", Decision.BLOCK, "oracle crashed: RuntimeError"),
        (OracleTimeoutError("slow"), "BLOCK", Decision.ESCALATE, "oracle timed out: slow"),
    ],
)
def test_fail_closed_on_oracle_failure(
    error: Exception | None, action: str, expected: Decision, text: str
) -> None:
    gate = Enforcer(BrokenOracle(error), policy(on_oracle_error=action))
    verdict = gate.decide(proposal())
    assert verdict.decision is expected
    assert verdict.error is not None and verdict.error.startswith(text)
    assert verdict.signal is None
    assert (verdict.oracle_version, verdict.oracle_digest) == (7, "cd" * 32)
    event = verdict_event(verdict, proposal(), producer="test")
    assert (event.safety_score, event.uncertainty, event.error) == (0.0, 1.0, verdict.error)


def test_an_answer_that_computed_past_the_deadline_is_a_timeout() -> None:
    gate = Enforcer(BusyOracle(0.02), policy(oracle_timeout_ms=5, on_oracle_timeout="BLOCK"))
    verdict = gate.decide(proposal())
    assert verdict.decision is Decision.BLOCK
    assert verdict.error is not None and "of CPU, over the deadline" in verdict.error
    assert verdict.signal is not None


def test_waiting_is_not_computing_an_unbounded_wait_is_timeout_oracle_s_job() -> None:
    """A host that deschedules the decider (here: an oracle that waits) does not change the
    decision; an oracle that can block is wrapped in TimeoutOracle, which bounds the wait."""
    relaxed = policy(oracle_timeout_ms=5, on_oracle_timeout="BLOCK")
    assert Enforcer(SlowOracle(0.02), relaxed).decide(proposal()).decision is Decision.ALLOW
    bounded = Enforcer(TimeoutOracle(SlowOracle(0.5), timeout_s=0.02), relaxed)
    verdict = bounded.decide(proposal())
    assert verdict.decision is Decision.BLOCK and "oracle timed out" in (verdict.error or "")


def test_timeout_oracle_gives_up_on_a_hanging_oracle() -> None:
    bounded = TimeoutOracle(SlowOracle(0.5), timeout_s=0.02)
    try:
        with pytest.raises(OracleTimeoutError, match="no answer within 20 ms"):
            bounded.evaluate(proposal())
        verdict = Enforcer(bounded, policy()).decide(proposal())
        assert verdict.decision is Decision.ESCALATE
        assert (bounded.version, bounded.digest) == (8, "ef" * 32)
    finally:
        bounded.close()


def test_unknown_tool_is_bad_input_when_the_policy_refuses_it() -> None:
    gate = Enforcer(rule_oracle(rule("a", "true"), tools=["shell.exec"]), policy())
    with pytest.raises(UnknownToolError):
        gate.decide(proposal("rocket.launch", {}))


@pytest.mark.parametrize("action", ["BLOCK", "ESCALATE"])
def test_unknown_tool_gets_the_policys_verdict(action: str) -> None:
    oracle = rule_oracle(rule("a", "false"), tools=["shell.exec"])
    gate = Enforcer(oracle, policy(on_unknown_tool=action))
    verdict = gate.decide(proposal("rocket.launch", {}))
    assert verdict.decision is Decision(action)
    assert verdict.reasons == (
        f"tool 'rocket.launch' is not in the oracle's tool catalog (on_unknown_tool: {action})",
    )
    assert (verdict.oracle_digest, verdict.signal) == (oracle.digest, None)
    assert gate.decide(proposal("shell.exec", {"cmd": "ls"})).decision is Decision.ALLOW


def test_unknown_tool_is_never_allowed_by_the_policy() -> None:
    with pytest.raises(PolicyDocumentError, match="on_unknown_tool"):
        policy(on_unknown_tool="ALLOW")


def test_the_default_oracle_declares_its_tools_and_escalates_others(tmp_path: Path) -> None:
    from alignment_flywheel.config import load_settings  # noqa: PLC0415

    gate = build_enforcer(load_settings(state_dir=tmp_path))
    assert gate.decide(proposal("warp.drive", {"x": 1})).decision is Decision.ESCALATE
    assert gate.decide(proposal("shell.exec", {"cmd": "ls"})).decision is Decision.ALLOW


def test_verdict_records_versions_tier_evidence_and_latency() -> None:
    gate = enforcer(rule("bad", "true", score=0.0, norms=["N-9"]))
    verdict = gate.decide(proposal())
    assert (verdict.oracle_version, verdict.oracle_digest) == (1, gate.oracle.digest)
    assert verdict.policy_version == "test-1"
    assert verdict.latency_us >= 0
    event = verdict_event(verdict, proposal(), producer="test")
    assert event.evidence[0].rule_id == "bad"
    assert event.evidence[0].norm_refs == ("N-9",)
    assert event.tier == "standard"


def test_a_tier_that_fails_selects_the_strictest_tier() -> None:
    tiers = [
        {"name": "odd", "when": "risk.nope == 1", "block_below": 0.2, "escalate_uncertainty": 0.9},
        {"name": "strict", "when": "false", "block_below": 0.9, "escalate_uncertainty": 0.1},
        {"name": "standard", "block_below": 0.3, "escalate_uncertainty": 0.5},
    ]
    gate = Enforcer(rule_oracle(rule("m", "true", score=0.5)), policy(tiers=tiers))
    verdict = gate.decide(proposal())
    assert (verdict.decision, verdict.tier) == (Decision.BLOCK, "strict")
    assert "tier odd could not be evaluated" in verdict.reasons[-1]


def test_default_tier_when_no_tier_holds() -> None:
    tiers = [
        {"name": "never", "when": "false", "block_below": 0.9, "escalate_uncertainty": 0.1},
        {"name": "fallback", "when": "false", "block_below": 0.1, "escalate_uncertainty": 0.9},
    ]
    gate = Enforcer(rule_oracle(), policy(tiers=tiers, default_tier="fallback"))
    assert gate.decide(proposal()).tier == "fallback"


def test_policy_problems_are_all_reported() -> None:
    tiers = [
        {"name": "a", "when": "args.x == 1", "block_below": 0.2, "escalate_uncertainty": 0.9},
        {"name": "a", "when": "risk.(", "block_below": 2, "escalate_uncertainty": 0.9},
    ]
    with pytest.raises(PolicyDocumentError) as caught:
        policy(tiers=tiers, on_oracle_error="ALLOW")
    text = "\n".join(caught.value.problems)
    assert "tier a: block_below: Input should be less than or equal to 1" in text
    assert "on_oracle_error: Input should be 'BLOCK' or 'ESCALATE'" in text
    tiers[1]["block_below"] = 0.5
    with pytest.raises(PolicyDocumentError) as caught:
        policy(tiers=tiers, default_tier="missing")
    assert caught.value.problems == (
        "tier a: duplicate name",
        "default_tier: 'missing' is not one of ['a', 'a']",
        "tier a: when: a tier sees only risk and tool, not args",
        caught.value.problems[3],
    )
    assert caught.value.problems[3].startswith("tier a: when: Failed to parse expression")


def test_swap_oracle_is_atomic_for_decisions_in_flight() -> None:
    gate = enforcer(rule("v1", "true", score=0.9))
    replacement = rule_oracle(rule("v2", "true", score=0.0), version=2)
    results = []

    def decide_many() -> None:
        results.extend(gate.decide(proposal()) for _ in range(300))

    worker = threading.Thread(target=decide_many)
    worker.start()
    gate.swap_oracle(replacement)
    worker.join()
    assert gate.oracle is replacement
    for verdict in results:
        assert verdict.signal is not None
        expected = Decision.ALLOW if verdict.oracle_version == 1 else Decision.BLOCK
        assert verdict.decision is expected
        assert verdict.signal.evidence[0].rule_id == f"v{verdict.oracle_version}"
    assert gate.decide(proposal()).oracle_version == 2


def test_build_enforcer_reads_the_settings(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    oracle_file = tmp_path / "oracle.yaml"
    oracle_file.write_text("name: t\nversion: 5\nrules: []\n")
    gate = build_enforcer(settings_factory(oracle_path=oracle_file))
    assert gate.oracle.version == 5
    assert gate.policy.version == "2026.11-1"
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: x\n")
    with pytest.raises(PolicyDocumentError, match="default_tier: Field required"):
        build_enforcer(settings_factory(risk_policy_path=broken))


def test_the_artifact_can_set_a_tiers_thresholds() -> None:
    tightened = rule_oracle(
        rule("meh", "true", score=0.5), tiers={"standard": {"block_below": 0.6}}
    )
    verdict = Enforcer(tightened, policy()).decide(proposal())
    assert (verdict.decision, verdict.tier) == (Decision.BLOCK, "standard")
    assert verdict.reasons[0] == "safety score 0.500 is under 0.6 (tier standard)"
    budget = rule_oracle(
        rule("limit", "true", score=0.9, amendment=LIMIT), tiers={"standard": {"revise_budget": 0}}
    )
    assert Enforcer(budget, policy()).decide(proposal()).decision is Decision.ESCALATE
    untouched = Enforcer(tightened, policy()).decide(proposal(blast_radius="CRITICAL"))
    assert untouched.reasons[0] == "safety score 0.500 is under 0.7 (tier critical)"
