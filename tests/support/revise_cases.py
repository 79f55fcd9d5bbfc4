"""The revise-chain conformance cases (tests/conformance/revise/chains.yaml), read for the tests,
and the decider that gives each proposal of a chain the verdict its case names."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal

CASES = Path(__file__).parents[1] / "conformance" / "revise" / "chains.yaml"
CHAIN_TOOL = "chain.step"
"""The tool of every proposal of a chain; its arguments name the step and the verdict."""
REASON = "decided at revise depth "
"""How a :class:`ChainDecider` verdict's reason begins; the depth follows."""


@dataclass(frozen=True)
class Step:
    """One proposal of a chain: its name, its parent's name (``unknown``: one never decided),
    the verdict it gets and the revise depth it must be decided at."""

    name: str
    parent: str | None
    verdict: Decision
    depth: int

    def arguments(self, chain: str) -> dict[str, str]:
        return {"chain": chain, "step": self.name, "verdict": self.verdict.value}


@dataclass(frozen=True)
class Chain:
    name: str
    steps: tuple[Step, ...]

    def parents(self) -> dict[str, uuid.UUID | None]:
        """A fresh proposal id for each step, and for the unknown parent."""
        ids: dict[str, uuid.UUID | None] = {step.name: uuid.uuid4() for step in self.steps}
        ids["unknown"] = uuid.uuid4()
        ids[""] = None
        return ids


def chains() -> list[Chain]:
    return [
        Chain(
            raw["name"],
            tuple(
                Step(s["name"], s.get("parent"), Decision(s["verdict"]), int(s["depth"]))
                for s in raw["proposals"]
            ),
        )
        for raw in yaml.safe_load(CASES.read_text())
    ]


@dataclass
class ChainDecider:
    """Gives a chain step the verdict its arguments name (else ALLOW) and records the revise depth
    each proposal was decided at; its reason names that depth."""

    depths: dict[uuid.UUID, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict:
        with self.lock:
            self.depths[proposal.proposal_id] = revision_depth
        decision = Decision(proposal.arguments_object().get("verdict", "ALLOW"))
        return chain_verdict(decision, revision_depth)


def chain_verdict(decision: Decision, depth: int) -> Verdict:
    return Verdict(
        decision=decision,
        tier="scripted",
        reasons=(f"{REASON}{depth}",),
        policy_version="scripted-1",
        latency_us=1,
    )


def depth_of(verdict_reason: str) -> int:
    """The depth a :class:`ChainDecider` verdict names in its reason."""
    assert verdict_reason.startswith(REASON), verdict_reason
    return int(verdict_reason.removeprefix(REASON))


def step_arguments(chain: Chain, step: Step) -> str:
    return json.dumps(step.arguments(chain.name))


def sdk_depths(settings: Settings, chain: Chain) -> list[int]:
    """The depths a guard (deciding in process, publishing nothing) decides the chain at."""
    guard = Guard(settings, enforcer=ChainDecider(), publish=False, proposer_id="agent-chain")
    ids = chain.parents()
    depths = []
    for step in chain.steps:
        arguments = step.arguments(chain.name)
        result = guard.check(CHAIN_TOOL, arguments, parent_proposal_id=ids[step.parent or ""])
        ids[step.name] = result.proposal_id
        depths.append(result.revision_depth)
    return depths
