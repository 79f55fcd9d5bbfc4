"""The blue team's drift watch: change detectors and novelty over live traffic.

:meth:`DriftWatch.observe` takes one proposal with its *enforced* verdict (the processor joins
``ProposalSubmitted`` and ``VerdictIssued`` by proposal id) and returns the detections it
triggers. Rules:

* **Dimensions.** Each pair is watched under three subjects: ``proposer`` (its proposer id),
  ``tool`` and ``version`` (the oracle version that decided).
* **Change detectors** (river), per subject: ``river.drift.ADWIN`` on the block indicator
  (``block_rate``), the escalate indicator (``escalate_rate``), the safety score (``score``) and
  the uncertainty (``uncertainty``); ``river.drift.PageHinkley`` on the intervention indicator
  (block or escalate, ``intervention_rate``). A detection's ``baseline`` is the mean of the
  metric since the previous detection (or the start) up to the triggering value, its ``value``
  the detector's recent estimate (ADWIN's window mean after the cut; for Page-Hinkley an
  exponentially weighted mean, weight :data:`RECENT_WEIGHT`). A subject reports nothing before
  :data:`MIN_SAMPLES` observations, and a metric of a subject at most once per :data:`COOLDOWN`
  observations of that subject.
* **Novelty** (from :mod:`.features`): after ``warmup`` proposals overall, a tool never seen is a
  ``new_tool``; after ``tool_warmup`` proposals of a tool, an argument key never seen for it is a
  ``new_argument_key`` and a value shape (``K.type``, ``K.shape``, ``K.mag``) never seen for it a
  ``new_value_shape``. What was reported is learned: each novelty is reported once.
* **Ids.** The drift id is ``uuid5(DRIFT_NAMESPACE, "<dimension>/<subject>/<metric>/<proposal
  id>")``, the triggering proposal's id: the same traffic in the same order gives the same ids.
* **Samples.** :meth:`DriftWatch.samples` gives the triggering pair and the most recent pairs of
  the drifting subject, at most ``samples_per_detection``; :func:`drift_findings` turns them into
  ``FindingRaised`` (source DRIFT) with ids derived from the drift id and the proposal id.
* State is in memory (detectors, recent pairs per subject, known features): after a restart the
  detectors learn their baselines again from live traffic. Memory grows with the number of
  subjects (a few kilobytes each).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from river import drift as river_drift

from alignment_flywheel.events import (
    Decision,
    DriftDetected,
    FindingRaised,
    FindingSource,
    Proposal,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.events.ids import drift_finding_id, drift_id_for
from alignment_flywheel.governance.features import proposal_features, shape_features

MIN_SAMPLES = 30
COOLDOWN = 100
RECENT_WEIGHT = 0.05
DIMENSIONS = ("proposer", "tool", "version")
Pair = tuple[Proposal, VerdictIssued]
Metric = Callable[[VerdictIssued], float]
METRICS: dict[str, tuple[str, Metric]] = {
    "block_rate": ("adwin", lambda v: float(v.decision is Decision.BLOCK)),
    "escalate_rate": ("adwin", lambda v: float(v.decision is Decision.ESCALATE)),
    "score": ("adwin", lambda v: v.safety_score),
    "uncertainty": ("adwin", lambda v: v.uncertainty),
    "intervention_rate": (
        "page-hinkley",
        lambda v: float(v.decision in (Decision.BLOCK, Decision.ESCALATE)),
    ),
}


@dataclass(frozen=True, slots=True)
class Detection:
    """One detection, as ``DriftDetected`` carries it."""

    drift_id: uuid.UUID
    detector: str
    dimension: str
    subject: str
    metric: str
    value: float
    baseline: float
    evidence: dict[str, str]
    trigger: uuid.UUID


@dataclass(slots=True)
class _Series:
    """One metric of one subject: its detector and the figures for the detection."""

    detector: Any
    count: int = 0
    total: float = 0.0
    recent: float | None = None
    last_detection: int = -COOLDOWN

    def update(self, x: float, seen: int) -> tuple[float, float] | None:
        """Feed ``x``; (value, baseline) if the detector fires outside the cooldown."""
        self.count += 1
        self.total += x
        self.recent = x if self.recent is None else self.recent + RECENT_WEIGHT * (x - self.recent)
        self.detector.update(x)
        if not self.detector.drift_detected or seen < MIN_SAMPLES:
            return None
        if seen - self.last_detection < COOLDOWN:
            return None
        baseline = self.total / self.count
        estimation = getattr(self.detector, "estimation", None)
        value = float(estimation) if isinstance(estimation, float) else self.recent
        self.count, self.total, self.last_detection = 0, 0.0, seen
        return value, baseline


def _detector(kind: str) -> Any:
    if kind == "adwin":
        return river_drift.ADWIN()  # type: ignore[no-untyped-call]
    return river_drift.PageHinkley()


@dataclass(slots=True)
class _Subject:
    series: dict[str, _Series] = field(default_factory=dict)
    seen: int = 0
    recent: deque[Pair] = field(default_factory=deque)


@dataclass(slots=True)
class _ToolKnowledge:
    count: int = 0
    keys: set[str] = field(default_factory=set)
    shapes: set[str] = field(default_factory=set)


class DriftWatch:
    """Detectors and novelty per subject; see the module rules."""

    def __init__(
        self, *, warmup: int = 200, tool_warmup: int = 20, samples_per_detection: int = 5
    ) -> None:
        self.warmup = warmup
        self.tool_warmup = tool_warmup
        self.samples_per_detection = samples_per_detection
        self.observed = 0
        self._subjects: dict[tuple[str, str], _Subject] = {}
        self._tools: dict[str, _ToolKnowledge] = {}

    def observe(self, proposal: Proposal, verdict: VerdictIssued) -> list[Detection]:
        """Detections triggered by one proposal and its enforced verdict."""
        detections = self._novelty(proposal, verdict)
        subjects = (verdict.proposer_id, verdict.tool, str(verdict.oracle_version))
        for dimension, name in zip(DIMENSIONS, subjects, strict=True):
            detections += self._changes(dimension, name, verdict)
            subject = self._subjects[(dimension, name)]
            subject.recent.append((proposal, verdict))
            while len(subject.recent) > self.samples_per_detection:
                subject.recent.popleft()
        self.observed += 1
        return detections

    def samples(self, detection: Detection, trigger: Pair) -> list[Pair]:
        """The triggering pair, then the newest pairs of the drifting subject (bounded)."""
        subject = self._subjects.get((detection.dimension, detection.subject))
        recent = [] if subject is None else list(reversed(subject.recent))
        picked = [trigger]
        for pair in recent:
            if pair[0].proposal_id != trigger[0].proposal_id:
                picked.append(pair)
        return picked[: self.samples_per_detection]

    def _changes(self, dimension: str, name: str, verdict: VerdictIssued) -> list[Detection]:
        subject = self._subjects.setdefault((dimension, name), _Subject())
        subject.seen += 1
        found = []
        for metric, (kind, measure) in METRICS.items():
            series = subject.series.get(metric)
            if series is None:
                series = subject.series[metric] = _Series(_detector(kind))
            fired = series.update(measure(verdict), subject.seen)
            if fired is None:
                continue
            evidence = {
                "observations": str(subject.seen),
                "oracle_version": str(verdict.oracle_version),
                "decision": verdict.decision.value,
            }
            found.append(
                _detection(
                    kind, (dimension, name, metric), fired, evidence=evidence, verdict=verdict
                )
            )
        return found

    def _novelty(self, proposal: Proposal, verdict: VerdictIssued) -> list[Detection]:
        features = proposal_features(proposal)
        known = self._tools.get(proposal.tool)
        found: list[Detection] = []
        if known is None:
            known = self._tools[proposal.tool] = _ToolKnowledge()
            if self.observed >= self.warmup:
                evidence = {"feature": f"tool={proposal.tool}"}
                figures = (1.0, float(len(self._tools) - 1))
                where = ("tool", proposal.tool, "new_tool")
                found.append(
                    _detection("novelty", where, figures, evidence=evidence, verdict=verdict)
                )
        for metric, seen, current in (
            ("new_argument_key", known.keys, features.keys),
            ("new_value_shape", known.shapes, shape_features(features)),
        ):
            new = sorted(current - seen)
            if new and known.count >= self.tool_warmup and not found:
                evidence = {"features": " ".join(new), "tool": proposal.tool}
                figures = (float(len(new)), float(len(seen)))
                where = ("tool", proposal.tool, metric)
                found.append(
                    _detection("novelty", where, figures, evidence=evidence, verdict=verdict)
                )
            seen.update(current)
        known.count += 1
        return found


def _detection(
    detector: str,
    where: tuple[str, str, str],
    figures: tuple[float, float],
    *,
    evidence: dict[str, str],
    verdict: VerdictIssued,
) -> Detection:
    dimension, subject, metric = where
    trigger = verdict.proposal_id
    return Detection(
        drift_id=drift_id_for(dimension, subject, metric, trigger),
        detector=detector,
        dimension=dimension,
        subject=subject,
        metric=metric,
        value=figures[0],
        baseline=figures[1],
        evidence={**evidence, "trigger_proposal_id": str(trigger)},
        trigger=trigger,
    )


def drift_event(detection: Detection, producer: str) -> DriftDetected:
    """The DriftDetected of a detection, keyed by its subject; its event id is the drift id."""
    envelope = new_envelope(producer, detection.subject, trace_id=detection.drift_id.hex)
    return DriftDetected(
        envelope=envelope.model_copy(update={"event_id": detection.drift_id}),
        drift_id=detection.drift_id,
        detector=detection.detector,
        dimension=detection.dimension,
        subject=detection.subject,
        metric=detection.metric,
        value=detection.value,
        baseline=detection.baseline,
        evidence=detection.evidence,
    )


def drift_findings(detection: Detection, samples: list[Pair], producer: str) -> list[FindingRaised]:
    """One DRIFT finding per sampled pair, for verification; ids follow from the drift id."""
    findings = []
    for proposal, verdict in samples:
        finding_id = drift_finding_id(detection.drift_id, proposal.proposal_id)
        envelope = new_envelope(producer, str(finding_id), correlation_id=str(detection.drift_id))
        findings.append(
            FindingRaised(
                envelope=envelope.model_copy(update={"event_id": finding_id}),
                finding_id=finding_id,
                source=FindingSource.DRIFT,
                proposal=proposal,
                oracle_version=verdict.oracle_version,
                oracle_decision=verdict.decision,
                description=(
                    f"drift: {detection.metric} of {detection.dimension} {detection.subject} "
                    f"moved to {detection.value:.3f} from {detection.baseline:.3f} "
                    f"({detection.detector})"
                ),
            )
        )
    return findings
