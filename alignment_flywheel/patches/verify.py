"""Verifying a signed patch against the trusted root and the oracle in force.

The model is python-tuf's trusted-metadata rules: verification decides which signatures *count*,
never which ones *break*. A signature that does not count is ignored, recorded as a security event
(:class:`IgnoredCounter`, by reason, each distinct one once, and logged) and can never refuse
anything; only the thresholds, the base and version, and freshness can refuse a patch.

:meth:`PatchVerifier.verify` runs these steps in this fixed order and stops at the first failure:

1. **Base**: the patch's base digest (and base version) is the current oracle's
   (:class:`BaseMismatchError`, BASE_MISMATCH). A patch made for an older oracle stops here.
2. **Version**: the target version is strictly greater than the current version; an older one is
   a rollback (:class:`RollbackError`), an equal one a replay (:class:`ReplayError`), both
   VERSION_NOT_INCREASING.
3. **Counting approvals**, each in turn. An approval counts toward the role it claims when it is
   for this patch, its key is in the trust root, its signature verifies over
   ``PAE(PAYLOAD_TYPE, patch_body(patch))`` (so a tampered body counts nothing) and its key holds
   that role. Otherwise it is ignored with its reason (:class:`Ignored`): OTHER_PATCH,
   UNKNOWN_KEY, BAD_SIGNATURE, WRONG_ROLE; a second approval by a key already counted in a role
   is a DUPLICATE. Nothing here raises.
4. **Thresholds**: for each required role (author, then approver) at least the role's threshold of
   distinct keys counted in that role (:class:`ThresholdNotMetError`). The author's own sign-off
   is a ``PatchApproved`` with role ``author``.
5. **Freshness**: the trust root has not expired (:class:`ExpiredRootError`), nor the patch
   (``expires``, :class:`ExpiredPatchError`), both EXPIRED.

:meth:`PatchVerifier.verify_envelope` first parses an exported envelope file: its size
(:class:`OversizedEnvelopeError`), then its format (:class:`MalformedError`), both MALFORMED and
before any signature is checked; then the same five steps.

**Signed decisions** (:func:`signed_by_role`): a record that takes something away (a
``PatchRejected``, a ``ReleaseRolledBack`` from STABLE) has effect only when distinct keys of the
role allowed to make it (:data:`REJECTER_ROLE`, the releaser) reaching that role's threshold
signed its body; its other signatures are ignored like approvals, and a record short of the
threshold is ignored as NOT_AUTHORIZED. :func:`rejection_counts` applies this to rejections: an
unsigned rejection (a person's refusal without a key, the release controller's record of a
failed check) is informational and changes nothing that is enforced.

Verifying never changes anything: the caller applies the patch (``apply_patch``) only after
``verify`` returns, and sets the new current oracle with :meth:`PatchVerifier.advance`. Every
refusal is counted by reason in :class:`RejectionCounter` and becomes a ``PatchRejected``
(security=True) with :func:`rejection_event`. Errors reading the inputs (Kafka, files) are
``TransportError``/``InvalidInputError`` and are never counted as rejections.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from alignment_flywheel.events import (
    PatchApproved,
    PatchRejected,
    PatchRejectionReason,
    new_envelope,
)
from alignment_flywheel.patches.approvals import (
    REJECTION_PAYLOAD_TYPE,
    import_envelope,
    rejection_body,
)
from alignment_flywheel.patches.errors import (
    BaseMismatchError,
    ExpiredPatchError,
    ExpiredRootError,
    MalformedError,
    PatchSecurityError,
    ReplayError,
    RollbackError,
    ThresholdNotMetError,
)
from alignment_flywheel.patches.model import PAYLOAD_TYPE, Patch, patch_body
from alignment_flywheel.patches.signing import (
    MAX_ENVELOPE_BYTES,
)
from alignment_flywheel.patches.trust import (
    IGNORED_BY_REASON,
    Ignored,
    IgnoredCounter,
    Role,
    TrustRoot,
    check_key,
    signed_by_role,
)

log = logging.getLogger(__name__)

REQUIRED_ROLES: tuple[Role, ...] = ("author", "approver")
REJECTER_ROLE: Role = "releaser"
"""The role whose threshold of signatures gives a rejection or a stable rollback effect."""


@dataclass(frozen=True)
class OracleHead:
    """The oracle in force: its version and digest."""

    version: int
    digest: str


@dataclass
class RejectionCounter:
    """Rejections by reason, readable by the caller (metrics, tests, benchmarks)."""

    counts: Counter[PatchRejectionReason] = field(default_factory=Counter)

    def record(self, reason: PatchRejectionReason) -> None:
        self.counts[reason] += 1

    def __getitem__(self, reason: PatchRejectionReason) -> int:
        return self.counts[reason]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        return {reason.value: count for reason, count in sorted(self.counts.items())}


@dataclass(frozen=True)
class VerifiedPatch:
    """A patch that passed every check, and the keys that signed it per role."""

    patch: Patch
    signers: MappingProxyType[str, frozenset[str]]


class PatchVerifier:
    """Holds the trusted root and the current oracle; verifies patches against them."""

    def __init__(
        self,
        root: TrustRoot,
        head: OracleHead,
        *,
        counter: RejectionCounter | None = None,
        ignored: IgnoredCounter | None = None,
        required_roles: Sequence[Role] = REQUIRED_ROLES,
    ) -> None:
        self._root = root
        self._head = head
        self._required = tuple(required_roles)
        self.counter = counter if counter is not None else RejectionCounter()
        self.ignored = ignored if ignored is not None else IgnoredCounter()

    @property
    def root(self) -> TrustRoot:
        return self._root

    @property
    def head(self) -> OracleHead:
        return self._head

    def advance(self, head: OracleHead) -> None:
        """Set the oracle in force, after the caller applied a verified patch."""
        self._head = head

    def trust(self, root: TrustRoot) -> None:
        """Replace the trusted root (after :func:`.trust.rotate` accepted it)."""
        self._root = root

    def verify(
        self, patch: Patch, approvals: Iterable[PatchApproved], now: datetime
    ) -> VerifiedPatch:
        """The verified patch, or the first failing check's error (counted)."""
        try:
            self._check_base(patch)
            self._check_version(patch)
            signers = self.count_approvals(patch, approvals)
            self._check_thresholds(patch, signers)
            self.check_freshness(patch, now)
        except PatchSecurityError as exc:
            self.counter.record(exc.reason)
            raise
        return VerifiedPatch(patch, MappingProxyType(signers))

    def verify_envelope(
        self, data: bytes | str, now: datetime, *, max_bytes: int = MAX_ENVELOPE_BYTES
    ) -> VerifiedPatch:
        """Parse an exported approval envelope (size, then format), then :meth:`verify` it."""
        try:
            patch, approvals = import_envelope(
                data, self._root, producer="envelope", max_bytes=max_bytes
            )
        except PatchSecurityError as exc:
            self.counter.record(exc.reason)
            raise
        return self.verify(patch, approvals, now)

    def count_approvals(
        self, patch: Patch, approvals: Iterable[PatchApproved]
    ) -> dict[str, frozenset[str]]:
        """Step 3: role -> distinct key ids whose approval counts in that role; every other
        approval is recorded in ``ignored`` with its reason."""
        body = patch_body(patch)
        found: dict[str, set[str]] = {}
        for approval in approvals:
            identity = (approval.patch_id, approval.key_id, approval.role, approval.signature)
            try:
                self._check_one(patch, body, approval)
            except PatchSecurityError as exc:
                why = IGNORED_BY_REASON[exc.reason]
                self.ignored.record("approval", why, f"patch {patch.patch_id}: {exc}", *identity)
                continue
            keys = found.setdefault(approval.role, set())
            if approval.key_id in keys:
                detail = f"key {approval.key_id[:12]} approved {patch.patch_id} again"
                self.ignored.record("approval", Ignored.DUPLICATE, detail, *identity)
            keys.add(approval.key_id)
        return {role: frozenset(keys) for role, keys in found.items()}

    def check_signatures(
        self, patch: Patch, approvals: Iterable[PatchApproved]
    ) -> dict[str, frozenset[str]]:
        """Step 3 as a strict check, for tools that judge approvals one by one (``flywheel patch
        approve`` warns about each earlier one): the first approval that would not count raises
        its error. Nothing is recorded; verification itself uses :meth:`count_approvals`."""
        body = patch_body(patch)
        found: dict[str, set[str]] = {}
        for approval in approvals:
            self._check_one(patch, body, approval)
            found.setdefault(approval.role, set()).add(approval.key_id)
        return {role: frozenset(keys) for role, keys in found.items()}

    def check_approvals(self, patch: Patch, approvals: Iterable[PatchApproved]) -> None:
        """Steps 3 and 4 alone (counting and thresholds), counted like :meth:`verify`: what a
        process rebuilding a released chain checks of every patch in it."""
        try:
            self._check_thresholds(patch, self.count_approvals(patch, approvals))
        except PatchSecurityError as exc:
            self.counter.record(exc.reason)
            raise

    def check_freshness(self, patch: Patch, now: datetime) -> None:
        """Step 5 alone."""
        if self._root.expired(now):
            raise ExpiredRootError(
                f"trust root v{self._root.version} expired at {self._root.expires.isoformat()}"
            )
        if patch.expires is not None and now >= patch.expires:
            raise ExpiredPatchError(
                f"patch {patch.patch_id} expired at {patch.expires.isoformat()}"
            )

    def _check_base(self, patch: Patch) -> None:
        head = self._head
        if patch.base_digest != head.digest or patch.base_version != head.version:
            raise BaseMismatchError(
                f"patch {patch.patch_id} applies to v{patch.base_version} "
                f"({patch.base_digest[:12]}); the oracle is v{head.version} ({head.digest[:12]})"
            )

    def _check_version(self, patch: Patch) -> None:
        current, target = self._head.version, patch.target_version
        if target < current:
            raise RollbackError(f"patch {patch.patch_id} targets v{target}, older than v{current}")
        if target == current:
            raise ReplayError(f"patch {patch.patch_id} targets v{target}, the current version")

    def _check_one(self, patch: Patch, body: bytes, approval: PatchApproved) -> None:
        if approval.patch_id != patch.patch_id:
            raise MalformedError(f"an approval of {approval.patch_id} given for {patch.patch_id}")
        key, signature, role = approval.key_id, approval.signature, approval.role
        check_key(self._root, key, signature, role=role, payload_type=PAYLOAD_TYPE, body=body)

    def _check_thresholds(self, patch: Patch, signers: dict[str, frozenset[str]]) -> None:
        for role in self._required:
            have, need = len(signers.get(role, ())), self._root.roles[role].threshold
            if have < need:
                raise ThresholdNotMetError(
                    f"patch {patch.patch_id}: {have} of {need} {role} signature(s)"
                )


def rejection_counts(root: TrustRoot, event: PatchRejected, ignored: IgnoredCounter) -> bool:
    """Whether a ``PatchRejected`` takes effect: the releaser threshold signed its body."""
    return signed_by_role(
        root,
        REJECTER_ROLE,
        (REJECTION_PAYLOAD_TYPE, rejection_body(event)),
        event.signatures,
        kind="rejection",
        subject=f"rejection of patch {event.patch_id} by {event.rejected_by}",
        ignored=ignored,
        identity=event.envelope.event_id,
    )


def rejection_event(
    patch_id: uuid.UUID, error: PatchSecurityError, *, rejected_by: str
) -> PatchRejected:
    """The ``PatchRejected`` (security=True) recording a failed check; unsigned, so it informs and
    takes nothing away (sign it with :func:`~.approvals.sign_rejection` to give it effect)."""
    return PatchRejected(
        envelope=new_envelope(rejected_by, str(patch_id)),
        patch_id=patch_id,
        reason=error.reason,
        security=True,
        detail=f"{type(error).__name__}: {error}",
        rejected_by=rejected_by,
    )


def human_rejection(patch_id: uuid.UUID, reason: str, *, rejected_by: str) -> PatchRejected:
    """A human's refusal: HUMAN_REJECTED, security=False (unsigned: see :func:`rejection_event`)."""
    return PatchRejected(
        envelope=new_envelope(rejected_by, str(patch_id)),
        patch_id=patch_id,
        reason=PatchRejectionReason.HUMAN_REJECTED,
        security=False,
        detail=reason,
        rejected_by=rejected_by,
    )
