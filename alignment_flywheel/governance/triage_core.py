"""Triage's two pure cores (:mod:`.step`): the join of findings and verifications, and clustering.

**The join** (:class:`TriageJoin`, table ``pending``, keyed by finding id) holds whichever half
of a finding came first: the finding (``F`` + its bytes), a VIOLATION verification (``V`` + its
bytes) or the mark ``X`` of a NO_VIOLATION verification. Rules:

* A finding meets a waiting ``V``: the pair is emitted (:class:`Joined`) and the entry deleted.
  It meets an ``X``: the entry is deleted and nothing emitted (the finding is dropped). It meets
  nothing or another finding: it is stored (a redelivered finding replaces itself).
* A VIOLATION or NO_VIOLATION verification meets a waiting finding: a VIOLATION emits the pair,
  both delete the entry. Otherwise it is stored (``V`` or ``X``), replacing an earlier verdict.
* An INCONCLUSIVE verification writes and emits nothing: a person may still decide, and their
  answer arrives as a later verification of the same finding.
* Restarts: a half redelivered after its join finds no partner (the entry was deleted) and is
  stored again; it stays pending and emits nothing. A half redelivered when the delete was lost
  joins again and emits the same pair again; clustering counts a finding once (below).

**Clustering** (:class:`TriageClusters`, tables ``clusters``: cluster id -> state JSON, and
``assigned``: finding id -> cluster id) adds one violation at a time in the order of its single
partition (:class:`~.triage.Triage`). Rules:

* A new violation writes its cluster's state and its assignment, and emits the cluster's
  ``ClusterUpdated`` (event id ``uuid5(cluster id, size)``).
* A violation already in ``assigned`` (a redelivery, or the same pair joined twice) writes
  nothing and emits the cluster's current ``ClusterUpdated`` again: the clusters topic is
  compacted, so the latest value wins, with the same event id while the cluster is unchanged.
* The LSH index is a cache of the tables, loaded on the core's first step; a restarted worker
  builds a new core, so the clusters after a restart are those of the committed tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import (
    ClusterUpdated,
    FindingRaised,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.governance.triage import (
    DEFAULT_THRESHOLD,
    ClusterState,
    Triage,
    Violation,
    cluster_update,
    violation_of,
)

FINDING, VIOLATION, NOT_VIOLATION = b"F", b"V", b"X"
PENDING, CLUSTERS, ASSIGNED = "pending", "clusters", "assigned"


@dataclass(frozen=True, slots=True)
class Joined:
    """A finding and the VIOLATION verification that confirms it."""

    finding: FindingRaised
    verification: VerificationRecorded

    def violation(self) -> Violation:
        return violation_of(self.finding, self.verification)


class TriageJoin:
    """The join's step over the table ``pending`` (see the module rules)."""

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec

    def __call__(
        self, tables: Tables, event: FindingRaised | VerificationRecorded
    ) -> Stepped[Joined]:
        if isinstance(event, FindingRaised):
            return self.finding(tables, event)
        return self.verification(tables, event)

    def finding(self, tables: Tables, event: FindingRaised) -> Stepped[Joined]:
        key = str(event.finding_id)
        waiting: bytes | None = tables[PENDING].get(key)
        if waiting is None or waiting.startswith(FINDING):
            return _write(key, FINDING + self._codec.encode(event))
        if not waiting.startswith(VIOLATION):
            return _write(key, None)
        verification = self._codec.decode(waiting[1:])
        assert isinstance(verification, VerificationRecorded)
        return _write(key, None, Joined(event, verification))

    def verification(self, tables: Tables, event: VerificationRecorded) -> Stepped[Joined]:
        if event.outcome is VerificationOutcome.INCONCLUSIVE:
            return Stepped()
        key = str(event.finding_id)
        waiting: bytes | None = tables[PENDING].get(key)
        violation = event.outcome is VerificationOutcome.VIOLATION
        if waiting is None or not waiting.startswith(FINDING):
            return _write(
                key, VIOLATION + self._codec.encode(event) if violation else NOT_VIOLATION
            )
        if not violation:
            return _write(key, None)
        finding = self._codec.decode(waiting[1:])
        assert isinstance(finding, FindingRaised)
        return _write(key, None, Joined(finding, event))


def _write(key: str, value: bytes | None, *joined: Joined) -> Stepped[Joined]:
    return Stepped({PENDING: {key: value}}, joined)


class TriageClusters:
    """Clustering's step over the tables ``clusters`` and ``assigned`` (see the module rules)."""

    def __init__(self, producer: str, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.triage = Triage(threshold)
        self.restored: tuple[int, int] | None = None
        self._producer = producer

    def __call__(self, tables: Tables, violation: Violation) -> Stepped[ClusterUpdated]:
        if self.restored is None:
            self._load(tables)
        state, changed = self.triage.add(violation)
        update = cluster_update(state, self._producer)
        if not changed:
            return Stepped(emitted=(update,))
        cluster_id = str(state.cluster_id)
        writes = {
            CLUSTERS: {cluster_id: state.to_json()},
            ASSIGNED: {str(violation.finding_id): cluster_id.encode()},
        }
        return Stepped(writes, (update,))

    def _load(self, tables: Tables) -> None:
        states = [ClusterState.from_json(raw) for raw in tables[CLUSTERS].values() if raw]
        assigned = [
            (uuid.UUID(_text(k)), uuid.UUID(_text(v))) for k, v in tables[ASSIGNED].items() if v
        ]
        self.triage.load(states, assigned)
        self.restored = (len(states), len(assigned))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
