"""The auto-approver's pure core (:mod:`.step`): a patch-log event in, its approvals out.

The step takes any decoded event of the patches topic and returns the automatic
``PatchApproved`` events to send there (:meth:`~.autoapprove.AutoApprover.approvals_for`). It
writes nothing: the role keeps no state. Rules:

* **What it signs.** A ``PatchProposed`` whose regression evidence passed emits one approval per
  configured key, in the order of the keys; one without passing evidence emits nothing.
* **Its own output.** The auto-approver reads the topic it writes to: approvals (its own among
  them) and rejections emit nothing, so its output never feeds back into more output.
* **Redelivery.** Ed25519 signatures are deterministic: a redelivered proposal gives the same
  approvals (patch id, key id, role, signature) in new envelopes (event id, time). The patch
  verifier counts one approval per key and role
  (:meth:`~alignment_flywheel.patches.verify.PatchVerifier.count_approvals`), so a duplicate
  changes no verdict.
* **Restarts.** With no state, a crash loses only uncommitted offsets: every proposal after the
  committed offset is stepped again and its approvals sent again. A crash after the broker
  confirmed approvals but before the offset was committed leaves them twice in the log (same
  signatures); no passing patch is left without its approvals.
"""

from __future__ import annotations

from alignment_flywheel.events import Event, PatchApproved, PatchProposed
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.step import Stepped, Tables


class AutoApproveCore:
    """The auto-approver's step (see the module rules)."""

    def __init__(self, approver: AutoApprover) -> None:
        self.approver = approver

    def __call__(self, tables: Tables, event: Event) -> Stepped[PatchApproved]:
        if not isinstance(event, PatchProposed):
            return Stepped()
        return Stepped(emitted=tuple(self.approver.approvals_for(event)))
