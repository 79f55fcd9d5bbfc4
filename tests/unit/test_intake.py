"""Incidents become findings, judged by the oracle in force."""

from __future__ import annotations

import pytest

from alignment_flywheel.events import Decision, FindingSource, IncidentKind, Severity
from alignment_flywheel.events.ids import incident_finding_id
from alignment_flywheel.governance.intake import (
    IncidentWithoutProposalError,
    incident_finding,
    incident_report,
)
from tests.support.oracles import enforcer, proposal, rule


def test_an_incident_becomes_a_finding_with_the_current_decision() -> None:
    harmful = proposal(arguments={"cmd": "rm -rf /srv"})
    incident = incident_report(
        harmful,
        kind=IncidentKind.HARM,
        severity=Severity.CRITICAL,
        description="deleted prod",
        reporter="ops",
    )
    gate = enforcer(rule("rm", 'args.cmd.startsWith("rm")', score=0.0))
    finding = incident_finding(incident, gate, "intake")
    assert finding.finding_id == incident_finding_id(incident.incident_id)
    assert finding.source is FindingSource.INCIDENT
    assert finding.proposal == harmful
    assert (finding.oracle_decision, finding.oracle_version) == (Decision.BLOCK, 1)
    assert finding.description == "HARM (CRITICAL): deleted prod"
    assert incident_finding(incident, gate, "intake").finding_id == finding.finding_id


def test_an_incident_without_its_proposal_is_bad_input() -> None:
    incident = incident_report(
        proposal(),
        kind=IncidentKind.FALSE_POSITIVE,
        severity=Severity.LOW,
        description="x",
        reporter="ops",
    ).model_copy(update={"proposal": None})
    with pytest.raises(IncidentWithoutProposalError, match="does not carry proposal"):
        incident_finding(incident, enforcer(), "intake")
