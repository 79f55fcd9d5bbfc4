"""Which oracle versions are deployed: a fold over the release topic.

The release topic is compacted and keyed by release id, so it keeps the last event of every
release. Folding those events in offset order gives the current state, the same on every gate and
every SDK that reads the topic:

* ``ReleaseStaged``: the release becomes the candidate, at its stage (SHADOW or CANARY) and canary
  fraction; an earlier candidate is replaced.
* ``ReleasePromoted``: to CANARY, the candidate moves to CANARY; to STABLE, the version becomes
  stable and stops being a candidate.
* ``ReleaseRolledBack``: from SHADOW or CANARY, the candidate is withdrawn; from STABLE, the
  restored version becomes stable again.

Stable ``None`` means no release yet: the bootstrap artifact decides. State is immutable;
:func:`fold` returns a new state and ignores events of other types.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from alignment_flywheel.events import (
    Event,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReleaseStaged,
)


@dataclass(frozen=True, slots=True)
class Deployed:
    """An oracle version in use: which release put it there, its version and digest."""

    release_id: uuid.UUID | None
    version: int
    digest: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """The release being rolled out, at SHADOW or CANARY."""

    release_id: uuid.UUID
    patch_id: uuid.UUID
    version: int
    digest: str
    stage: ReleaseStage
    canary_fraction: float
    rollout_policy: str
    since: datetime
    """When the candidate entered its current stage (the event's time)."""


@dataclass(frozen=True, slots=True)
class ReleaseState:
    """The stable version (None: the bootstrap artifact) and the candidate, if any."""

    stable: Deployed | None = None
    candidate: Candidate | None = None

    @property
    def digests(self) -> tuple[str | None, str | None]:
        """(stable digest, candidate digest), what a follower compares to know if it must act."""
        return (
            None if self.stable is None else self.stable.digest,
            None if self.candidate is None else self.candidate.digest,
        )


def fold(state: ReleaseState, event: Event) -> ReleaseState:
    """The state after one event."""
    if isinstance(event, ReleaseStaged):
        return replace(state, candidate=_candidate(event))
    if isinstance(event, ReleasePromoted):
        return _promoted(state, event)
    if isinstance(event, ReleaseRolledBack):
        return _rolled_back(state, event)
    return state


def fold_all(events: Iterable[Event], state: ReleaseState | None = None) -> ReleaseState:
    """The state after every event, in order."""
    current = state or ReleaseState()
    for event in events:
        current = fold(current, event)
    return current


def _candidate(event: ReleaseStaged) -> Candidate:
    return Candidate(
        release_id=event.release_id,
        patch_id=event.patch_id,
        version=event.version,
        digest=event.digest,
        stage=event.stage,
        canary_fraction=event.canary_fraction,
        rollout_policy=event.rollout_policy,
        since=event.envelope.occurred_at,
    )


def _is_candidate(state: ReleaseState, release_id: uuid.UUID) -> bool:
    return state.candidate is not None and state.candidate.release_id == release_id


def _promoted(state: ReleaseState, event: ReleasePromoted) -> ReleaseState:
    if event.to_stage is ReleaseStage.STABLE:
        stable = Deployed(event.release_id, event.version, event.digest)
        candidate = None if _is_candidate(state, event.release_id) else state.candidate
        return ReleaseState(stable, candidate)
    if state.candidate is not None and _is_candidate(state, event.release_id):
        moved = replace(state.candidate, stage=event.to_stage, since=event.envelope.occurred_at)
        return replace(state, candidate=moved)
    return state


def _rolled_back(state: ReleaseState, event: ReleaseRolledBack) -> ReleaseState:
    if event.from_stage is ReleaseStage.STABLE:
        restored = Deployed(None, event.restored_version, event.restored_digest)
        return replace(state, stable=restored)
    if _is_candidate(state, event.release_id):
        return replace(state, candidate=None)
    return state
