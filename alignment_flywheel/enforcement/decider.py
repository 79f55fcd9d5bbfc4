"""What every enforcement point decides with: the enforcer, or anything that decides like it.

The SDK, the HTTP endpoint, the gate, replay, incident intake and the red team all take a
:class:`Decider`. A decider whose ``decide`` also takes ``session`` (a
:class:`~alignment_flywheel.oracle.provenance.SessionContext`, as the enforcers do) is a
:class:`SessionDecider`: callers pass the session only to a decider that takes it, so one without
the keyword decides as before.
"""

from __future__ import annotations

from typing import Protocol

from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle.provenance import SessionContext


class Decider(Protocol):
    """Decides a proposal at a revise depth (:mod:`alignment_flywheel.enforcement.revise`)."""

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict: ...


class SessionDecider(Protocol):
    """A decider that takes the session context (the enforcers do)."""

    def decide(
        self, proposal: Proposal, *, revision_depth: int = 0, session: SessionContext | None = None
    ) -> Verdict: ...
