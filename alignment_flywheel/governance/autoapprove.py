"""The auto-approver: a designated key that signs patches with passing regression evidence.

For CI and demos only: the loop otherwise stops at human sign-off. Rules:

* It signs only a ``PatchProposed`` whose regression evidence passed; anything else waits for a
  human. Each approval is a ``PatchApproved`` in role ``approver`` with ``automatic`` true, so
  events, the ledger and the review console show that no human signed.
* It is configured by ``auto_approve_keys`` (names of keys in ``keys_dir``); the settings refuse
  it when ``deployment`` is ``production`` unless ``allow_auto_approve_in_production`` is set.
* The trust root decides whether its signatures count: its keys must hold the approver role, and
  the approver threshold says how many are needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.config import Settings
from alignment_flywheel.events import PatchApproved, PatchProposed
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.patches.keys import KeyStore


@dataclass(frozen=True)
class AutoApprover:
    keys: Sequence[Ed25519PrivateKey]
    producer: str

    def approvals_for(self, event: PatchProposed) -> list[PatchApproved]:
        """Automatic approvals of a patch whose regression passed; none otherwise."""
        if event.regression is None or not event.regression.passed:
            return []
        patch = Patch.from_event(event)
        return [
            approve(patch, key, role="approver", producer=self.producer, automatic=True)
            for key in self.keys
        ]


def auto_approver_for(settings: Settings) -> AutoApprover | None:
    """The auto-approver the settings configure, or None."""
    if not settings.auto_approve_keys:
        return None
    store = KeyStore(settings.effective_keys_dir)
    keys = [store.private(name) for name in settings.auto_approve_keys]
    return AutoApprover(keys, f"{settings.identity}/auto-approver")
