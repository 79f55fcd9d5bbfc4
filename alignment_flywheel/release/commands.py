"""Release transitions a human asks for: promote the candidate, roll back the candidate or stable.

Each is a command: a function of the current state that returns the event to publish (or raises
:class:`ReleaseCommandError` saying why it cannot apply), so the CLI and the tests share it.

A rollback is signed by the ``signers`` given (keys of the releaser role): followers that verify
restore an older stable version only for a rollback the releaser threshold signed
(:mod:`.follower`). A stable rollback restores the base of the patch the verified chain uses to
reach the stable version (the first patch producing it in the log, if none verifies).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.errors import FlywheelError, InvalidInputError
from alignment_flywheel.events import ReleasePromoted, ReleaseRolledBack, ReleaseStage, new_envelope
from alignment_flywheel.patches import Patch
from alignment_flywheel.release.rebuild import OracleBuilder
from alignment_flywheel.release.state import ReleaseState
from alignment_flywheel.release.trusted import sign_rollback


class ReleaseCommandError(InvalidInputError):
    """The transition does not apply to the current release state."""


def promote(state: ReleaseState, *, actor: str, metrics: dict[str, float]) -> ReleasePromoted:
    """Move the candidate one stage on (SHADOW to CANARY, CANARY to STABLE)."""
    candidate = state.candidate
    if candidate is None:
        raise ReleaseCommandError("there is no candidate release to promote")
    to = ReleaseStage.CANARY if candidate.stage is ReleaseStage.SHADOW else ReleaseStage.STABLE
    return ReleasePromoted(
        envelope=new_envelope(actor, str(candidate.release_id)),
        release_id=candidate.release_id,
        version=candidate.version,
        digest=candidate.digest,
        from_stage=candidate.stage,
        to_stage=to,
        metrics=metrics,
        automatic=False,
        actor=actor,
    )


def rollback(
    state: ReleaseState,
    builder: OracleBuilder,
    *,
    actor: str,
    reason: str,
    stable: bool = False,
    signers: Sequence[Ed25519PrivateKey] = (),
) -> ReleaseRolledBack:
    """Withdraw the candidate, or (``stable``) restore the version before the stable one."""
    if not stable:
        candidate = state.candidate
        if candidate is None:
            raise ReleaseCommandError("there is no candidate release to roll back")
        current = state.stable
        genesis = builder.genesis
        restored = (
            (genesis.version, genesis.digest)
            if current is None
            else (current.version, current.digest)
        )
        release_id, version, digest, stage = (
            candidate.release_id,
            candidate.version,
            candidate.digest,
            candidate.stage,
        )
    else:
        if state.stable is None or state.stable.release_id is None:
            raise ReleaseCommandError("the stable version is the bootstrap artifact or a restore")
        patch = _producer(builder, state.stable.digest)
        if patch is None:
            raise ReleaseCommandError("the stable version's patch is not in the log")
        restored = (patch.base_version, patch.base_digest)
        release_id, version, digest, stage = (
            state.stable.release_id,
            state.stable.version,
            state.stable.digest,
            ReleaseStage.STABLE,
        )
    event = ReleaseRolledBack(
        envelope=new_envelope(actor, str(release_id)),
        release_id=release_id,
        version=version,
        digest=digest,
        from_stage=stage,
        restored_version=restored[0],
        restored_digest=restored[1],
        reason=reason,
        automatic=False,
    )
    return sign_rollback(event, signers) if signers else event


def _producer(builder: OracleBuilder, digest: str) -> Patch | None:
    try:
        return builder.producer(digest)
    except FlywheelError:
        return builder.library.by_target.get(digest)
