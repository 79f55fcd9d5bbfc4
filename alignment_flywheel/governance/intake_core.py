"""Intake's pure core (:mod:`.step`): one incident in, its finding out; no tables.

The step takes a decoded ``IncidentReported`` and returns the one ``FindingRaised`` to send
(:func:`~.intake.incident_finding`, judged by the shell's decider: the oracle in force when the
step runs). It writes nothing. Rules:

* **One finding per incident**, emitted by the step that reads it; the finding id is
  :func:`~alignment_flywheel.events.ids.incident_finding_id` of the incident id and its
  correlation id is the incident id.
* **Bad input raises.** An incident without its proposal raises
  :class:`~.intake.IncidentWithoutProposalError` (an ``InvalidInputError``): the shell
  dead-letters the record and emits nothing for it.
* **Redelivery.** A redelivered incident gives the finding again: the same finding id, proposal
  and description, and the decision of the oracle in force then (another one if a release came
  in between). Its envelope is new (event id, time, trace), so downstream recognises the
  duplicate by its finding id: the triage join keys by it and verification derives its ids from
  it.
* **Restarts.** With no state, a crash loses only uncommitted offsets: every incident after the
  committed offset is read again and its finding sent again. A crash after the broker confirmed
  a finding but before the offset was committed leaves that finding twice in the output (same
  finding id); no incident is left without a finding.
"""

from __future__ import annotations

from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.events import FindingRaised, IncidentReported
from alignment_flywheel.governance.intake import incident_finding
from alignment_flywheel.governance.step import Stepped, Tables


class IntakeCore:
    """Intake's step (see the module rules)."""

    def __init__(self, decider: Decider, producer: str) -> None:
        self.decider = decider
        self._producer = producer

    def __call__(self, tables: Tables, incident: IncidentReported) -> Stepped[FindingRaised]:
        finding = incident_finding(incident, self.decider, self._producer)
        return Stepped(emitted=(finding,))
