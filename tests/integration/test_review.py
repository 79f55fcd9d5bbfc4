"""An escalation goes from the gate to `flywheel review list`, is approved once, then is gone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import ReviewDecided, ReviewOutcome
from alignment_flywheel.events.ids import review_id_for
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.review import ReviewDesk
from tests.support.kafka import collect_events
from tests.support.samples import review_request, sample_proposal_submitted
from tests.support.workers import hook, start_cli_worker, stop_worker, topic_options

pytestmark = pytest.mark.integration


def test_escalation_is_listed_approved_once_and_leaves_the_list(
    kafka_settings, make_topic, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        "proposals": make_topic(unique_name("proposals"), partitions=2),
        "verdicts": make_topic(unique_name("verdicts"), partitions=2),
        "reviews": make_topic(unique_name("reviews"), partitions=3),
        "dead_letters": make_topic(unique_name("dlq")),
        "partitions": 2,
    }
    escalated = [sample_proposal_submitted(2), sample_proposal_submitted(7)]  # email.send
    with EventProducer(kafka_settings, codec) as producer:
        for event in [sample_proposal_submitted(0), *escalated]:
            producer.send(topics["proposals"], event)
    args = ["gate", "run", "--no-follow", "--app-id", unique_name("gate"), *topic_options(topics)]
    args += ["--decider", hook("scripted")]
    worker = start_cli_worker(kafka_settings, args, tmp_path / "gate", tmp_path / "gate.log")
    try:
        requested = collect_events(
            kafka_settings,
            codec,
            topics["reviews"],
            group=unique_name("c"),
            count=2,
            dead_letter_topic=unique_name("x"),
        )
        verdicts = collect_events(
            kafka_settings,
            codec,
            topics["verdicts"],
            group=unique_name("c"),
            count=3,
            dead_letter_topic=unique_name("x"),
        )
    finally:
        stop_worker(worker)
    assert len(requested) == 2 and len(verdicts) == 3, (tmp_path / "gate.log").read_text()

    env = {
        **connection_env(kafka_settings),
        "FLYWHEEL_STATE_DIR": str(tmp_path / "cli"),
        "FLYWHEEL_IDENTITY": "vm/31615",
        "LOGNAME": "alice",
        "COLUMNS": "250",
    }
    where = ["--reviews-topic", topics["reviews"]]
    runner = CliRunner()
    listed = runner.invoke(
        app, ["review", "list", *where, "--verdicts-topic", topics["verdicts"]], env=env
    )
    assert listed.exit_code == 0, listed.output
    first, second = (review_id_for(e.proposal.proposal_id) for e in escalated)
    assert all(len(line) <= 80 for line in listed.output.splitlines()), listed.output
    assert str(first)[:12] in listed.output and str(second)[:12] in listed.output
    assert "email.send" in listed.output and "support-agent" in listed.output
    as_json = runner.invoke(
        app,
        ["review", "list", *where, "--verdicts-topic", topics["verdicts"], "-o", "json"],
        env=env,
    )
    rows = json.loads(as_json.output)["rows"]
    assert {r["review_id"] for r in rows} == {str(first), str(second)}
    assert {r["state"] for r in rows} == {"live"} and {r["tool"] for r in rows} == {"email.send"}

    approved = runner.invoke(
        app, ["review", "approve", str(first), "--reason", "customer asked", *where], env=env
    )
    assert approved.exit_code == 0, approved.output
    assert "APPROVE by alice " in approved.output, "the OS user, never the process identity"

    again = runner.invoke(
        app, ["review", "deny", str(first), "--reason", "second thoughts", *where], env=env
    )
    assert again.exit_code == 1
    assert "already decided: APPROVE by alice at" in again.output
    unknown = runner.invoke(
        app,
        ["review", "approve", str(escalated[0].envelope.event_id), "--reason", "x", *where],
        env=env,
    )
    assert unknown.exit_code == 1 and "no review" in unknown.output
    no_reason = runner.invoke(app, ["review", "deny", str(second), *where], env=env)
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output

    desk = ReviewDesk(
        kafka_settings, reviews_topic=topics["reviews"], verdicts_topic=topics["verdicts"]
    )
    assert [p.review_id for p in desk.pending()] == [second]
    decided = desk.state().decisions[first]
    assert isinstance(decided, ReviewDecided)
    assert decided.outcome is ReviewOutcome.APPROVE and decided.reason == "customer asked"
    assert decided.proposal_id == escalated[0].proposal.proposal_id
    assert decided.envelope.key == str(decided.proposal_id)
    desk.decide(second, ReviewOutcome.DENY, reviewer="bob", reason="not today")
    assert desk.pending() == []
    with pytest.raises(InvalidInputError, match="already decided: DENY by bob"):
        desk.decide(second, ReviewOutcome.APPROVE, reviewer="carol", reason="overrule")


def test_a_late_answer_is_refused_with_exit_5_and_the_reviewer_is_the_os_user(
    kafka_settings, make_topic, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    reviews = make_topic(unique_name("reviews"))
    late = review_request(datetime.now(UTC) - timedelta(seconds=5))
    live = review_request(datetime.now(UTC) + timedelta(minutes=10))
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(reviews, late)
        producer.send(reviews, live)
    env = {
        **connection_env(kafka_settings),
        "FLYWHEEL_STATE_DIR": str(tmp_path / "cli"),
        "FLYWHEEL_IDENTITY": "vm/27859",
        "LOGNAME": "grace",
    }
    where = ["--reviews-topic", reviews, "--verdicts-topic", make_topic(unique_name("v"))]
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list", *where, "-o", "json"], env=env)
    states = {r["review_id"]: r["state"] for r in json.loads(listed.output)["rows"]}
    assert states == {str(late.review_id): "expired", str(live.review_id): "live"}

    refused = runner.invoke(
        app, ["review", "approve", str(late.review_id), "--reason", "ok", *where[:2]], env=env
    )
    assert refused.exit_code == 5
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: review {late.review_id} expired at ")
    assert "nothing was recorded" in lines[0] and "ReviewExpiredError" not in lines[0]

    approved = runner.invoke(
        app, ["review", "approve", str(live.review_id), "--reason", "ok", *where[:2]], env=env
    )
    assert approved.exit_code == 0, approved.output
    desk = ReviewDesk(kafka_settings, reviews_topic=reviews)
    decisions = desk.state().decisions
    assert set(decisions) == {live.review_id}, "the late answer was not published"
    assert decisions[live.review_id].reviewer == "grace"
