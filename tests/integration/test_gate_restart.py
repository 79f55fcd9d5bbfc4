"""A gate worker is SIGKILLed mid-stream and a new one in the same group takes over.

Every proposal must end with exactly one verdict as a ``read_committed`` consumer sees it: the
killed worker's open transaction is aborted by the broker, and what the new worker decides again
is committed once, with the same decision id and the same event id (derived from the proposal).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import VerdictIssued
from alignment_flywheel.events.ids import decision_id_for
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.kafka import (
    collect_events,
    wait_for_group,
    wait_for_records,
)
from tests.support.samples import sample_proposal_submitted
from tests.support.workers import (
    hook,
    replaceable_worker,
    start_cli_worker,
    stop_worker,
    topic_options,
)

pytestmark = pytest.mark.integration

PROPOSALS = 1200


def test_after_a_sigkill_a_read_committed_consumer_sees_exactly_one_verdict_per_proposal(
    kafka_settings, make_topic, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        "proposals": make_topic(unique_name("proposals"), partitions=6),
        "verdicts": make_topic(unique_name("verdicts"), partitions=6),
        "reviews": make_topic(unique_name("reviews")),
        "dead_letters": make_topic(unique_name("dlq")),
        "partitions": 6,
    }
    events = [sample_proposal_submitted(i) for i in range(PROPOSALS)]
    with EventProducer(kafka_settings, codec) as producer:
        for event in events:
            producer.send(topics["proposals"], event)
    app_id = unique_name("gate")
    args = ["gate", "run", "--no-follow", "--app-id", app_id, *topic_options(topics)]
    args += ["--decider", hook("slow_scripted")]
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    start = replaceable_worker(kafka_settings, args, tmp_path, delay_ms=5)
    first = start(0)
    replacement = None
    try:
        wait_for_records(kafka_settings, topics["verdicts"], 6, PROPOSALS // 4, timeout=150)
        assert stop_worker(first, kill=True) == -9
        replacement = start(1)
        verdicts = collect_events(
            kafka_settings,
            codec,
            topics["verdicts"],
            group=unique_name("c"),
            count=PROPOSALS,
            dead_letter_topic=unique_name("x"),
            idle_timeout=40,
        )
        extra = collect_events(
            kafka_settings,
            codec,
            topics["verdicts"],
            group=unique_name("c"),
            count=PROPOSALS * 2,
            dead_letter_topic=unique_name("x"),
            idle_timeout=15,  # all verdicts are on the topic; this finds duplicates
        )
    finally:
        for worker in (first, replacement):
            if worker is not None:
                stop_worker(worker)
    output = "\n".join(log.read_text()[-1500:] for log in logs)
    seen: dict[object, set[tuple[object, ...]]] = defaultdict(set)
    producers: set[str] = set()
    for verdict in extra:
        assert isinstance(verdict, VerdictIssued)
        seen[verdict.proposal_id].add(
            (verdict.decision_id, verdict.decision, verdict.envelope.event_id)
        )
        producers.add(verdict.envelope.producer)
    assert len(verdicts) == PROPOSALS, output
    assert set(seen) == {e.proposal.proposal_id for e in events}
    assert all(len(pairs) == 1 for pairs in seen.values())
    assert all(next(iter(seen[pid]))[0] == decision_id_for(pid) for pid in seen)
    assert {"worker-0", "worker-1"} <= producers, producers
    assert len(extra) == PROPOSALS, f"{len(extra) - PROPOSALS} duplicate verdicts after SIGKILL"


def test_two_workers_in_one_group_share_the_partitions(
    kafka_settings, make_topic, unique_name, tmp_path
):
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        "proposals": make_topic(unique_name("proposals"), partitions=6),
        "verdicts": make_topic(unique_name("verdicts"), partitions=6),
        "reviews": make_topic(unique_name("reviews")),
        "dead_letters": make_topic(unique_name("dlq")),
        "partitions": 6,
    }
    app_id = unique_name("gate")
    args = ["gate", "run", "--no-follow", "--app-id", app_id, *topic_options(topics)]
    args += ["--decider", hook("scripted")]
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    # faust's default timeouts, not FAST_FAILOVER: nothing is killed here, and on a loaded
    # machine a recovery longer than the short rebalance timeout restarts the rebalance
    workers = [
        start_cli_worker(
            kafka_settings, args, tmp_path / f"s{n}", log, env={"FLYWHEEL_IDENTITY": f"worker-{n}"}
        )
        for n, log in enumerate(logs)
    ]
    try:
        wait_for_group(kafka_settings, app_id, 2, logs, workers=workers)
        events = [sample_proposal_submitted(i) for i in range(300)]
        with EventProducer(kafka_settings, codec) as producer:
            for event in events:
                producer.send(topics["proposals"], event)
        verdicts = collect_events(
            kafka_settings,
            codec,
            topics["verdicts"],
            group=unique_name("c"),
            count=len(events),
            dead_letter_topic=unique_name("x"),
        )
    finally:
        for worker in workers:
            stop_worker(worker)
    output = "\n".join(log.read_text()[-1500:] for log in logs)
    assert len(verdicts) == len(events), output
    by_worker: dict[str, int] = defaultdict(int)
    for verdict in verdicts:
        by_worker[verdict.envelope.producer] += 1
    assert set(by_worker) == {"worker-0", "worker-1"}, (by_worker, output)
