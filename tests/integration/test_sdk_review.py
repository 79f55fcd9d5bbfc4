"""Escalated SDK calls wait for a human's ReviewDecided on the real broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.sdk import (
    ActionEscalated,
    Guard,
    ReviewTimeout,
    SdkTopics,
)
from alignment_flywheel.events import (
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    new_envelope,
)
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.kafka.producer import EventProducer
from tests.integration.test_sdk_publish import _read
from tests.unit.test_sdk_fakes import ToolEnforcer


@pytest.fixture
def setup(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> tuple[Settings, SdkTopics, EventCodec]:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    topics = SdkTopics(
        proposals=make_topic(unique_name("sdk-proposals")),
        verdicts=make_topic(unique_name("sdk-verdicts")),
        reviews=make_topic(unique_name("sdk-reviews"), partitions=3),
    )
    return settings, topics, EventCodec.from_settings(settings)


def _answer(
    settings: Settings, codec: EventCodec, topic: str, outcome: ReviewOutcome
) -> ReviewRequested:
    """Wait for the escalation's ReviewRequested, then decide it as a human would."""
    ((requested, _),) = _read(settings, codec, topic, 1)
    assert isinstance(requested, ReviewRequested)
    # an unrelated decision first: the waiter must only accept its own proposal's answer
    other = _decided(uuid.uuid4(), uuid.uuid4(), ReviewOutcome.APPROVE)
    with EventProducer(settings, codec) as producer:
        producer.send(topic, other)
        producer.send(topic, _decided(requested.review_id, requested.proposal_id, outcome))
    return requested


def _decided(review_id: uuid.UUID, proposal_id: uuid.UUID, outcome: ReviewOutcome) -> ReviewDecided:
    return ReviewDecided(
        envelope=new_envelope("reviewer-test", str(proposal_id)),
        review_id=review_id,
        proposal_id=proposal_id,
        outcome=outcome,
        reviewer="alice",
        reason="looked at it",
    )


def _enforce_in_thread(guard: Guard, timeout_s: float) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["allowed"] = guard.enforce(
                "review.deploy", {"service": "api"}, review_timeout_s=timeout_s
            )
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


@pytest.mark.parametrize("outcome", [ReviewOutcome.APPROVE, ReviewOutcome.DENY])
def test_an_escalated_call_follows_the_reviewer(
    setup: tuple[Settings, SdkTopics, EventCodec], outcome: ReviewOutcome
) -> None:
    settings, topics, codec = setup
    with Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-r", topics=topics) as guard:
        thread, box = _enforce_in_thread(guard, 30.0)
        requested = _answer(settings, codec, topics.reviews, outcome)
        thread.join(30)
    assert not thread.is_alive()
    if outcome is ReviewOutcome.APPROVE:
        assert box == {"allowed": {"service": "api"}}
    else:
        error = box["error"]
        assert isinstance(error, ActionEscalated)
        assert not isinstance(error, ReviewTimeout)
        assert "denied by reviewer alice" in str(error)
        assert error.result.proposal_id == requested.proposal_id


def test_no_review_in_time_denies_and_records_it(
    setup: tuple[Settings, SdkTopics, EventCodec],
) -> None:
    settings, topics, codec = setup
    with Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-t", topics=topics) as guard:
        started = time.monotonic()
        with pytest.raises(ReviewTimeout, match="no review decision within 1 s") as caught:
            guard.enforce("review.deploy", {"service": "api"}, review_timeout_s=1.0)
        assert time.monotonic() - started < 10
    events = [e for e, _ in _read(settings, codec, topics.reviews, 2)]
    requested, decided = sorted(events, key=lambda e: isinstance(e, ReviewDecided))
    assert isinstance(requested, ReviewRequested)
    assert isinstance(decided, ReviewDecided)
    assert decided.automatic
    assert decided.outcome is ReviewOutcome.DENY
    assert decided.review_id == requested.review_id
    assert decided.proposal_id == caught.value.result.proposal_id


def test_resolve_after_check_sees_a_decision_made_in_between(
    setup: tuple[Settings, SdkTopics, EventCodec],
) -> None:
    settings, topics, codec = setup
    with Guard(settings, enforcer=ToolEnforcer(), proposer_id="agent-c", topics=topics) as guard:
        result = guard.check("review.deploy", {"service": "db"})
        _answer(settings, codec, topics.reviews, ReviewOutcome.APPROVE)
        assert guard.resolve(result, review_timeout_s=20) == {"service": "db"}
