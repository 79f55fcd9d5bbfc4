"""`flywheel incident report`: what went wrong, into the pipeline (``flywheel intake run``).

``report`` finds the proposal on the proposals topic (from ``--since-hours`` ago) and publishes an
``IncidentReported`` carrying it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import IncidentKind, ProposalSubmitted, Severity
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.roles import topic_for

app = typer.Typer(help="Incidents: report a wrong verdict.", no_args_is_help=True)


@app.command("report")
@reports_errors
def report(
    ctx: typer.Context,
    *,
    proposal_id: Annotated[uuid.UUID, typer.Argument(help="The proposal whose verdict was wrong.")],
    kind: Annotated[IncidentKind, typer.Option("--kind")],
    severity: Annotated[Severity, typer.Option("--severity")],
    description: Annotated[str, typer.Option("--description")],
    since_hours: Annotated[float, typer.Option("--since-hours")] = 24.0,
    proposals: Annotated[str, typer.Option("--proposals-topic")] = topic_for("ProposalSubmitted"),
    incidents: Annotated[str, typer.Option("--incidents-topic")] = topic_for("IncidentReported"),
) -> None:
    """Report an incident about a proposal seen on the proposals topic."""
    cli = cli_context(ctx)
    settings = cli.settings
    codec = EventCodec.from_settings(settings)
    since = datetime.now(UTC) - timedelta(hours=since_hours)
    found = next(
        (
            e.proposal
            for e in read_topic(settings, codec, proposals, since=since)
            if isinstance(e, ProposalSubmitted) and e.proposal.proposal_id == proposal_id
        ),
        None,
    )
    if found is None:
        raise InvalidInputError(
            f"proposal {proposal_id} is not on {proposals} in the last {since_hours:g} hours"
        )
    incident = incident_report(
        found, kind=kind, severity=severity, description=description, reporter=settings.identity
    )
    with EventProducer(settings, codec) as producer:
        producer.send(incidents, incident)
    cli.console.print(f"incident {incident.incident_id} reported on {incidents}")
