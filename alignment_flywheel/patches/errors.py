"""Why a patch, an envelope or a trust root is not believed: one error type per reason.

Every error here is an :class:`~alignment_flywheel.errors.UntrustedError` (never retried) and
carries the :class:`PatchRejectionReason` that goes into the ``PatchRejected`` event. Reading a key
file that is not a key, or has the wrong passphrase, is bad input instead (:class:`KeyFileError`).
"""

from __future__ import annotations

from typing import ClassVar

from alignment_flywheel.errors import InvalidInputError, UntrustedError
from alignment_flywheel.events import PatchRejectionReason


class PatchSecurityError(UntrustedError):
    """A signature, trust or freshness check failed; ``reason`` names which."""

    reason: ClassVar[PatchRejectionReason] = PatchRejectionReason.UNKNOWN


class MalformedError(PatchSecurityError):
    """An envelope, a trust root or a patch is not what its format requires."""

    reason = PatchRejectionReason.MALFORMED


class OversizedEnvelopeError(MalformedError):
    """An envelope is larger than the limit; refused before it is parsed."""


class BaseMismatchError(PatchSecurityError):
    """The patch applies to another oracle version or digest than the current one."""

    reason = PatchRejectionReason.BASE_MISMATCH


class VersionNotIncreasingError(PatchSecurityError):
    """The new version is not greater than the current one (rollback or replay)."""

    reason = PatchRejectionReason.VERSION_NOT_INCREASING


class RollbackError(VersionNotIncreasingError):
    """The new version is older than the current one."""


class ReplayError(VersionNotIncreasingError):
    """The new version equals the current one."""


class RootVersionError(VersionNotIncreasingError):
    """A new trust root's version is not exactly the trusted version plus one."""


class BadSignatureError(PatchSecurityError):
    """A signature does not verify over the signed bytes."""

    reason = PatchRejectionReason.BAD_SIGNATURE


class UnknownKeyError(PatchSecurityError):
    """A signature names a key the trust root does not list."""

    reason = PatchRejectionReason.UNKNOWN_KEY


class WrongRoleError(PatchSecurityError):
    """A signature's key does not hold the role the signature claims."""

    reason = PatchRejectionReason.WRONG_ROLE


class ThresholdNotMetError(PatchSecurityError):
    """Fewer distinct keys of a role signed than the role's threshold."""

    reason = PatchRejectionReason.THRESHOLD_NOT_MET


class RotationNotAuthorizedError(ThresholdNotMetError):
    """A new trust root is not signed by the trusted root's root-role threshold."""


class ExpiredError(PatchSecurityError):
    """Something is used after its expiry."""

    reason = PatchRejectionReason.EXPIRED


class ExpiredRootError(ExpiredError):
    """The trust root has expired."""


class ExpiredPatchError(ExpiredError):
    """The patch has expired."""


class KeyFileError(InvalidInputError):
    """A key file is missing, unreadable, not an Ed25519 key, or its passphrase is wrong."""
