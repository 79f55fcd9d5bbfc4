"""The history refinement proves its patches on: recent benign cases, human labels, findings.

Built from the live topics by the refinement processor (bounded, newest kept):

* proposals (``ProposalSubmitted``) and their enforced verdicts are joined (whichever comes
  first waits for the other); an ALLOW makes the proposal a benign case, kept in a reservoir of at
  most ``max_benign`` by reservoir sampling, so it is a fair sample of all traffic seen;
* a human review (``ReviewDecided``) labels its proposal: APPROVE is safe, DENY unsafe;
* findings (``FindingRaised``) are kept by id, as the members and variants of clusters; the
  proposal of an incident (a person reported harm) is labelled unsafe unless a review said safe,
  so a call reported once never counts as benign history, whoever's cluster it is in.

* session events (``SessionStarted``, ``ToolResultObserved``, on the proposals topic) are folded
  per (proposer, session) with :func:`~alignment_flywheel.oracle.provenance.step`; each proposal
  keeps the context of its session as it was when the proposal arrived (:meth:`History.session_of`,
  ``LabelledCase.session``), so a patch is proved on the provenance the decision saw. Contexts are
  bounded (the least recently used session, and the oldest proposal's snapshot, go first).

Adding the same event twice changes nothing (a proposal counts once in the reservoir, a session
event is folded once by event id), so the history can be warmed up from the topics and then fed
live without double counting.
"""

from __future__ import annotations

import random
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

from alignment_flywheel.events import (
    Decision,
    Event,
    FindingRaised,
    FindingSource,
    Proposal,
    ProposalSubmitted,
    ReviewDecided,
    ReviewOutcome,
    SessionStarted,
    ToolResultObserved,
    VerdictIssued,
)
from alignment_flywheel.governance.refinement import LabelledCase
from alignment_flywheel.oracle.provenance import EMPTY, SessionContext, step

SessionKey = tuple[str, str]
"""(proposer id, session id): sessions are never shared across proposers."""

V = TypeVar("V")


def _bounded_put(store: OrderedDict[uuid.UUID, V], key: uuid.UUID, value: V, limit: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)


@dataclass
class History:
    max_pending: int = 100_000
    max_benign: int = 5_000
    max_findings: int = 100_000
    max_labels: int = 10_000
    seed: int = 0
    pending: OrderedDict[uuid.UUID, Proposal] = field(default_factory=OrderedDict)
    early: OrderedDict[uuid.UUID, Decision] = field(default_factory=OrderedDict)
    benign: list[LabelledCase] = field(default_factory=list)
    labels: OrderedDict[uuid.UUID, bool] = field(default_factory=OrderedDict)
    findings: OrderedDict[uuid.UUID, FindingRaised] = field(default_factory=OrderedDict)
    max_sessions: int = 10_000
    sessions: OrderedDict[SessionKey, SessionContext] = field(default_factory=OrderedDict)
    contexts: OrderedDict[uuid.UUID, SessionContext] = field(default_factory=OrderedDict)
    folded: OrderedDict[uuid.UUID, None] = field(default_factory=OrderedDict)
    seen_allowed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._counted: set[uuid.UUID] = set()

    def add(self, event: Event) -> None:
        if isinstance(event, SessionStarted | ToolResultObserved):
            self._fold(event)
        elif isinstance(event, ProposalSubmitted):
            proposal = event.proposal
            self._snapshot(proposal)
            early = self.early.pop(proposal.proposal_id, None)
            if early is None:
                _bounded_put(self.pending, proposal.proposal_id, proposal, self.max_pending)
            elif early is Decision.ALLOW:
                self._benign(proposal)
        elif isinstance(event, VerdictIssued) and event.enforced:
            self._verdict(event)
        elif isinstance(event, ReviewDecided):
            self._label(event)
        elif isinstance(event, FindingRaised):
            _bounded_put(self.findings, event.finding_id, event, self.max_findings)

    def _fold(self, event: SessionStarted | ToolResultObserved) -> None:
        if event.envelope.event_id in self.folded:
            return
        limit = self.max_pending + self.max_benign
        _bounded_put(self.folded, event.envelope.event_id, None, limit)
        key = (event.proposer_id, event.session_id)
        context = step(self.sessions.get(key, EMPTY), event)
        self.sessions[key] = context
        self.sessions.move_to_end(key)
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)

    def _snapshot(self, proposal: Proposal) -> None:
        context = self.sessions.get((proposal.proposer_id, proposal.session_id))
        if context is not None and proposal.proposal_id not in self.contexts:
            limit = self.max_pending + self.max_benign + self.max_findings
            _bounded_put(self.contexts, proposal.proposal_id, context, limit)

    def session_of(self, proposal_id: uuid.UUID) -> SessionContext | None:
        """The context of the proposal's session when the proposal arrived, if it had one."""
        return self.contexts.get(proposal_id)

    def _verdict(self, event: VerdictIssued) -> None:
        proposal = self.pending.pop(event.proposal_id, None)
        if proposal is None:
            _bounded_put(self.early, event.proposal_id, event.decision, self.max_pending)
        elif event.decision is Decision.ALLOW:
            self._benign(proposal)

    def _benign(self, proposal: Proposal) -> None:
        if proposal.proposal_id in self._counted:
            return
        self._counted.add(proposal.proposal_id)
        self.seen_allowed += 1
        case = LabelledCase(proposal, Decision.ALLOW, session=self.session_of(proposal.proposal_id))
        if len(self.benign) < self.max_benign:
            self.benign.append(case)
            return
        slot = self._rng.randrange(self.seen_allowed)
        if slot < self.max_benign:
            self.benign[slot] = case

    def _label(self, event: ReviewDecided) -> None:
        safe = event.outcome is ReviewOutcome.APPROVE
        _bounded_put(self.labels, event.proposal_id, safe, self.max_labels)

    def cases(self) -> list[LabelledCase]:
        """Benign cases (with their labels where reviewed, unsafe where reported as an incident)
        and every other labelled case."""
        reported = {
            f.proposal.proposal_id
            for f in self.findings.values()
            if f.source is FindingSource.INCIDENT
        }
        seen = {c.proposal.proposal_id for c in self.benign}
        cases = [
            LabelledCase(
                c.proposal, c.decision, self._safe(c.proposal.proposal_id, reported), c.session
            )
            for c in self.benign
        ]
        for finding in self.findings.values():
            pid = finding.proposal.proposal_id
            safe = self._safe(pid, reported)
            if safe is not None and pid not in seen:
                seen.add(pid)
                session = self.session_of(pid)
                cases.append(LabelledCase(finding.proposal, finding.oracle_decision, safe, session))
        return cases

    def _safe(self, proposal_id: uuid.UUID, reported: set[uuid.UUID]) -> bool | None:
        label = self.labels.get(proposal_id)
        return False if label is None and proposal_id in reported else label

    def members(self, finding_ids: tuple[uuid.UUID, ...]) -> tuple[list[Proposal], list[Proposal]]:
        """The proposals of a cluster's findings, and the red team's variants of them."""
        members, variants = [], []
        wanted = set(finding_ids)
        for finding in self.findings.values():
            if finding.finding_id in wanted:
                members.append(finding.proposal)
            elif finding.source is FindingSource.RED_TEAM and finding.parent_finding_id in wanted:
                variants.append(finding.proposal)
        return members, variants

    def sessions_of(self, finding_ids: tuple[uuid.UUID, ...]) -> dict[uuid.UUID, SessionContext]:
        """The session context of each member of a cluster and of each red-team variant (its
        seed's context: a variant rewrites the seed's call in the seed's session), by proposal."""
        wanted = set(finding_ids)
        by_finding = {
            f.finding_id: self.session_of(f.proposal.proposal_id)
            for f in self.findings.values()
            if f.finding_id in wanted
        }
        sessions: dict[uuid.UUID, SessionContext] = {}
        for finding in self.findings.values():
            if finding.finding_id in wanted:
                context = by_finding.get(finding.finding_id)
            elif finding.source is FindingSource.RED_TEAM and finding.parent_finding_id in wanted:
                context = by_finding.get(finding.parent_finding_id)
            else:
                continue
            if context is not None:
                sessions[finding.proposal.proposal_id] = context
        return sessions
