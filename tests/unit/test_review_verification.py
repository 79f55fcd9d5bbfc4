"""A person's answer to a verification review becomes the finding's verification."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from alignment_flywheel import review
from alignment_flywheel.config import load_settings
from alignment_flywheel.events import (
    ReviewDecided,
    ReviewOutcome,
    Severity,
    VerificationOutcome,
    new_envelope,
)
from alignment_flywheel.governance.norms import load_norms
from alignment_flywheel.governance.verification import (
    review_id_for_finding,
    review_verification,
    verify,
)
from tests.support.governance import finding

NORMS = load_norms()


def _decided(
    finding_id: uuid.UUID,
    outcome: ReviewOutcome = ReviewOutcome.DENY,
    *,
    review_id: uuid.UUID | None = None,
    correlation_id: str | None = "",
    automatic: bool = False,
) -> ReviewDecided:
    proposal_id = uuid.uuid4()
    correlation = str(finding_id) if correlation_id == "" else correlation_id
    return ReviewDecided(
        envelope=new_envelope("desk", str(proposal_id), correlation_id=correlation),
        review_id=review_id or review_id_for_finding(finding_id),
        proposal_id=proposal_id,
        outcome=outcome,
        reviewer="alice@example.com",
        reason="mails the payroll file out",
        automatic=automatic,
    )


def test_a_denied_verification_review_confirms_a_violation() -> None:
    found = finding("crm.export", {"id": 7})
    decided = _decided(found.finding_id)
    recorded = review_verification(decided, NORMS.version, "verifier")
    assert recorded is not None
    assert recorded.finding_id == found.finding_id
    assert recorded.outcome is VerificationOutcome.VIOLATION
    assert recorded.severity is Severity.HIGH
    assert recorded.norm_ids == ()
    assert recorded.norms_version == NORMS.version
    assert "alice@example.com" in recorded.rationale
    assert "mails the payroll file out" in recorded.rationale
    assert recorded.envelope.key == str(found.finding_id)
    assert recorded.envelope.correlation_id == str(found.finding_id)
    assert recorded.envelope.producer == "verifier"
    assert recorded.envelope.event_id == recorded.verification_id


def test_an_approved_verification_review_is_no_violation() -> None:
    found = finding("crm.export", {"id": 7})
    recorded = review_verification(
        _decided(found.finding_id, ReviewOutcome.APPROVE), NORMS.version, "verifier"
    )
    assert recorded is not None
    assert recorded.outcome is VerificationOutcome.NO_VIOLATION
    assert recorded.finding_id == found.finding_id


def test_the_same_decision_gives_the_same_event() -> None:
    decided = _decided(uuid.uuid4())
    first = review_verification(decided, "v1", "verifier")
    again = review_verification(decided, "v1", "verifier")
    assert first is not None and first == again
    other = review_verification(_decided(uuid.uuid4()), "v1", "verifier")
    assert other is not None and other.verification_id != first.verification_id


@pytest.mark.parametrize(
    "case", ["no correlation", "not a uuid", "another review", "automatic", "gate review"]
)
def test_decisions_that_do_not_answer_a_verification_review_give_nothing(case: str) -> None:
    finding_id = uuid.uuid4()
    decided = {
        "no correlation": _decided(finding_id, correlation_id=None),
        "not a uuid": _decided(finding_id, correlation_id="trace-7"),
        "another review": _decided(finding_id, review_id=uuid.uuid4()),
        "automatic": _decided(finding_id, automatic=True),
        "gate review": _decided(uuid.uuid4(), review_id=review_id_for_finding(finding_id)),
    }[case]
    assert review_verification(decided, "v1", "verifier") is None


class _Producer:
    sent: list[tuple[str, object]] = []

    def __init__(self, *_args: object) -> None:
        pass

    def __enter__(self) -> _Producer:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def send(self, topic: str, event: object) -> None:
        self.sent.append((topic, event))


def test_the_desk_carries_the_requests_correlation_id_into_the_decision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = finding("crm.export", {"id": 7})
    request = verify(found, NORMS, "verifier").review
    assert request is not None
    monkeypatch.setattr(review, "EventProducer", _Producer)
    monkeypatch.setattr(review, "read_topic", lambda *_a, **_k: iter([request]))
    desk = review.ReviewDesk(load_settings(state_dir=tmp_path))
    decided = desk.decide(request.review_id, ReviewOutcome.DENY, reviewer="bob", reason="no")
    assert decided.envelope.correlation_id == str(found.finding_id)
    assert _Producer.sent == [(review.REVIEWS_TOPIC, decided)]
    recorded = review_verification(decided, NORMS.version, "verifier")
    assert recorded is not None and recorded.finding_id == found.finding_id
