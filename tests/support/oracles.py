"""Helpers for oracle and enforcement tests: proposals, artifacts, policies, odd oracles."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from alignment_flywheel.enforcement import Enforcer, RiskPolicy, build_policy
from alignment_flywheel.events import Proposal, RiskContext
from alignment_flywheel.oracle import OracleError, OracleSignal
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.rules import RuleOracle

RISK = {
    "origin": "AUTOMATED",
    "proposer_confidence": 0.9,
    "blast_radius": "LOW",
    "environment": "staging",
}


def proposal(tool: str = "shell.exec", arguments: Any = None, **risk: Any) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="agent-1",
        session_id="session-1",
        tool=tool,
        arguments=json.dumps({"cmd": "ls"} if arguments is None else arguments),
        risk=RiskContext(**{**RISK, **risk}),
    )


def rule(rule_id: str, when: str, score: float = 0.1, **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "when": when, "score": score, "message": f"{rule_id} matched", **extra}


def artifact_doc(*rules: dict[str, Any], version: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": "test", "version": version, "rules": list(rules), **extra}


def rule_oracle(*rules: dict[str, Any], **extra: Any) -> RuleOracle:
    return RuleOracle(build_artifact(artifact_doc(*rules, **extra)))


def policy_doc(**extra: Any) -> dict[str, Any]:
    return {
        "version": "test-1",
        "default_tier": "standard",
        "tiers": [
            {
                "name": "critical",
                "when": 'risk.blast_radius == "CRITICAL"',
                "block_below": 0.7,
                "escalate_uncertainty": 0.2,
                "revise_budget": 1,
            },
            {"name": "standard", "block_below": 0.3, "escalate_uncertainty": 0.5},
        ],
        **extra,
    }


def policy(**extra: Any) -> RiskPolicy:
    return build_policy(policy_doc(**extra))


def enforcer(*rules: dict[str, Any], **policy_extra: Any) -> Enforcer:
    return Enforcer(rule_oracle(*rules), policy(**policy_extra))


class BrokenOracle:
    """Raises on every call: ``OracleError`` by default, or any exception given."""

    version = 7
    digest = "cd" * 32

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or OracleError("classifier unreachable")

    def evaluate(self, proposal: Proposal) -> OracleSignal:
        raise self.error


class BusyOracle:
    """Answers with a perfectly safe signal after computing for ``cpu_s`` of CPU time."""

    version = 8
    digest = "ef" * 32

    def __init__(self, cpu_s: float) -> None:
        self.cpu_s = cpu_s

    def evaluate(self, proposal: Proposal) -> OracleSignal:
        until = time.thread_time() + self.cpu_s
        while time.thread_time() < until:
            pass
        return OracleSignal(1.0, 0.0, (), self.version, self.digest)


class SlowOracle:
    """Answers with a perfectly safe signal after ``delay_s``."""

    version = 8
    digest = "ef" * 32

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def evaluate(self, proposal: Proposal) -> OracleSignal:
        time.sleep(self.delay_s)
        return OracleSignal(1.0, 0.0, (), self.version, self.digest)
