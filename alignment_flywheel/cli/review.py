"""`flywheel review`: list pending escalations, approve or deny one.

``list`` reads the reviews topic (and the verdicts topic for tool and proposer) without committing
anything; ``approve``/``deny`` publish a ``ReviewDecided`` and exit 1 with a clear message when the
review id is unknown, already decided, or the reason is empty. The reviewer is ``--reviewer`` or
the configured identity.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import ReviewOutcome
from alignment_flywheel.review import REVIEWS_TOPIC, VERDICTS_TOPIC, PendingReview, ReviewDesk

app = typer.Typer(help="Human review of escalated proposals.", no_args_is_help=True)

ReviewsTopic = Annotated[str, typer.Option("--reviews-topic", help="The reviews topic.")]
VerdictsTopic = Annotated[str, typer.Option("--verdicts-topic", help="The verdicts topic.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (required, recorded in the event).")]
Reviewer = Annotated[
    str | None, typer.Option("--reviewer", help="Who decides (default: settings.identity).")
]


@app.command("list")
@reports_errors
def list_reviews(
    ctx: typer.Context,
    reviews_topic: ReviewsTopic = REVIEWS_TOPIC,
    verdicts_topic: VerdictsTopic = VERDICTS_TOPIC,
) -> None:
    """Pending escalations, oldest first."""
    cli = cli_context(ctx)
    desk = ReviewDesk(cli.settings, reviews_topic=reviews_topic, verdicts_topic=verdicts_topic)
    pending = desk.pending()
    if not pending:
        cli.console.print("no pending reviews")
        return
    cli.console.print(_table(pending))


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
    decided = desk.decide(
        parsed, outcome, reviewer=reviewer or cli.settings.identity, reason=reason
    )
    cli.console.print(
        f"review {decided.review_id} {decided.outcome.value} by {decided.reviewer} "
        f"(proposal {decided.proposal_id})"
    )


def _table(pending: list[PendingReview]) -> Table:
    now = datetime.now(UTC)
    table = Table(title=f"{len(pending)} pending review(s)")
    for column in ("review id", "proposal id", "tool", "proposer", "reason", "deadline", "age"):
        table.add_column(column, overflow="fold")
    for item in pending:
        request = item.request
        deadline = request.deadline
        table.add_row(
            str(request.review_id),
            str(request.proposal_id),
            item.tool or "?",
            item.proposer or "?",
            request.reason,
            "-" if deadline is None else deadline.strftime("%Y-%m-%d %H:%M:%S"),
            _age(item.age(now)),
        )
    return table


def _age(age: timedelta) -> str:
    seconds = max(int(age.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
