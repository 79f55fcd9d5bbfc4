"""Refinement's patch decision as a pure core (:mod:`.step`): a cluster update in, a patch or none.

The step reads the table ``changes`` (:func:`~.changes.change_key` of a base and a target digest
-> the id of the patch that first proposed it; a fold of the patches topic, so it survives a
restart exactly as the patches do) and takes a ``ClusterUpdated``. The refinement itself (the
cluster's members from the history, :func:`~.refinement.refine` on the tip of the chain) is the
shell's ``refine`` function: update -> a patch on the tip, or why there is none. Rules:

* **Which updates count.** An update that is not OPEN, or has fewer than ``min_members``
  members, emits and writes nothing.
* **A patch or a reason.** When refinement finds no patch, the step emits a :class:`Decline`
  with the reason and writes nothing; ``covered`` says the oracle refined on already blocks
  every member (the shell revisits such an update when that oracle was not the stable one).
* **The patch id** is :func:`~alignment_flywheel.events.ids.patch_id_for` of the cluster id, the
  size and the base digest: the same update refined on the same base gives the same id. The
  patch carries the cluster id and the
  update's sample finding ids.
* **One patch per change.** A patch whose change another patch id proposed first is declined
  (``duplicate``); one with the same id (a redelivered update, a restart before the update's
  offset was committed) is proposed again: the same patch, which the patch log keys by id.
* A proposed patch writes its change (first proposer kept) and emits a :class:`Propose`; the
  shell publishes it, then applies the write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alignment_flywheel.events import ClusterStatus, ClusterUpdated
from alignment_flywheel.events.ids import patch_id_for
from alignment_flywheel.governance.changes import change_key, first_proposer
from alignment_flywheel.governance.refinement import NoPatch, Refined
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches import Patch

CHANGES = "changes"
Refine = Callable[[ClusterUpdated], Refined | NoPatch]
"""The shell's refinement of an update (its patch's base is the oracle it refined on)."""


@dataclass(frozen=True, slots=True)
class Propose:
    """A patch to publish for an update, and the oracle it makes."""

    update: ClusterUpdated
    patch: Patch
    target: OracleArtifact


@dataclass(frozen=True, slots=True)
class Decline:
    """Why an update gets no patch; ``duplicate`` when another patch proposes its change,
    ``covered`` when the oracle it was refined on already blocks every member."""

    update: ClusterUpdated
    reason: str
    duplicate: bool = False
    covered: bool = False


Outcome = Propose | Decline


class RefinementCore:
    """The patch decision's step (see the module rules)."""

    def __init__(self, refine: Refine, *, min_members: int) -> None:
        self._refine = refine
        self.min_members = min_members

    def __call__(self, tables: Tables, update: ClusterUpdated) -> Stepped[Outcome]:
        return self.propose(tables, update) if self.wants(update) else Stepped()

    def wants(self, update: ClusterUpdated) -> bool:
        """Whether the update is refined at all."""
        return update.status is ClusterStatus.OPEN and update.size >= self.min_members

    def propose(self, tables: Tables, update: ClusterUpdated) -> Stepped[Outcome]:
        """Refine the update; a patch, or the reason there is none."""
        result = self._refine(update)
        if not isinstance(result, Refined):
            return Stepped(emitted=(Decline(update, result.reason, covered=result.covered),))
        patch_id = patch_id_for(update.cluster_id, update.size, result.patch.base_digest)
        earlier = first_proposer(tables[CHANGES], patch_id, result.patch)
        if earlier is not None:
            reason = f"patch {earlier} already proposes this change"
            return Stepped(emitted=(Decline(update, reason, duplicate=True),))
        patch = result.patch.model_copy(
            update={
                "patch_id": patch_id,
                "cluster_ids": (update.cluster_id,),
                "finding_ids": tuple(update.sample_finding_ids),
            }
        )
        key = change_key(patch.base_digest, patch.target_digest)
        writes = {} if key in tables[CHANGES] else {CHANGES: {key: patch_id}}
        return Stepped(writes, (Propose(update, patch, result.target),))
