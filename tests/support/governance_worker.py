"""Governance workers for the integration tests, run in a subprocess.

The cluster and its credentials come from the environment (``start_*`` sets them). Run as
``python -m tests.support.governance_worker SPEC_JSON``; the spec names the role (``verification``,
``redteam``, ``intake``, ``autoapprove`` or ``drift``), the app id, the topics (the processor's
topics dataclass fields, or for ``autoapprove`` its ``patches`` and ``dead_letters`` arguments),
settings overrides, faust overrides (``app_options``), and ``delay_ms``: a pause per record (per
norms judgement, intake decision, auto-approval or drift observation), so a test can kill the worker
mid-stream.

* The red team attacks the shipped oracle through the shipped risk policy (no release
  following), with ``seed`` and ``budget``.
* Intake decides with the gate tests' :class:`ScriptedDecider` (no release following).
* The auto-approver signs with ``keys``: raw Ed25519 private keys in hex.
* Drift watches with ``warmup`` and ``tool_warmup`` (as ``flywheel drift run``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.enforcement.policy import load_policy
from alignment_flywheel.events import PatchApproved, PatchProposed, Proposal, VerdictIssued
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.drift import Detection, DriftWatch
from alignment_flywheel.governance.norms import NormJudgement, Norms, load_norms
from alignment_flywheel.governance.redteam import Target, targets
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY, load_oracle
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.autoapprove import AutoApproval
from alignment_flywheel.processors.drift import DriftTopics, build_drift
from alignment_flywheel.processors.intake import IntakeTopics, build_intake
from alignment_flywheel.processors.redteam import RedTeamTopics, build_redteam
from alignment_flywheel.processors.verification import VerificationTopics, build_verification
from tests.support.env import worker_env
from tests.support.gate_worker import ScriptedDecider

REPO = Path(__file__).resolve().parents[2]


class SlowNorms(Norms):
    """The shipped norms, pausing before each judgement."""

    def __init__(self, base: Norms, delay_s: float) -> None:
        super().__init__(base.spec, base.norms)
        self.delay_s = delay_s

    def judge(self, proposal: Proposal) -> NormJudgement:
        time.sleep(self.delay_s)
        return super().judge(proposal)


@dataclass(frozen=True)
class SlowAutoApprover(AutoApprover):
    """An auto-approver pausing before each patch it answers."""

    delay_s: float = 0.0

    def approvals_for(self, event: PatchProposed) -> list[PatchApproved]:
        time.sleep(self.delay_s)
        return super().approvals_for(event)


class SlowDriftWatch(DriftWatch):
    """A drift watch pausing before each observation."""

    def __init__(self, delay_s: float, **options: int) -> None:
        super().__init__(**options)
        self.delay_s = delay_s

    def observe(self, proposal: Proposal, verdict: VerdictIssued) -> list[Detection]:
        time.sleep(self.delay_s)
        return super().observe(proposal, verdict)


def shipped_targets(settings: Settings) -> tuple[Target, ...]:
    """What the red-team worker attacks: the shipped oracle and risk policy."""
    return targets(load_policy(DEFAULT_RISK_POLICY), load_oracle(settings))


def _governance_app(spec: dict[str, Any], settings: Settings, delay_s: float) -> Any:
    """The app of the intake, auto-approver or drift role."""
    options = spec.get("app_options", {})
    if spec["role"] == "intake":
        decider = ScriptedDecider(delay_s=delay_s)
        topics = IntakeTopics(**spec["topics"])
        return build_intake(settings, decider, app_id=spec["app_id"], topics=topics, **options).app
    if spec["role"] == "autoapprove":
        keys = [Ed25519PrivateKey.from_private_bytes(bytes.fromhex(k)) for k in spec["keys"]]
        approver = SlowAutoApprover(keys, f"{settings.identity}/auto-approver", delay_s=delay_s)
        return AutoApproval(
            settings, approver, app_id=spec["app_id"], **spec["topics"], **options
        ).app
    watch = SlowDriftWatch(delay_s, warmup=spec["warmup"], tool_warmup=spec["tool_warmup"])
    app = build_drift(
        settings, watch=watch, app_id=spec["app_id"], topics=DriftTopics(**spec["topics"])
    ).app
    for name, value in options.items():  # the drift builder takes no faust overrides
        setattr(app.conf, name, value)
    return app


def main(spec_text: str) -> None:
    spec = json.loads(spec_text)
    settings = load_settings(**spec.get("settings", {}))
    delay_s = float(spec.get("delay_ms", 0)) / 1000
    if spec["role"] in {"intake", "autoapprove", "drift"}:
        run_worker(_governance_app(spec, settings, delay_s))
        return
    norms = SlowNorms(load_norms(), delay_s)
    if spec["role"] == "verification":
        topics = VerificationTopics(**spec["topics"])
        app = build_verification(
            settings, norms, app_id=spec["app_id"], topics=topics, **spec.get("app_options", {})
        ).app
    else:
        attacked = shipped_targets(settings)
        app = build_redteam(
            settings,
            norms,
            lambda: attacked,
            seed=spec["seed"],
            budget=spec["budget"],
            app_id=spec["app_id"],
            topics=RedTeamTopics(**spec["topics"]),
            app_options=spec.get("app_options", {}),
        ).app
    run_worker(app)


def start_worker(
    spec: dict[str, Any], log_path: Path, cluster: Settings
) -> subprocess.Popen[bytes]:
    """Start a worker in a subprocess, its output going to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.governance_worker", json.dumps(spec)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=worker_env(cluster),
        )


if __name__ == "__main__":
    main(sys.argv[1])
