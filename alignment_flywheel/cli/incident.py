"""`flywheel incident report` and `flywheel intake run`: what went wrong, into the pipeline.

``report`` finds the proposal on the proposals topic (from ``--since-hours`` ago) and publishes an
``IncidentReported`` carrying it. ``intake run`` is the worker that turns incidents into findings,
judged by the oracle in force (it follows releases like a gate).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.producer import EventProducer
from alignment_flywheel.connectors.reader import read_topic
from alignment_flywheel.enforcement.enforcer import build_enforcer
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import IncidentKind, ProposalSubmitted, Severity
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.processors.app import run_worker
from alignment_flywheel.processors.intake import IntakeTopics, build_intake
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
from alignment_flywheel.roles import group_for, topic_for

app = typer.Typer(help="Incidents: report a wrong verdict.", no_args_is_help=True)
intake_app = typer.Typer(help="The intake worker: incidents into findings.", no_args_is_help=True)
_TOPICS, _RELEASES = IntakeTopics(), ReleaseTopics()


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
    incidents: Annotated[str, typer.Option("--incidents-topic")] = _TOPICS.incidents,
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


@intake_app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[str, typer.Option("--app-id")] = group_for("intake"),
    incidents: Annotated[str, typer.Option("--incidents-topic")] = _TOPICS.incidents,
    findings: Annotated[str, typer.Option("--findings-topic")] = _TOPICS.findings,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _TOPICS.dead_letters,
    patches: Annotated[str, typer.Option("--patches-topic")] = _RELEASES.patches,
    releases: Annotated[str, typer.Option("--releases-topic")] = _RELEASES.releases,
) -> None:
    """Run the intake worker until SIGTERM/Ctrl-C."""
    settings = cli_context(ctx).settings
    enforcer = build_enforcer(settings)
    genesis = load_artifact(oracle_path(settings))
    follower = ReleaseFollower(
        settings, genesis, topics=ReleaseTopics(patches, releases), check=follower_check(settings)
    ).start()
    follower.attach_deployment(enforcer.deploy)
    intake = build_intake(
        settings, enforcer, app_id=app_id, topics=IntakeTopics(incidents, findings, dead_letters)
    )
    try:
        run_worker(intake.app)
    finally:
        follower.stop()
