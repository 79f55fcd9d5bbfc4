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
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches import Patch
from alignment_flywheel.release.rebuild import OracleBuilder
from alignment_flywheel.release.state import Candidate, Deployed, ReleaseState
from alignment_flywheel.release.trusted import sign_rollback


class ReleaseCommandError(InvalidInputError):
    """The transition does not apply to the current release state."""


def promote(state: ReleaseState, *, actor: str, metrics: dict[str, float]) -> ReleasePromoted:
    """Move the candidate one stage on (SHADOW to CANARY, CANARY to STABLE)."""
    candidate = state.candidate
    if candidate is None:
        raise ReleaseCommandError("there is no candidate release to promote")
    return promotion(candidate, actor=actor, metrics=metrics, automatic=False)


def promotion(
    candidate: Candidate, *, actor: str, metrics: dict[str, float], automatic: bool
) -> ReleasePromoted:
    """The promotion of ``candidate`` one stage on, by ``actor``."""
    to = ReleaseStage.CANARY if candidate.stage is ReleaseStage.SHADOW else ReleaseStage.STABLE
    return ReleasePromoted(
        envelope=new_envelope(actor, str(candidate.release_id)),
        release_id=candidate.release_id,
        version=candidate.version,
        digest=candidate.digest,
        from_stage=candidate.stage,
        to_stage=to,
        metrics=metrics,
        automatic=automatic,
        actor=actor,
    )


def candidate_rollback(
    state: ReleaseState,
    candidate: Candidate,
    genesis: OracleArtifact | Deployed,
    *,
    actor: str,
    reason: str,
    metrics: dict[str, float] | None = None,
    automatic: bool = False,
) -> ReleaseRolledBack:
    """The withdrawal of ``candidate``: the stable version (``genesis`` if none) stays."""
    kept = genesis if state.stable is None else state.stable
    restored = (kept.version, kept.digest)
    event = _rolled_back(candidate, candidate.stage, restored, actor=actor, reason=reason)
    return event.model_copy(update={"metrics": metrics or {}, "automatic": automatic})


def rollback(
    state: ReleaseState,
    builder: OracleBuilder,
    *,
    actor: str,
    reason: str,
    stable: bool = False,
    signers: Sequence[Ed25519PrivateKey] = (),
    operator: str | None = None,
) -> ReleaseRolledBack:
    """Withdraw the candidate, or (``stable``) restore the version before the stable one;
    ``operator`` names the person who asked (recorded, not signed)."""
    event = (
        _stable_rollback(state, builder, actor=actor, reason=reason)
        if stable
        else _candidate_rollback(state, builder, actor=actor, reason=reason)
    )
    if operator is not None:
        event = event.model_copy(update={"operator": operator})
    return sign_rollback(event, signers) if signers else event


def _candidate_rollback(
    state: ReleaseState, builder: OracleBuilder, *, actor: str, reason: str
) -> ReleaseRolledBack:
    candidate = state.candidate
    if candidate is None:
        raise ReleaseCommandError("there is no candidate release to roll back")
    return candidate_rollback(state, candidate, builder.genesis, actor=actor, reason=reason)


def _stable_rollback(
    state: ReleaseState, builder: OracleBuilder, *, actor: str, reason: str
) -> ReleaseRolledBack:
    stable = state.stable
    if stable is None or stable.release_id is None:
        raise ReleaseCommandError("the stable version is the bootstrap artifact or a restore")
    patch = _producer(builder, stable.digest)
    if patch is None:
        raise ReleaseCommandError("the stable version's patch is not in the log")
    restored = (patch.base_version, patch.base_digest)
    return _rolled_back(stable, ReleaseStage.STABLE, restored, actor=actor, reason=reason)


def _rolled_back(
    release: Candidate | Deployed,
    stage: ReleaseStage,
    restored: tuple[int, str],
    *,
    actor: str,
    reason: str,
) -> ReleaseRolledBack:
    assert release.release_id is not None
    return ReleaseRolledBack(
        envelope=new_envelope(actor, str(release.release_id)),
        release_id=release.release_id,
        version=release.version,
        digest=release.digest,
        from_stage=stage,
        restored_version=restored[0],
        restored_digest=restored[1],
        reason=reason,
    )


def _producer(builder: OracleBuilder, digest: str) -> Patch | None:
    try:
        return builder.producer(digest)
    except FlywheelError:
        return builder.library.by_target.get(digest)
