"""Which patch first proposed each change, so a change is proposed once.

A cluster that grows usually refines to the same change again. :class:`ProposedChanges` remembers
which patch first proposed each change (its base and target digests), so the refinement processor
proposes a change once, however often its cluster is updated, and reviewers see one patch per
change. Its :attr:`~ProposedChanges.table` (:func:`change_key` -> first patch id) is the table of
the refinement core (:mod:`.refinement_core`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import MappingProxyType

from alignment_flywheel.events import PatchProposed
from alignment_flywheel.patches import Patch

Change = tuple[str, str]
"""A patch's effect: (base digest, target digest)."""


def change_key(base_digest: str, target_digest: str) -> str:
    """The table key of a change."""
    return f"{base_digest}/{target_digest}"


def first_proposer(
    table: Mapping[str, uuid.UUID], patch_id: uuid.UUID, patch: Patch
) -> uuid.UUID | None:
    """The earlier patch in ``table`` that already proposes ``patch``'s change, if another one
    does (the same patch id proposing it again is not a duplicate)."""
    first = table.get(change_key(patch.base_digest, patch.target_digest))
    return None if first is None or first == patch_id else first


class ProposedChanges:
    """The patch that first proposed each change, from the patches topic and from this worker.

    A change is a base digest and a target digest: two patches with both equal make the same
    oracle from the same one. A patch is a duplicate when another patch id proposed its change
    first; proposing the same patch id again (a re-delivered cluster update) is not.
    """

    def __init__(self) -> None:
        self._first: dict[str, uuid.UUID] = {}

    @property
    def table(self) -> Mapping[str, uuid.UUID]:
        """A read-only view: change key -> the first patch id."""
        return MappingProxyType(self._first)

    def note(self, event: PatchProposed) -> None:
        self.write({change_key(event.base_digest, event.target_digest): event.patch_id})

    def write(self, firsts: Mapping[str, uuid.UUID]) -> None:
        """Record first proposers; a change already recorded keeps its first."""
        for key, patch_id in firsts.items():
            self._first.setdefault(key, patch_id)

    def duplicate_of(self, patch_id: uuid.UUID, patch: Patch) -> uuid.UUID | None:
        """The earlier patch that already proposes ``patch``'s change, if another one does."""
        return first_proposer(self._first, patch_id, patch)

    def __len__(self) -> int:
        return len(self._first)
