"""Signature verification where releases are made and where they are followed.

* :class:`ReleaseGate` is the release controller's ``approved`` hook: a patch is released only
  when :class:`~alignment_flywheel.patches.verify.PatchVerifier` accepts it against the trust root
  and the stable oracle (base, version, counted signatures against thresholds, freshness, in that
  order). Approvals that do not count (unknown key, bad signature, wrong role, another patch,
  duplicates) are ignored and recorded in ``verifier.ignored``; they never refuse a patch. A
  patch that only lacks signatures (threshold not met) waits; any other failure (version,
  expiry) is a refusal, kept in ``rejections`` for the controller to publish as an unsigned,
  informational ``PatchRejected`` (once per patch).
* :class:`ChainCheck` is a follower's trust (``rebuild.ReleaseTrust``): every patch in a released
  chain must carry counted signatures meeting the thresholds of the trust root. Freshness is not
  checked there: an expired patch or root must not stop a gate from rebuilding what was released
  while they were valid. It also decides which decisions in the log take something away: a
  ``PatchRejected`` (:func:`~alignment_flywheel.patches.verify.rejection_counts`) or a
  ``ReleaseRolledBack`` (:meth:`ChainCheck.rollback_counts`) counts only when the releaser
  threshold signed it; anything else is recorded in ``ignored`` and changes nothing enforced.
* A rollback is signed (:func:`sign_rollback`) over :data:`ROLLBACK_PAYLOAD_TYPE` and
  :func:`rollback_body`, the RFC 8785 JSON of what it decides (release, versions, digests, stage,
  reason), never over its envelope.
* :func:`trust_root_for` reads the trust root file of the settings; without one, releases are
  followed unverified and a warning says so (a development set-up), never silently.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.config import Settings
from alignment_flywheel.events import PatchApproved, PatchRejected, ReleaseRolledBack
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.approvals import key_signatures
from alignment_flywheel.patches.errors import PatchSecurityError, ThresholdNotMetError
from alignment_flywheel.patches.trust import (
    IgnoredCounter,
    TrustRoot,
    load_root_file,
    signed_by_role,
)
from alignment_flywheel.patches.verify import (
    REJECTER_ROLE,
    OracleHead,
    PatchVerifier,
    rejection_counts,
    rejection_event,
)

log = logging.getLogger(__name__)

ROLLBACK_PAYLOAD_TYPE = "application/vnd.alignment-flywheel.release-rollback+json"


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
            log.warning("patch %s refused: %s", patch.patch_id, exc)
            self.rejections.append(rejection_event(patch.patch_id, exc, rejected_by=self._producer))
            return False
        return True

    def drain(self) -> list[PatchRejected]:
        drained, self.rejections = self.rejections, []
        return drained


class ChainCheck:
    """A follower's trust: released chains verify, and which signed decisions count."""

    def __init__(self, root: TrustRoot) -> None:
        self.verifier = PatchVerifier(root, OracleHead(0, "0" * 64))
        self.ignored: IgnoredCounter = self.verifier.ignored

    @property
    def root(self) -> TrustRoot:
        return self.verifier.root

    def __call__(self, patch: Patch, approvals: Sequence[PatchApproved]) -> None:
        self.verifier.check_approvals(patch, approvals)

    def rejection_counts(self, event: PatchRejected) -> bool:
        return rejection_counts(self.root, event, self.ignored)

    def rollback_counts(self, event: ReleaseRolledBack) -> bool:
        return signed_by_role(
            self.root,
            REJECTER_ROLE,
            (ROLLBACK_PAYLOAD_TYPE, rollback_body(event)),
            event.signatures,
            kind="rollback",
            subject=f"rollback of release {event.release_id} to v{event.restored_version}",
            ignored=self.ignored,
            identity=event.envelope.event_id,
        )


def rollback_body(event: ReleaseRolledBack) -> bytes:
    """The signed bytes of a rollback: RFC 8785 JSON of what it decides."""
    return rfc8785.dumps(
        {
            "release_id": str(event.release_id),
            "version": event.version,
            "digest": event.digest,
            "from_stage": event.from_stage.value,
            "restored_version": event.restored_version,
            "restored_digest": event.restored_digest,
            "reason": event.reason,
        }
    )


def sign_rollback(event: ReleaseRolledBack, keys: Iterable[Ed25519PrivateKey]) -> ReleaseRolledBack:
    """``event`` with a signature of each key added (kept signatures first)."""
    added = key_signatures(keys, ROLLBACK_PAYLOAD_TYPE, rollback_body(event))
    return event.model_copy(update={"signatures": (*event.signatures, *added)})


def chain_check(root: TrustRoot) -> ChainCheck:
    return ChainCheck(root)


def trust_root_for(settings: Settings) -> TrustRoot | None:
    path = settings.effective_trust_root_path
    if not path.exists():
        log.warning("no trust root at %s: releases are followed without signature checks", path)
        return None
    return load_root_file(path, datetime.now(UTC)).root


def follower_check(settings: Settings) -> ChainCheck | None:
    root = trust_root_for(settings)
    return None if root is None else chain_check(root)
