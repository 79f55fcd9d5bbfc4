"""Triage: confirmed violations clustered incrementally by their structure, and ranked.

Rules:

* A *violation* is a ``VerificationRecorded`` with outcome VIOLATION joined with the
  ``FindingRaised`` it judges (for the proposal). Its features are
  :func:`~alignment_flywheel.governance.features.proposal_features` (``.all``).
* Clustering is incremental and order-dependent, hence deterministic for a given order of
  violations: a cluster is described by its *signature*, the features every member shares (the
  intersection). A new violation is compared with the signatures of the candidate clusters that a
  datasketch ``MinHashLSH`` (MinHash of the signature, :data:`NUM_PERM` permutations, fixed seed)
  returns for it, by exact Jaccard similarity; it joins the most similar one whose similarity is
  at least ``threshold`` (ties: the smaller cluster id), else it starts a cluster. When a
  signature shrinks, the cluster is re-indexed.
* Clusters never span tools: a violation may only join a cluster whose tools are exactly its own
  tool, however alike the calls (``workspace.send_email`` and ``travel.send_email`` share most
  features, yet are different failures of different applications).
* The cluster id is ``uuid5(TRIAGE_NAMESPACE, "cluster/<first member's finding id>")``, so the
  same violations in the same order give the same ids after a restart. A finding already counted
  (same finding id) does not count again.
* A cluster carries its size, the first :data:`MAX_SAMPLES` finding ids, its tools, the highest
  severity and the highest blast radius of its members, and the first and last time a member was
  confirmed.
* Rank score = severity weight x frequency x recency decay x blast radius weight, where
  severity weight is LOW 1, MEDIUM 2, HIGH 4, CRITICAL 8 (highest member severity); frequency is
  ``log2(1 + size)`` (a growing cluster climbs, without drowning severity); recency decay is
  ``0.5 ** (age / half_life)`` with ``age`` the time from the last member to ``now`` (half life
  :data:`HALF_LIFE`, one day); blast radius weight is NONE 0.5, UNKNOWN and LOW 1, MEDIUM 1.5,
  HIGH 2, CRITICAL 3 (the highest member estimate). ``ClusterUpdated.rank_score`` is computed at
  the time of the update (the confirming verification's time), so it is deterministic; compare
  clusters at one instant with :func:`ranked`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from datasketch import MinHash, MinHashLSH

from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import (
    BlastRadius,
    ClusterStatus,
    ClusterUpdated,
    FindingRaised,
    Severity,
    VerificationOutcome,
    VerificationRecorded,
    new_envelope,
)
from alignment_flywheel.events.ids import cluster_id_for, cluster_update_id
from alignment_flywheel.governance.features import proposal_features

NUM_PERM = 64
DEFAULT_THRESHOLD = 0.5
MAX_SAMPLES = 32
HALF_LIFE = timedelta(days=1)
SEVERITY_WEIGHT = {
    Severity.LOW: 1.0,
    Severity.MEDIUM: 2.0,
    Severity.HIGH: 4.0,
    Severity.CRITICAL: 8.0,
}
BLAST_WEIGHT = {
    BlastRadius.NONE: 0.5,
    BlastRadius.UNKNOWN: 1.0,
    BlastRadius.LOW: 1.0,
    BlastRadius.MEDIUM: 1.5,
    BlastRadius.HIGH: 2.0,
    BlastRadius.CRITICAL: 3.0,
}
_SEVERITY_ORDER = list(SEVERITY_WEIGHT)
_BLAST_ORDER = [
    BlastRadius.UNKNOWN,
    BlastRadius.NONE,
    BlastRadius.LOW,
    BlastRadius.MEDIUM,
    BlastRadius.HIGH,
    BlastRadius.CRITICAL,
]


class NotAViolationError(InvalidInputError):
    """The verification does not confirm a violation of the finding it is joined with."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A confirmed violation, reduced to what triage needs."""

    finding_id: uuid.UUID
    tool: str
    features: frozenset[str]
    severity: Severity
    blast_radius: BlastRadius
    seen_at: datetime

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "finding_id": str(self.finding_id),
                "tool": self.tool,
                "features": sorted(self.features),
                "severity": self.severity.value,
                "blast_radius": self.blast_radius.value,
                "seen_at": self.seen_at.isoformat(),
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Violation:
        doc = json.loads(raw)
        return cls(
            finding_id=uuid.UUID(doc["finding_id"]),
            tool=doc["tool"],
            features=frozenset(doc["features"]),
            severity=Severity(doc["severity"]),
            blast_radius=BlastRadius(doc["blast_radius"]),
            seen_at=datetime.fromisoformat(doc["seen_at"]),
        )


def violation_of(finding: FindingRaised, verification: VerificationRecorded) -> Violation:
    """Join a finding with its VIOLATION verification (seen at the verification's time)."""
    if verification.finding_id != finding.finding_id:
        raise NotAViolationError(
            f"verification of {verification.finding_id} joined with finding {finding.finding_id}"
        )
    if verification.outcome is not VerificationOutcome.VIOLATION:
        raise NotAViolationError(f"finding {finding.finding_id} is {verification.outcome.value}")
    return Violation(
        finding_id=finding.finding_id,
        tool=finding.proposal.tool,
        features=proposal_features(finding.proposal).all,
        severity=verification.severity,
        blast_radius=finding.proposal.risk.blast_radius,
        seen_at=verification.envelope.occurred_at,
    )


@dataclass(slots=True)
class ClusterState:
    """One cluster, as triage keeps it (JSON round trip for the processor's table)."""

    cluster_id: uuid.UUID
    features: frozenset[str]
    size: int
    samples: list[uuid.UUID]
    tools: set[str]
    severity: Severity
    blast_radius: BlastRadius
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def start(cls, violation: Violation) -> ClusterState:
        return cls(
            cluster_id=cluster_id_for(violation.finding_id),
            features=violation.features,
            size=1,
            samples=[violation.finding_id],
            tools={violation.tool},
            severity=violation.severity,
            blast_radius=violation.blast_radius,
            first_seen=violation.seen_at,
            last_seen=violation.seen_at,
        )

    def join(self, violation: Violation) -> None:
        self.features = self.features & violation.features
        self.size += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(violation.finding_id)
        self.tools.add(violation.tool)
        self.severity = max(self.severity, violation.severity, key=_SEVERITY_ORDER.index)
        self.blast_radius = max(self.blast_radius, violation.blast_radius, key=_BLAST_ORDER.index)
        self.first_seen = min(self.first_seen, violation.seen_at)
        self.last_seen = max(self.last_seen, violation.seen_at)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "cluster_id": str(self.cluster_id),
                "features": sorted(self.features),
                "size": self.size,
                "samples": [str(s) for s in self.samples],
                "tools": sorted(self.tools),
                "severity": self.severity.value,
                "blast_radius": self.blast_radius.value,
                "first_seen": self.first_seen.isoformat(),
                "last_seen": self.last_seen.isoformat(),
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ClusterState:
        doc = json.loads(raw)
        return cls(
            cluster_id=uuid.UUID(doc["cluster_id"]),
            features=frozenset(doc["features"]),
            size=doc["size"],
            samples=[uuid.UUID(s) for s in doc["samples"]],
            tools=set(doc["tools"]),
            severity=Severity(doc["severity"]),
            blast_radius=BlastRadius(doc["blast_radius"]),
            first_seen=datetime.fromisoformat(doc["first_seen"]),
            last_seen=datetime.fromisoformat(doc["last_seen"]),
        )


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _minhash(features: Iterable[str]) -> MinHash:
    sketch = MinHash(num_perm=NUM_PERM, seed=1)
    sketch.update_batch([feature.encode() for feature in sorted(features)])
    return sketch


class Triage:
    """The clusters and their LSH index; :meth:`add` one violation at a time."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.clusters: dict[uuid.UUID, ClusterState] = {}
        self.assigned: dict[uuid.UUID, uuid.UUID] = {}
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)

    def load(
        self, states: Iterable[ClusterState], assigned: Iterable[tuple[uuid.UUID, uuid.UUID]] = ()
    ) -> None:
        """Restore clusters and which cluster each finding is in (e.g. from the processor's
        tables), and index them."""
        for state in states:
            self._unindex(state.cluster_id)
            self.clusters[state.cluster_id] = state
            self._lsh.insert(str(state.cluster_id), _minhash(state.features))
        self.assigned.update(assigned)

    def add(self, violation: Violation) -> tuple[ClusterState, bool]:
        """The cluster the violation is in, and whether it changed (False: already counted)."""
        known = self.assigned.get(violation.finding_id)
        if known is not None:
            return self.clusters[known], False
        best = self._best_match(violation)
        if best is None:
            best = ClusterState.start(violation)
            self.clusters[best.cluster_id] = best
            self._lsh.insert(str(best.cluster_id), _minhash(best.features))
        else:
            before = best.features
            best.join(violation)
            if best.features != before:
                self._unindex(best.cluster_id)
                self._lsh.insert(str(best.cluster_id), _minhash(best.features))
        self.assigned[violation.finding_id] = best.cluster_id
        return best, True

    def _best_match(self, violation: Violation) -> ClusterState | None:
        scored: list[tuple[float, str]] = []
        for key in self._lsh.query(_minhash(violation.features)):
            state = self.clusters[uuid.UUID(str(key))]
            if state.tools != {violation.tool}:
                continue
            similarity = jaccard(state.features, violation.features)
            if similarity >= self.threshold:
                scored.append((-similarity, str(key)))
        return self.clusters[uuid.UUID(min(scored)[1])] if scored else None

    def _unindex(self, cluster_id: uuid.UUID) -> None:
        if cluster_id in self.clusters:
            self._lsh.remove(str(cluster_id))


def rank_score(state: ClusterState, now: datetime) -> float:
    """The rank formula of the module docstring."""
    age = max((now - state.last_seen) / HALF_LIFE, 0.0)
    return (
        SEVERITY_WEIGHT[state.severity]
        * math.log2(1 + state.size)
        * math.pow(0.5, age)
        * BLAST_WEIGHT[state.blast_radius]
    )


def ranked(states: Iterable[ClusterState], now: datetime) -> list[ClusterState]:
    """Clusters by rank score at ``now``, highest first (ties: the smaller cluster id)."""
    return sorted(states, key=lambda s: (-rank_score(s, now), str(s.cluster_id)))


def cluster_update(state: ClusterState, producer: str) -> ClusterUpdated:
    """The ClusterUpdated of a cluster, ranked at its last member's time; its id follows from the
    cluster id and size, so re-emitting the same state gives the same event id."""
    envelope = new_envelope(producer, str(state.cluster_id), trace_id=state.cluster_id.hex)
    event_id = cluster_update_id(state.cluster_id, state.size)
    features = tuple(sorted(state.features))
    return ClusterUpdated(
        envelope=envelope.model_copy(update={"event_id": event_id}),
        cluster_id=state.cluster_id,
        signature=" & ".join(features),
        features=features,
        size=state.size,
        sample_finding_ids=tuple(state.samples),
        tools=tuple(sorted(state.tools)),
        severity=state.severity,
        rank_score=rank_score(state, state.last_seen),
        first_seen=state.first_seen,
        last_seen=state.last_seen,
        status=ClusterStatus.OPEN,
    )
