"""A gate worker for the integration tests and the benchmark, run in a subprocess.

Run as ``python -m tests.support.gate_worker SPEC_JSON`` (the cluster and its credentials come from
the environment, see :func:`start_gate_worker`) where the spec names the app id (consumer group),
the topics with the partition count, settings and faust overrides, and an optional per-decision
delay in milliseconds (so a test can kill the worker mid-stream). The worker decides with
:class:`ScriptedDecider`.

With ``catalog`` (a list of tool globs) the worker decides instead with the real enforcer over an
artifact that declares that tool catalog and no rules, and the default risk policy, whose
``on_unknown_tool`` the spec may set (``REFUSE``: a tool outside the catalog is bad input). With
``artifact`` (a whole oracle document) it decides with the real enforcer over that artifact and
the default risk policy, in the sessions' contexts. With ``"decider": "chains"`` it decides with
:class:`~tests.support.revise_cases.ChainDecider` (the revise-chain conformance cases).

The scripted decider decides by tool, so tests know the expected verdicts:
``fs.read``/``crm.update`` ALLOW, ``shell.exec`` BLOCK, ``email.send`` ESCALATE, ``sql.query``
REVISE (adds ``"limit": 100``) until the revise depth reaches ``REVISE_BUDGET``, then BLOCK;
any other tool BLOCK.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.enforcement import Enforcer
from alignment_flywheel.enforcement.policy import build_policy
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal
from alignment_flywheel.oracle import Amendment
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.gate import Decider, GateTopics, build_gate
from tests.support.env import worker_env
from tests.support.revise_cases import ChainDecider

REVISE_BUDGET = 2
_BY_TOOL = {
    "fs.read": Decision.ALLOW,
    "crm.update": Decision.ALLOW,
    "shell.exec": Decision.BLOCK,
    "email.send": Decision.ESCALATE,
}


@dataclass
class ScriptedDecider:
    """Decides by tool name; records nothing; optionally slow."""

    delay_s: float = 0.0

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict:
        if self.delay_s:
            time.sleep(self.delay_s)
        amendment = None
        if proposal.tool == "sql.query":
            spent = revision_depth >= REVISE_BUDGET
            decision = Decision.BLOCK if spent else Decision.REVISE
            reason = f"revise depth {revision_depth}" + (" spent the budget" if spent else "")
            amendment = None if spent else Amendment(set_arguments={"limit": 100})
        else:
            decision = _BY_TOOL.get(proposal.tool, Decision.BLOCK)
            reason = f"scripted {decision.value} for {proposal.tool}"
        return Verdict(
            decision=decision,
            tier="scripted",
            reasons=(reason,),
            policy_version="scripted-1",
            latency_us=1,
            amendment=amendment,
        )


def _decider(spec: dict[str, Any]) -> Decider:
    if spec.get("decider") == "chains":
        return ChainDecider()
    artifact = spec.get("artifact")
    if artifact is not None:
        policy = build_policy(dict(read_document(DEFAULT_RISK_POLICY)))
        return Enforcer(RuleOracle(build_artifact(artifact)), policy)
    catalog = spec.get("catalog")
    if catalog is not None:
        document = {"name": "catalog", "version": 1, "tools": catalog, "rules": []}
        oracle = RuleOracle(build_artifact(document))
        policy = dict(read_document(DEFAULT_RISK_POLICY))
        policy.update({k: spec[k] for k in ("on_unknown_tool",) if k in spec})
        return Enforcer(oracle, build_policy(policy))
    return ScriptedDecider(delay_s=float(spec.get("delay_ms", 0)) / 1000)


def main(spec_text: str) -> None:
    spec = json.loads(spec_text)
    settings = load_settings(**spec.get("settings", {}))
    topics = GateTopics(**spec["topics"])
    gate = build_gate(
        settings,
        _decider(spec),
        app_id=spec["app_id"],
        topics=topics,
        **spec.get("app_options", {}),
    )
    run_worker(gate.app, loglevel=spec.get("loglevel", "warning"))


REPO = Path(__file__).resolve().parents[2]


def start_gate_worker(
    spec: dict[str, Any], log_path: Path, cluster: Settings
) -> subprocess.Popen[bytes]:
    """Start a gate worker in a subprocess, its output going to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.gate_worker", json.dumps(spec)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_env(cluster),
        )


def stop_gate_worker(worker: subprocess.Popen[bytes], *, kill: bool = False) -> int:
    """SIGTERM (or SIGKILL) a worker and wait for it; returns its exit code."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        return worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.wait(10)


if __name__ == "__main__":
    main(sys.argv[1])
