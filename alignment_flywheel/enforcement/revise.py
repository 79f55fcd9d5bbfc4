"""The revise-depth rule: how deep in a revise chain a proposal is decided, for every decider.

A REVISE verdict carries an amendment; the proposer resubmits the revised call as a child naming
its parent (``parent_proposal_id``). The risk policy's ``revise_budget`` bounds how many REVISE
verdicts a chain may hold: a proposal is decided at a *revise depth*, the number of REVISE verdicts
its chain of parents holds before it, and may be REVISEd only while that depth is under the
budget (:mod:`alignment_flywheel.enforcement.policy`).

Rules (:func:`revise_depth`, :func:`revisions_spent`):

* A proposal without a parent is at depth 0.
* A child is at the depth its parent spent: the parent's depth, plus one when the parent got a
  REVISE. Verdicts other than REVISE add nothing.
* A child is at depth 1 at least: a resubmission answers a verdict, and a parent the decider never
  saw (decided elsewhere, forgotten, or not yet replicated to it) counts as one REVISE.

The SDK's guard, the gate and replay all count with :class:`ReviseChains`, each over its own store
of what each proposal spent: only a count above the floor is kept, so a store holds nothing for a
proposal whose chain has spent at most one REVISE.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping

from alignment_flywheel.events import Decision, Proposal

RESUBMISSION_FLOOR = 1
"""The least depth of a proposal that names a parent."""


def revise_depth(has_parent: bool, parent_spent: int = 0) -> int:
    """The revise depth of a proposal, from what its parent spent (0 when the parent is unknown)."""
    if not has_parent:
        return 0
    return max(RESUBMISSION_FLOOR, parent_spent)


def revisions_spent(depth: int, decision: Decision) -> int:
    """The REVISE verdicts a proposal's chain holds once it is decided: its depth, plus its own."""
    return depth + 1 if decision is Decision.REVISE else depth


class ReviseChains:
    """The revise depths of proposals over ``spent``, a store keyed by proposal id (as text) that
    the caller owns: a dict, a bounded dict, or the gate's replicated table."""

    def __init__(self, spent: MutableMapping[str, int]) -> None:
        self.spent = spent

    def depth(self, proposal: Proposal) -> int:
        """The depth to decide ``proposal`` at (see the module rules)."""
        return self.depth_under(proposal.parent_proposal_id)

    def depth_under(self, parent: uuid.UUID | None) -> int:
        if parent is None:
            return revise_depth(False)
        return revise_depth(True, self.spent.get(str(parent)) or 0)

    def record(self, proposal_id: uuid.UUID, depth: int, decision: Decision) -> bool:
        """Note what a decided proposal spent; True when the store took an entry."""
        spent = revisions_spent(depth, decision)
        if spent <= RESUBMISSION_FLOOR:
            return False
        self.spent[str(proposal_id)] = spent
        return True
