"""Signature verification where releases are made and where they are followed.

* :class:`ReleaseGate` is the release controller's ``approved`` hook: a patch is released only
  when :class:`~alignment_flywheel.patches.verify.PatchVerifier` accepts it against the trust root
  and the stable oracle (base, version, signatures, thresholds, freshness, in that order). A patch
  that only lacks signatures (threshold not met) waits; any other security failure is a rejection,
  kept in ``rejections`` for the controller to publish as ``PatchRejected`` (once per patch).
* :func:`chain_check` is a follower's ``check`` hook: every patch in a released chain must carry
  valid signatures meeting the thresholds of the trust root. Freshness is not checked there: an
  expired patch or root must not stop a gate from rebuilding what was released while they were
  valid. A failing chain is not deployed (the follower keeps its oracle and counts the error).
* :func:`trust_root_for` reads the trust root file of the settings; without one, releases are
  followed unverified and a warning says so (a development set-up), never silently.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from alignment_flywheel.config import Settings
from alignment_flywheel.events import PatchApproved, PatchRejected
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.errors import PatchSecurityError, ThresholdNotMetError
from alignment_flywheel.patches.trust import TrustRoot, load_root_file
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier, rejection_event
from alignment_flywheel.release.rebuild import PatchCheck

log = logging.getLogger(__name__)


class ReleaseGate:
    """Decides whether a patch may be released on top of the stable oracle."""

    def __init__(self, root: TrustRoot, producer: str) -> None:
        self.verifier = PatchVerifier(root, OracleHead(0, "0" * 64))
        self.rejections: list[PatchRejected] = []
        self._producer = producer
        self._rejected: set[uuid.UUID] = set()

    def __call__(self, patch: Patch, approvals: Sequence[PatchApproved]) -> bool:
        if patch.patch_id in self._rejected:
            return False
        self.verifier.advance(OracleHead(patch.base_version, patch.base_digest))
        try:
            self.verifier.verify(patch, approvals, datetime.now(UTC))
        except ThresholdNotMetError:
            return False
        except PatchSecurityError as exc:
            self._rejected.add(patch.patch_id)
            log.warning("patch %s rejected: %s", patch.patch_id, exc)
            self.rejections.append(rejection_event(patch.patch_id, exc, rejected_by=self._producer))
            return False
        return True

    def drain(self) -> list[PatchRejected]:
        drained, self.rejections = self.rejections, []
        return drained


def chain_check(root: TrustRoot) -> PatchCheck:
    verifier = PatchVerifier(root, OracleHead(0, "0" * 64))

    def check(patch: Patch, approvals: Sequence[PatchApproved]) -> None:
        verifier.check_approvals(patch, approvals)

    return check


def trust_root_for(settings: Settings) -> TrustRoot | None:
    path = settings.effective_trust_root_path
    if not path.exists():
        log.warning("no trust root at %s: releases are followed without signature checks", path)
        return None
    return load_root_file(path, datetime.now(UTC)).root


def follower_check(settings: Settings) -> PatchCheck | None:
    root = trust_root_for(settings)
    return None if root is None else chain_check(root)
