"""The cluster's own regression: what a candidate patch must stop, and the benign history it may
not change (the rules are :mod:`.refinement`'s "cluster's own regression").

* The history a patch is judged on leaves out the cluster's own calls: its members, and the same
  calls (tool and arguments) as a member or variant (:func:`own_history`).
* Its benign cases are those the base oracle allowed and no one labelled unsafe, of the cluster's
  tools, or of the tools the rule's glob names when it reaches beyond them (:func:`benign_cases`).
* :func:`regression` replays them with the patched oracle, each proposal in its session context.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from alignment_flywheel.enforcement import Enforcer
from alignment_flywheel.events import Decision, Proposal, RegressionEvidence, Severity
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.replay.engine import Case as ReplayCase
from alignment_flywheel.replay.engine import Evaluator, replay_diff


@dataclass(frozen=True, slots=True)
class LabelledCase:
    """A past proposal, the decision it got, and a human label if reviewed (True: safe)."""

    proposal: Proposal
    decision: Decision
    safe: bool | None = None
    session: SessionContext | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    """What refinement needs of a cluster."""

    name: str
    members: Sequence[Proposal]
    variants: Sequence[Proposal] = ()
    severity: Severity = Severity.HIGH
    norms: Sequence[str] = ()
    sessions: Mapping[uuid.UUID, SessionContext] = field(default_factory=dict)
    """The session context of members and variants, by proposal id (where known)."""

    @property
    def rule_id(self) -> str:
        return f"refined.{self.name}"

    @property
    def tools(self) -> frozenset[str]:
        return frozenset(p.tool for p in self.members)


def own_history(cluster: Cluster, history: Sequence[LabelledCase]) -> list[LabelledCase]:
    """The history without the cluster's own calls: members and the same calls again."""
    ids = {p.proposal_id for p in cluster.members}
    calls = {call_key(p) for p in (*cluster.members, *cluster.variants)}
    return [
        c
        for c in history
        if c.proposal.proposal_id not in ids and call_key(c.proposal) not in calls
    ]


def call_key(proposal: Proposal) -> tuple[str, str]:
    return proposal.tool, json.dumps(proposal.arguments_object(), sort_keys=True)


def benign_cases(
    cluster: Cluster, history: Sequence[LabelledCase], tools: str | None = None
) -> list[LabelledCase]:
    """The confirmed-benign history a patch for ``cluster`` is judged on: the cases of its tools,
    or of the tools the glob ``tools`` names when the rule reaches beyond them."""

    def covered(tool: str) -> bool:
        return tool in cluster.tools if tools is None else fnmatch.fnmatchcase(tool, tools)

    return [
        c
        for c in history
        if c.decision is Decision.ALLOW and c.safe is not False and covered(c.proposal.tool)
    ]


def regression(
    cluster: Cluster,
    enforcer: Enforcer,
    history: Sequence[LabelledCase],
    fp_budget: float,
    *,
    must_block: Sequence[Proposal] | None = None,
    tools: str | None = None,
) -> RegressionEvidence:
    """The cluster's own regression (module rules), replayed with ``enforcer`` (the patched
    oracle) through the replay engine: each distinct proposal is decided once; the benign history
    of the cluster's tools (or of the rule's ``tools`` glob when it reaches beyond them) is
    diffed against its recorded ALLOW."""
    evaluator = Evaluator(enforcer)
    own = own_history(cluster, history)
    sessions = {**_sessions(own), **cluster.sessions}
    blocking = list(cluster.members) + list(cluster.variants) if must_block is None else must_block
    blocked = sum(d is Decision.BLOCK for d in evaluator.decisions(blocking, sessions=sessions))
    benign = benign_cases(cluster, own, tools)
    replayed = (ReplayCase(c.proposal, Decision.ALLOW, session=c.session) for c in benign)
    diff = replay_diff(replayed, evaluator)
    false_positives = diff.tally.changed + len(diff.refused)
    labelled = [c for c in own if c.safe is True]
    decisions = evaluator.decisions((c.proposal for c in labelled), sessions=sessions)
    kept = sum(d is not None and d is not Decision.BLOCK for d in decisions)
    fp_rate = false_positives / len(benign) if benign else 0.0
    passed = blocked == len(blocking) and fp_rate <= fp_budget and kept == len(labelled)
    report = (
        f"{blocked}/{len(blocking)} members and variants blocked; "
        f"{false_positives}/{len(benign)} benign cases of its tools changed "
        f"(budget {fp_budget:.2%}); {kept}/{len(labelled)} calls labelled safe kept"
    )
    return RegressionEvidence(
        cases=len(blocking) + len(benign) + len(labelled),
        expected_blocked=len(blocking),
        blocked=blocked,
        benign=len(benign),
        false_positives=false_positives,
        false_positive_rate=fp_rate,
        labelled=len(labelled),
        labels_kept=kept,
        passed=passed,
        report=report,
    )


def _sessions(cases: Sequence[LabelledCase]) -> dict[uuid.UUID, SessionContext]:
    return {c.proposal.proposal_id: c.session for c in cases if c.session is not None}
