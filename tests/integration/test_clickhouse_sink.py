"""The ClickHouse sink on the real broker and an embedded chDB: killed, restarted, failing.

chDB opens one data directory per process: while a sink subprocess runs on a directory, this
process holds no client on it; counts are read after the subprocess has exited.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.clickhouse.sink import ClickHouseSink, SinkOptions
from alignment_flywheel.errors import ClickHouseError
from alignment_flywheel.events import Event, VerdictIssued
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.stack.clickhouse import clickhouse_client
from tests.support.kafka import read_records
from tests.support.samples import sample_proposal_submitted, sample_runtime_events
from tests.support.workers import start_cli_worker, stop_worker

PROPOSALS = 6_000
CHUNK = 500


def _events(count: int) -> tuple[list[Event], list[Event]]:
    proposals = [sample_proposal_submitted(i) for i in range(count)]
    runtime = [e for p in proposals for e in sample_runtime_events(p.proposal)]
    return list(proposals), runtime


def _produce(settings, topics: tuple[str, str], events: tuple[list[Event], list[Event]]) -> None:
    codec = EventCodec.from_settings(settings)
    with EventProducer(settings, codec) as producer:
        for start in range(0, len(events[0]), CHUNK):
            for topic, batch in zip(topics, events, strict=True):
                per = len(batch) // len(events[0])
                for event in batch[start * per : (start + CHUNK) * per]:
                    producer.send(topic, event)
            producer.flush()
            time.sleep(0.4)


def _wait_for_line(log: Path, text: str, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while text not in log.read_text(errors="replace"):
        assert worker.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"no {text!r} in the sink log"
        time.sleep(0.05)


def _ids(client: Client, table: str, where: str = "1") -> list[str]:
    rows = client.query(f"SELECT toString(event_id) FROM flywheel.{table} WHERE {where}")
    return [row[0] for row in rows.result_rows]


def test_sink_killed_mid_stream_stores_every_event_exactly_once(
    kafka_settings, make_topic, unique_name, tmp_path
):
    topics = (
        make_topic(unique_name("sink-proposals"), partitions=3),
        make_topic(unique_name("sink-runtime"), partitions=2),
    )
    events = _events(PROPOSALS)
    producer = threading.Thread(target=_produce, args=(kafka_settings, topics, events))
    producer.start()
    state = tmp_path / "state"
    args = ["sink", "run", "--name", "kill-test", "--topic", topics[0], "--topic", topics[1]]
    args += ["--batch-size", "700", "--linger", "0.05"]
    logs = [tmp_path / f"sink-{run}.log" for run in range(4)]
    try:
        for kill in range(3):
            worker = start_cli_worker(kafka_settings, args, state, logs[kill])
            _wait_for_line(logs[kill], "batch 2:", worker)
            time.sleep(0.02 * kill)  # land the kills at different points of a batch
            assert stop_worker(worker, kill=True) == -9
    finally:
        producer.join()
    worker = start_cli_worker(kafka_settings, [*args, "--until-end"], state, logs[3])
    assert worker.wait(300) == 0, logs[3].read_text(errors="replace")
    lines = [line for log in logs for line in log.read_text().splitlines()]
    assert sum(line.startswith("batch ") for line in lines) >= 6  # two or more before each kill

    with clickhouse_client(kafka_settings.model_copy(update={"state_dir": state})) as client:
        by_table = {
            "proposals": {str(e.envelope.event_id) for e in events[0]},
            "verdicts": {
                str(e.envelope.event_id) for e in events[1] if isinstance(e, VerdictIssued)
            },
            "reviews": {
                str(e.envelope.event_id) for e in events[1] if not isinstance(e, VerdictIssued)
            },
        }
        for table, expected in by_table.items():
            stored = _ids(client, table)
            assert len(stored) == len(expected), table
            assert set(stored) == expected, table
            count = client.query(f"SELECT count() FROM flywheel.{table} FINAL").result_rows
            assert count == [(len(expected),)]


class _FlakyClient:
    """A real client whose inserts fail on schedule: before storing, or after storing.

    Each step of the plan names the table whose next insert it applies to, so the schedule does
    not depend on how the records happen to fall into batches.
    """

    def __init__(self, client: Client, plan: list[tuple[str, str]]) -> None:
        self._client = client
        self._plan = plan

    def insert(self, table, *args, **kwargs):
        step = "ok"
        if self._plan and self._plan[0][0] == table:
            step = self._plan.pop(0)[1]
        if step == "fail-before":
            raise OperationalError("connection refused (simulated outage)")
        if step == "reject":
            raise DatabaseError("Code: 53. Type mismatch (simulated)")
        result = self._client.insert(table, *args, **kwargs)
        if step == "fail-after":
            raise OperationalError("connection reset after the insert (simulated)")
        return result

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_clickhouse_failures_lose_and_duplicate_nothing(
    kafka_settings, make_topic, unique_name, tmp_path
):
    topic = make_topic(unique_name("sink-flaky"), partitions=2)
    dead = make_topic(unique_name("sink-dead"))
    events = _events(1_000)[0]
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for event in events[:500]:
            producer.send(topic, event)
        producer.send_bytes(topic, b"k", b"\x00not an event")
        producer.send_bytes(topic, b"k", None)
        for event in events[500:]:
            producer.send(topic, event)
    settings = kafka_settings.model_copy(update={"clickhouse_url": f"chdb://{tmp_path / 'ch'}"})
    plan = [
        ("flywheel.schema_migrations", "fail-after"),
        ("flywheel.schema_migrations", "fail-before"),
        ("flywheel.proposals", "fail-after"),  # rows stored, floor not: they are skipped later
        ("flywheel.proposals", "fail-before"),
        ("flywheel.sink_offsets", "fail-after"),
        ("flywheel.proposals", "fail-after"),
        ("flywheel.sink_offsets", "fail-before"),
    ]
    options = SinkOptions(
        name="flaky",
        topics=(topic,),
        batch_size=150,
        linger_s=0.05,
        dead_letter_topic=dead,
        max_retry_s=0.1,
    )
    with ClickHouseSink(
        settings, lambda: _FlakyClient(clickhouse_client(settings), plan), options
    ) as sink:
        stats = sink.run(until_end=True)
    with clickhouse_client(settings) as client:
        stored = _ids(client, "proposals")
    assert stats.failures == 7
    assert stats.skipped > 0
    assert stats.dead_lettered == 1
    assert not plan
    assert len(stored) == len(events)
    assert set(stored) == {str(e.envelope.event_id) for e in events}
    letters = read_records(kafka_settings, dead, 1)
    assert len(letters) == 1
    assert codec.decode(letters[0].value).reason


def test_a_statement_the_server_keeps_rejecting_stops_the_sink_and_loses_nothing(
    kafka_settings, make_topic, unique_name, tmp_path
):
    topic = make_topic(unique_name("sink-rejected"))
    events = _events(300)[0]
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for event in events:
            producer.send(topic, event)
    settings = kafka_settings.model_copy(update={"clickhouse_url": f"chdb://{tmp_path / 'ch'}"})
    options = SinkOptions(
        name="rejected",
        topics=(topic,),
        batch_size=100,
        linger_s=0.05,
        max_retry_s=0.1,
        max_rejections=3,
    )
    # one rejection between successes is retried; three in a row stop the sink
    plan = [("flywheel.proposals", "reject")] + [("flywheel.proposals", "ok")] * 2
    plan += [("flywheel.proposals", "reject")] * 3
    with (
        ClickHouseSink(
            settings, lambda: _FlakyClient(clickhouse_client(settings), plan), options
        ) as sink,
        pytest.raises(ClickHouseError, match="rejected the sink's statements 3 times in a row"),
    ):
        sink.run(until_end=True)
    assert sink.stats.failures == 4 and sink.stats.batches == 2 and not plan
    with ClickHouseSink(settings, lambda: clickhouse_client(settings), options) as again:
        stats = again.run(until_end=True)
    with clickhouse_client(settings) as client:
        stored = _ids(client, "proposals")
    assert stats.failures == 0 and stats.skipped == 0
    assert sorted(stored) == sorted(str(e.envelope.event_id) for e in events)
