"""The drift watch's pure core (:mod:`.step`): proposals and verdicts in, drift and findings out.

The step takes a decoded ``ProposalSubmitted`` or ``VerdictIssued`` and reads two *memory*
tables, keyed by proposal id: ``proposals`` (a proposal waiting for its enforced verdict) and
``verdicts`` (an enforced verdict waiting for its proposal). When both halves are there the pair
goes to the core's :class:`~.drift.DriftWatch` (detectors, recent pairs, known features: the
core's own process state, not a table). Rules:

* **The join.** A half whose partner waits deletes the partner's entry and completes the pair; a
  half without one is stored (a redelivered half replaces itself), at most ``max_waiting``
  entries per table, the oldest dropped. A shadow verdict (not enforced) writes and emits
  nothing.
* **What a pair emits.** The watch observes the pair; for each detection, in order, the step
  emits its ``DriftDetected`` (:func:`~.drift.drift_event`, event id the drift id) then its
  ``FindingRaised`` samples (:func:`~.drift.drift_findings`, event ids the finding ids, derived
  from the drift id and each sampled proposal id).
* **Redelivery.** A half redelivered after its pair was observed finds no partner and waits; it
  emits nothing. A pair observed again (both halves redelivered) is observed twice by the watch.
  A detection triggered again by the same proposal carries the same drift id and finding ids.
* **Restarts.** Nothing of the role survives a restart: the waiting halves are memory tables and
  a restarted worker builds a new core with a new watch, whose detectors learn their baselines
  again. After a crash the output is what a fresh worker gives for the inputs after the committed
  offset: a pair whose first half was committed before the crash never completes, and a
  detection sent but not committed comes again only if the new detectors fire on the same
  trigger, then with the same ids.
"""

from __future__ import annotations

import itertools

from alignment_flywheel.events import (
    DriftDetected,
    FindingRaised,
    Proposal,
    ProposalSubmitted,
    VerdictIssued,
)
from alignment_flywheel.governance.drift import DriftWatch, drift_event, drift_findings
from alignment_flywheel.governance.step import Stepped, Table, Tables, Writes

PROPOSALS, VERDICTS = "proposals", "verdicts"
MAX_WAITING = 10_000
Drifted = DriftDetected | FindingRaised
"""What a drift step emits."""


class DriftCore:
    """The drift watch's step (see the module rules)."""

    def __init__(self, watch: DriftWatch, producer: str, *, max_waiting: int = MAX_WAITING) -> None:
        self.watch = watch
        self.max_waiting = max_waiting
        self._producer = producer

    def __call__(
        self, tables: Tables, event: ProposalSubmitted | VerdictIssued
    ) -> Stepped[Drifted]:
        if isinstance(event, ProposalSubmitted):
            return self.proposal(tables, event.proposal)
        if event.enforced:
            return self.verdict(tables, event)
        return Stepped()

    def proposal(self, tables: Tables, proposal: Proposal) -> Stepped[Drifted]:
        """Pair a proposal with its waiting verdict, or store it."""
        key = str(proposal.proposal_id)
        verdict: VerdictIssued | None = tables[VERDICTS].get(key)
        if verdict is None:
            return Stepped(self._wait(tables[PROPOSALS], PROPOSALS, key, proposal))
        return Stepped({VERDICTS: {key: None}}, self.observe(proposal, verdict))

    def verdict(self, tables: Tables, verdict: VerdictIssued) -> Stepped[Drifted]:
        """Pair an enforced verdict with its waiting proposal, or store it."""
        key = str(verdict.proposal_id)
        proposal: Proposal | None = tables[PROPOSALS].get(key)
        if proposal is None:
            return Stepped(self._wait(tables[VERDICTS], VERDICTS, key, verdict))
        return Stepped({PROPOSALS: {key: None}}, self.observe(proposal, verdict))

    def observe(self, proposal: Proposal, verdict: VerdictIssued) -> tuple[Drifted, ...]:
        """The watch's detections of one pair, each followed by its sampled findings."""
        emitted: list[Drifted] = []
        for detection in self.watch.observe(proposal, verdict):
            emitted.append(drift_event(detection, self._producer))
            samples = self.watch.samples(detection, (proposal, verdict))
            emitted.extend(drift_findings(detection, samples, self._producer))
        return tuple(emitted)

    def _wait(self, table: Table, name: str, key: str, value: object) -> Writes:
        """Store ``value`` under ``key``, dropping the oldest entries beyond ``max_waiting``."""
        excess = len(table) + (key not in table) - self.max_waiting
        dropped = itertools.islice((k for k in table if k != key), max(excess, 0))
        changes: dict[str, object] = {old: None for old in dropped}
        changes[key] = value
        return {name: changes}
