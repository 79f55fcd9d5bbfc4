"""The staged enforcer (shadow and canary) and the rollout policy's judgement."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from alignment_flywheel.enforcement import verdict_event
from alignment_flywheel.enforcement.staged import Deployment, StagedEnforcer, canary_bucket
from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Decision, ReleaseStage
from alignment_flywheel.release.rollout import (
    Judgement,
    RolloutMetrics,
    RolloutPolicy,
    judge,
    load_rollout_policy,
)
from tests.support.oracles import policy, proposal, rule, rule_oracle

STABLE = rule_oracle(rule("mild", "true", score=0.9))
CANDIDATE = rule_oracle(rule("strict", 'args.cmd == "rm"', score=0.0), version=2)


def test_without_a_candidate_only_stable_decides() -> None:
    staged = StagedEnforcer(STABLE, policy()).decide_staged(proposal())
    assert staged.shadow is None
    assert staged.enforced.stage is ReleaseStage.STABLE and staged.enforced.enforced


def test_in_shadow_the_candidate_is_recorded_never_enforced() -> None:
    gate = StagedEnforcer(STABLE, policy())
    gate.deploy(Deployment(STABLE, CANDIDATE, ReleaseStage.SHADOW))
    staged = gate.decide_staged(proposal(arguments={"cmd": "rm"}))
    assert staged.enforced.decision is Decision.ALLOW
    assert staged.shadow is not None
    assert (staged.shadow.decision, staged.shadow.stage) == (Decision.BLOCK, ReleaseStage.SHADOW)
    assert not staged.shadow.enforced
    event = verdict_event(staged.shadow, proposal(), producer="test")
    assert (event.stage, event.enforced) == (ReleaseStage.SHADOW, False)


def test_canary_splits_by_a_stable_hash_of_proposer_and_session() -> None:
    gate = StagedEnforcer(STABLE, policy())
    gate.deploy(Deployment(STABLE, CANDIDATE, ReleaseStage.CANARY, canary_fraction=0.3))
    decided = [gate.decide_staged(proposal(arguments={"cmd": "rm"})) for _ in range(5)]
    assert len({(s.enforced.stage, s.enforced.decision) for s in decided}) == 1
    buckets = []
    for i in range(2000):
        item = proposal(arguments={"cmd": "rm"}).model_copy(update={"session_id": f"s{i}"})
        staged = gate.decide_staged(item)
        in_canary = canary_bucket(item) < 0.3
        assert staged.enforced.stage is (ReleaseStage.CANARY if in_canary else ReleaseStage.STABLE)
        assert staged.enforced.decision is (Decision.BLOCK if in_canary else Decision.ALLOW)
        assert staged.shadow is not None and not staged.shadow.enforced
        buckets.append(in_canary)
    assert 0.25 < sum(buckets) / len(buckets) < 0.35


def test_swap_oracle_drops_the_candidate() -> None:
    gate = StagedEnforcer(STABLE, policy())
    gate.deploy(Deployment(STABLE, CANDIDATE, ReleaseStage.SHADOW))
    gate.swap_oracle(CANDIDATE)
    assert gate.oracle is CANDIDATE and gate.deployment.candidate is None


def pairs(metrics: RolloutMetrics, count: int, candidate: str, stable: str) -> None:
    for _ in range(count):
        item = proposal(arguments={"cmd": candidate if candidate == "rm" else "ls"})
        gate = StagedEnforcer(STABLE, policy())
        gate.deploy(Deployment(STABLE, CANDIDATE, ReleaseStage.SHADOW))
        staged = gate.decide_staged(item)
        assert staged.shadow is not None
        metrics.add(verdict_event(staged.shadow, item, producer="t"))
        metrics.add(verdict_event(staged.enforced, item, producer="t"))


def test_metrics_pair_the_candidate_with_stable() -> None:
    metrics = RolloutMetrics(CANDIDATE.digest)
    pairs(metrics, 30, "ls", "ls")
    pairs(metrics, 10, "rm", "rm")
    figures = metrics.figures()
    assert figures["samples"] == 40
    assert figures["disagreement_rate"] == pytest.approx(0.25)
    assert figures["block_rate_delta"] == pytest.approx(0.25)
    assert figures["error_rate"] == 0
    (suspect,) = list(metrics.suspects)[:1]
    metrics.review_approved(suspect)
    metrics.review_approved(uuid.uuid4())
    assert metrics.figures()["reviewed_false_positives"] == 1


def figures(samples: float, **values: float) -> dict[str, float]:
    base = {
        "samples": samples,
        "disagreement_rate": 0.0,
        "block_rate_delta": 0.0,
        "escalation_rate_delta": 0.0,
        "error_rate": 0.0,
        "reviewed_false_positives": 0.0,
    }
    return {**base, **values}


def test_judgement_order_rollback_then_hold_then_promote_or_wait() -> None:
    rollout = load_rollout_policy()
    shadow = ReleaseStage.SHADOW
    verdict, why = judge(rollout, shadow, figures(60, block_rate_delta=0.2), 1)
    assert verdict is Judgement.ROLLBACK and why == ["block_rate_delta 0.2 over 0.05"]
    assert judge(rollout, shadow, figures(10, block_rate_delta=0.9), 1)[0] is Judgement.HOLD
    assert judge(rollout, shadow, figures(500), 5)[0] is Judgement.HOLD
    assert judge(rollout, shadow, figures(500), 500)[0] is Judgement.PROMOTE
    manual = RolloutPolicy.model_validate(
        {
            "name": "m",
            "stages": {"CANARY": {"min_samples": 1, "min_duration_s": 0, "promotion": "manual"}},
        }
    )
    assert judge(manual, ReleaseStage.CANARY, figures(5), 0)[0] is Judgement.WAIT


def test_a_bad_rollout_policy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text("name: x\nstages: {STABLE: {}}\ngates: {max_error_rate: 2}\n")
    with pytest.raises(PolicyDocumentError) as caught:
        load_rollout_policy(path)
    text = "\n".join(caught.value.problems)
    assert "stages are SHADOW and CANARY, not STABLE" in text
    assert "gates.max_error_rate" in text
