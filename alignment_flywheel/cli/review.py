"""`flywheel review`: list pending escalations, approve or deny one.

``list`` reads the reviews topic (and the verdicts topic for tool and proposer) without committing
anything, and marks the reviews past their deadline ``expired``; ``--output json`` gives every
field in full. ``approve``/``deny`` publish a ``ReviewDecided`` and exit 1 with a one-line message
when the review id is unknown, already decided, or the reason is empty, and exit 5 when the
review has expired (nothing is published). The reviewer is a person: ``--reviewer``, or the name
of the OS user running the command (never a host or process id).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from alignment_flywheel.cli.context import cli_context, person, reports_errors
from alignment_flywheel.cli.output import Column, OutputFormat, OutputOption, emit
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import ReviewOutcome
from alignment_flywheel.review import (
    REVIEWS_TOPIC,
    VERDICTS_TOPIC,
    PendingReview,
    ReviewDesk,
)

app = typer.Typer(help="Human review of escalated proposals.", no_args_is_help=True)

ReviewsTopic = Annotated[str, typer.Option("--reviews-topic", help="The reviews topic.")]
VerdictsTopic = Annotated[str, typer.Option("--verdicts-topic", help="The verdicts topic.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (required, recorded in the event).")]
Reviewer = Annotated[
    str | None,
    typer.Option("--reviewer", help="Who decides, a person (default: the OS user name)."),
]
COLUMNS = (
    Column("review_id", "review", 13),
    Column("state", "state", 7),
    Column("tool", "tool", 14),
    Column("proposer", "proposer", 14),
    Column("age", "age", 6),
    Column("reason", "why escalated", 40),
)


@app.command("list")
@reports_errors
def list_reviews(
    ctx: typer.Context,
    reviews_topic: ReviewsTopic = REVIEWS_TOPIC,
    verdicts_topic: VerdictsTopic = VERDICTS_TOPIC,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Pending escalations, oldest first; those past their deadline are marked expired."""
    cli = cli_context(ctx)
    desk = ReviewDesk(cli.settings, reviews_topic=reviews_topic, verdicts_topic=verdicts_topic)
    now = datetime.now(UTC)
    rows = [review_row(item, now) for item in desk.pending()]
    live = sum(1 for row in rows if row["state"] == "live")
    emit(
        rows,
        COLUMNS,
        output=output,
        title=f"{len(rows)} pending review(s): {live} live, {len(rows) - live} expired",
        empty="no pending reviews",
    )


@app.command("approve")
@reports_errors
def approve(
    ctx: typer.Context,
    review_id: str,
    reason: Reason = "",
    reviewer: Reviewer = None,
    reviews_topic: ReviewsTopic = REVIEWS_TOPIC,
) -> None:
    """Approve a pending review: the escalated action may go ahead."""
    _decide(
        ctx, review_id, ReviewOutcome.APPROVE, reason=reason, reviewer=reviewer, topic=reviews_topic
    )


@app.command("deny")
@reports_errors
def deny(
    ctx: typer.Context,
    review_id: str,
    reason: Reason = "",
    reviewer: Reviewer = None,
    reviews_topic: ReviewsTopic = REVIEWS_TOPIC,
) -> None:
    """Deny a pending review: the escalated action must not happen."""
    _decide(
        ctx, review_id, ReviewOutcome.DENY, reason=reason, reviewer=reviewer, topic=reviews_topic
    )


def _decide(
    ctx: typer.Context,
    review_id: str,
    outcome: ReviewOutcome,
    *,
    reason: str,
    reviewer: str | None,
    topic: str,
) -> None:
    cli = cli_context(ctx)
    try:
        parsed = uuid.UUID(review_id)
    except ValueError:
        raise InvalidInputError(f"{review_id!r} is not a review id (a UUID)") from None
    desk = ReviewDesk(cli.settings, reviews_topic=topic)
    decided = desk.decide(parsed, outcome, reviewer=person(reviewer), reason=reason)
    typer.echo(
        f"review {decided.review_id} {decided.outcome.value} by {decided.reviewer} "
        f"(proposal {decided.proposal_id})"
    )


def review_row(item: PendingReview, now: datetime) -> dict[str, Any]:
    """One pending review as a row: every field in full (the table shortens them)."""
    request = item.request
    return {
        "review_id": str(request.review_id),
        "proposal_id": str(request.proposal_id),
        "state": "expired" if item.expired(now) else "live",
        "tool": item.tool,
        "proposer": item.proposer,
        "reason": request.reason,
        "requested_at": request.envelope.occurred_at,
        "deadline": request.deadline,
        "age": _age(item.age(now)),
        "age_s": round(item.age(now).total_seconds(), 3),
    }


def _age(age: timedelta) -> str:
    seconds = max(int(age.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
