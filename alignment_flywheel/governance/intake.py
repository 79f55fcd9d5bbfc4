"""Audit intake: what people report becomes findings for the pipeline to verify.

Rules:

* An ``IncidentReported`` names a proposal whose verdict was wrong: an allowed action that caused
  harm (HARM) or a blocked or escalated one that was fine (FALSE_POSITIVE). It must carry the
  proposal (the SDK and ``flywheel incident report`` put it in); one without it is bad input.
* Each incident becomes one ``FindingRaised`` (source INCIDENT) with the proposal, the decision
  the current oracle gives it now and the incident's description; the finding id is derived from
  the incident id, so a re-delivered incident gives the same finding.
"""

from __future__ import annotations

import uuid

from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import (
    FindingRaised,
    FindingSource,
    IncidentKind,
    IncidentReported,
    Proposal,
    Severity,
    new_envelope,
)
from alignment_flywheel.events.ids import emitted_event_id, incident_finding_id


class IncidentWithoutProposalError(InvalidInputError):
    """The incident does not carry the proposal it is about."""


def incident_finding(incident: IncidentReported, enforcer: Decider, producer: str) -> FindingRaised:
    """The finding of one incident, judged by the enforcer's current oracle."""
    proposal = incident.proposal
    if proposal is None:
        raise IncidentWithoutProposalError(
            f"incident {incident.incident_id} does not carry proposal {incident.proposal_id}; "
            "report it with the proposal (SDK report_incident or flywheel incident report)"
        )
    verdict = enforcer.decide(proposal)
    finding_id = incident_finding_id(incident.incident_id)
    return FindingRaised(
        envelope=new_envelope(
            producer, str(finding_id), correlation_id=str(incident.incident_id)
        ).model_copy(update={"event_id": emitted_event_id(incident.incident_id, "finding")}),
        finding_id=finding_id,
        source=FindingSource.INCIDENT,
        proposal=proposal,
        oracle_version=verdict.oracle_version,
        oracle_decision=verdict.decision,
        description=f"{incident.kind.value} ({incident.severity.value}): {incident.description}",
    )


def incident_report(
    proposal: Proposal,
    *,
    kind: IncidentKind,
    severity: Severity,
    description: str,
    reporter: str,
) -> IncidentReported:
    """The command: an incident about ``proposal``, carrying it."""
    incident_id = uuid.uuid4()
    return IncidentReported(
        envelope=new_envelope(reporter, str(incident_id)),
        incident_id=incident_id,
        proposal_id=proposal.proposal_id,
        kind=kind,
        severity=severity,
        description=description,
        reporter=reporter,
        proposal=proposal,
    )
