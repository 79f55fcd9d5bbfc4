"""The review state folded from the reviews topic, and the CLI's age column."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from alignment_flywheel.cli.review import _age
from alignment_flywheel.events import ReviewDecided, ReviewOutcome, ReviewRequested, new_envelope
from alignment_flywheel.review import PendingReview, fold_reviews


def _request(minutes_ago: float) -> ReviewRequested:
    pid = uuid.uuid4()
    envelope = new_envelope("gate", str(pid)).model_copy(
        update={"occurred_at": datetime.now(UTC) - timedelta(minutes=minutes_ago)}
    )
    return ReviewRequested(
        envelope=envelope,
        review_id=uuid.uuid4(),
        proposal_id=pid,
        decision_id=uuid.uuid4(),
        reason="risky",
    )


def _decided(request: ReviewRequested, outcome: ReviewOutcome, who: str) -> ReviewDecided:
    return ReviewDecided(
        envelope=new_envelope(who, str(request.proposal_id)),
        review_id=request.review_id,
        proposal_id=request.proposal_id,
        outcome=outcome,
        reviewer=who,
        reason="r",
    )


def test_pending_are_requests_without_decision_oldest_first():
    new, old, done = _request(1), _request(30), _request(10)
    state = fold_reviews([new, done, old, _decided(done, ReviewOutcome.DENY, "bob")])
    assert [r.review_id for r in state.pending()] == [old.review_id, new.review_id]


def test_the_first_decision_of_a_review_counts():
    request = _request(5)
    state = fold_reviews(
        [
            request,
            _decided(request, ReviewOutcome.APPROVE, "alice"),
            _decided(request, ReviewOutcome.DENY, "bob"),
        ]
    )
    assert state.decisions[request.review_id].reviewer == "alice"
    assert state.pending() == []


def test_a_decision_without_a_request_is_not_pending():
    orphan = _request(1)
    state = fold_reviews([_decided(orphan, ReviewOutcome.APPROVE, "alice")])
    assert state.pending() == [] and orphan.review_id not in state.requests


def test_age_of_a_pending_review():
    pending = PendingReview(request=_request(3))
    assert timedelta(minutes=3) <= pending.age() < timedelta(minutes=4)
    assert _age(timedelta(seconds=42)) == "42 s"
    assert _age(timedelta(minutes=5)) == "5 min"
    assert _age(timedelta(hours=3)) == "3 h"
