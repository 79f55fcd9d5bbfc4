"""Which patch first proposed each change, so a change is proposed once.

A cluster that grows usually refines to the same change again. :class:`ProposedChanges` remembers
which patch first proposed each change (its base and target digests), so the refinement processor
proposes a change once, however often its cluster is updated, and reviewers see one patch per
change.
"""

from __future__ import annotations

import uuid

from alignment_flywheel.events import PatchProposed
from alignment_flywheel.patches import Patch

Change = tuple[str, str]
"""A patch's effect: (base digest, target digest)."""


class ProposedChanges:
    """The patch that first proposed each change, from the patches topic and from this worker.

    A change is a base digest and a target digest: two patches with both equal make the same
    oracle from the same one. A patch is a duplicate when another patch id proposed its change
    first; proposing the same patch id again (a re-delivered cluster update) is not.
    """

    def __init__(self) -> None:
        self._first: dict[Change, uuid.UUID] = {}

    def note(self, event: PatchProposed) -> None:
        self._first.setdefault((event.base_digest, event.target_digest), event.patch_id)

    def duplicate_of(self, patch_id: uuid.UUID, patch: Patch) -> uuid.UUID | None:
        """The earlier patch that already proposes ``patch``'s change, if another one does."""
        first = self._first.get((patch.base_digest, patch.target_digest))
        return None if first is None or first == patch_id else first

    def __len__(self) -> int:
        return len(self._first)
