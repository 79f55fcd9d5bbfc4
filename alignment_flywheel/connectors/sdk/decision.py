"""The types a guard works with: what it needs of an enforcer and of an oracle source, and what it
returns for each check (:class:`GuardDecision`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal
from alignment_flywheel.oracle import Amendment, Oracle


class SwappableDecider(Decider, Protocol):
    """What the guard needs of an enforcer (``alignment_flywheel.enforcement.Enforcer``): a
    :class:`~alignment_flywheel.enforcement.decider.Decider` whose oracle can be read and swapped
    (hot reload). One whose ``decide`` also takes ``session`` decides in the session's context
    (:class:`~alignment_flywheel.enforcement.decider.SessionDecider`)."""

    @property
    def oracle(self) -> Oracle: ...

    def swap_oracle(self, oracle: Oracle) -> None: ...


class OracleSource(Protocol):
    """A source of new oracle versions (the release follower of issue #4)."""

    def attach(self, swap: Callable[[Oracle], None]) -> None:
        """Call ``swap`` with each new oracle, from any thread."""
        ...


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """The result of a check: the proposal as decided, the verdict, and how to proceed."""

    proposal: Proposal
    verdict: Verdict
    arguments: dict[str, Any]
    revision_depth: int
    revised_arguments: dict[str, Any] | None = None
    review_id: uuid.UUID | None = None
    decision_id: uuid.UUID = field(default_factory=uuid.uuid4)
    decided_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def decision(self) -> Decision:
        return self.verdict.decision

    @property
    def proposal_id(self) -> uuid.UUID:
        return self.proposal.proposal_id

    @property
    def amendment(self) -> Amendment | None:
        return self.verdict.amendment

    @property
    def allowed(self) -> bool:
        return self.verdict.decision is Decision.ALLOW
