"""An escalation goes from the gate to `flywheel review list`, is approved once, then is gone."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import ReviewDecided, ReviewOutcome
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.processors.gate import review_id_for
from alignment_flywheel.review import ReviewDesk
from tests.support.kafka import collect_events
from tests.support.samples import sample_proposal_submitted
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
        "FLYWHEEL_IDENTITY": "alice@example.com",
        "COLUMNS": "250",
    }
    where = ["--reviews-topic", topics["reviews"]]
    runner = CliRunner()
    listed = runner.invoke(
        app, ["review", "list", *where, "--verdicts-topic", topics["verdicts"]], env=env
    )
    assert listed.exit_code == 0, listed.output
    first, second = (review_id_for(e.proposal.proposal_id) for e in escalated)
    assert str(first) in listed.output and str(second) in listed.output
    assert "email.send" in listed.output and "support-agent" in listed.output

    approved = runner.invoke(
        app, ["review", "approve", str(first), "--reason", "customer asked", *where], env=env
    )
    assert approved.exit_code == 0, approved.output
    assert "APPROVE by alice@example.com" in approved.output

    again = runner.invoke(
        app, ["review", "deny", str(first), "--reason", "second thoughts", *where], env=env
    )
    assert again.exit_code == 1
    assert "already decided: APPROVE by alice@example.com" in again.output
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
