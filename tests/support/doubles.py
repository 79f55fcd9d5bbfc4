"""Test doubles the workers take through the CLI's hidden hooks (``alignment_flywheel.cli.hooks``).

Each hook here is called with the component the ``run`` command built and returns its
replacement, e.g. ``flywheel gate run --decider tests.support.doubles:scripted``. ``slow_*``
hooks pause ``TEST_RECORD_DELAY_MS`` milliseconds (from the worker's environment, default 0) per
record, so a test can kill the worker mid-stream:

* ``--decider``: :func:`scripted` (:class:`ScriptedDecider`), :func:`slow_scripted`,
  :func:`chains` (the revise-chain conformance cases' decider);
* ``--judge``: :func:`slow_norms`; ``--approver``: :func:`slow_approver`; ``--watch``:
  :func:`slow_watch`.

The scripted decider decides by tool, so tests know the expected verdicts:
``fs.read``/``crm.update`` ALLOW, ``shell.exec`` BLOCK, ``email.send`` ESCALATE, ``sql.query``
REVISE (adds ``"limit": 100``) until the revise depth reaches ``REVISE_BUDGET``, then BLOCK;
any other tool BLOCK.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import (
    Decision,
    PatchApproved,
    PatchProposed,
    Proposal,
    VerdictIssued,
)
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.drift import Detection, DriftWatch
from alignment_flywheel.governance.norms import NormJudgement, Norms
from alignment_flywheel.oracle import Amendment
from tests.support.revise_cases import ChainDecider

DELAY_ENV = "TEST_RECORD_DELAY_MS"
REVISE_BUDGET = 2
_BY_TOOL = {
    "fs.read": Decision.ALLOW,
    "crm.update": Decision.ALLOW,
    "shell.exec": Decision.BLOCK,
    "email.send": Decision.ESCALATE,
}


def record_delay_s() -> float:
    """The pause per record the environment asks for, in seconds."""
    return float(os.environ.get(DELAY_ENV, "0")) / 1000


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


def scripted(_built: object) -> ScriptedDecider:
    return ScriptedDecider()


def slow_scripted(_built: object) -> ScriptedDecider:
    return ScriptedDecider(delay_s=record_delay_s())


def chains(_built: object) -> ChainDecider:
    return ChainDecider()


class SlowNorms(Norms):
    """Norms pausing before each judgement."""

    def __init__(self, base: Norms, delay_s: float) -> None:
        super().__init__(base.spec, base.norms)
        self.delay_s = delay_s

    def judge(self, proposal: Proposal) -> NormJudgement:
        time.sleep(self.delay_s)
        return super().judge(proposal)


def slow_norms(norms: Norms) -> Norms:
    return SlowNorms(norms, record_delay_s())


@dataclass(frozen=True)
class SlowAutoApprover(AutoApprover):
    """An auto-approver pausing before each patch it answers."""

    delay_s: float = 0.0

    def approvals_for(self, event: PatchProposed) -> list[PatchApproved]:
        time.sleep(self.delay_s)
        return super().approvals_for(event)


def slow_approver(approver: AutoApprover) -> AutoApprover:
    return SlowAutoApprover(approver.keys, approver.producer, delay_s=record_delay_s())


class SlowDriftWatch(DriftWatch):
    """A drift watch pausing before each observation."""

    def __init__(self, base: DriftWatch, delay_s: float) -> None:
        super().__init__(
            warmup=base.warmup,
            tool_warmup=base.tool_warmup,
            samples_per_detection=base.samples_per_detection,
        )
        self.delay_s = delay_s

    def observe(self, proposal: Proposal, verdict: VerdictIssued) -> list[Detection]:
        time.sleep(self.delay_s)
        return super().observe(proposal, verdict)


def slow_watch(watch: DriftWatch) -> DriftWatch:
    return SlowDriftWatch(watch, record_delay_s())
