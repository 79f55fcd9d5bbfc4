"""The triage worker on the real broker: violations cluster, a SIGKILL loses and adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    ClusterUpdated,
    DeadLettered,
    Event,
    FindingRaised,
    VerificationOutcome,
)
from alignment_flywheel.governance.triage import cluster_id_for
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.governance import finding, verification
from tests.support.kafka import FAST_FAILOVER
from tests.support.workers import (
    read_events,
    read_until,
    start_cli_worker,
    stop_worker,
    topic_options,
)


def _batch(names: list[str]) -> tuple[list[FindingRaised], list[FindingRaised]]:
    shell = [finding("shell.exec", {"cmd": f"rm -rf /srv/{n}"}) for n in names]
    sql = [finding("sql.query", {"sql": f"DROP TABLE {n}"}) for n in names]
    return shell, sql


def _produce(
    settings: Settings,
    codec: EventCodec,
    topics: dict[str, str],
    found: list[FindingRaised],
    *,
    benign: FindingRaised | None = None,
) -> None:
    with EventProducer(settings, codec) as producer:
        for item in found:
            producer.send(topics["findings"], item)
            producer.send(topics["verifications"], verification(item))
        if benign is not None:
            no = verification(benign, outcome=VerificationOutcome.NO_VIOLATION)
            producer.send(topics["verifications"], no)
            producer.send(topics["findings"], benign)
            producer.send_bytes(topics["verifications"], b"k", b"not avro")


def _sizes(events: list[Event]) -> int:
    return len({(u.cluster_id, u.size) for u in _updates(events)})


def _updates(events: list[Event]) -> list[ClusterUpdated]:
    return [e for e in events if isinstance(e, ClusterUpdated)]


def test_violations_cluster_by_structure_and_a_killed_worker_loses_and_duplicates_nothing(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    topics = {
        "findings": make_topic(unique_name("findings"), partitions=3),
        "verifications": make_topic(unique_name("verifications"), partitions=3),
        "clusters": make_topic(unique_name("clusters"), partitions=3),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    args = ["triage", "run", "--app-id", unique_name("triage"), *topic_options(topics)]
    args += ["--partitions", "3"]
    shell, sql = _batch(["a", "b", "c"])
    benign = finding("fs.read", {"path": "README.md"})
    _produce(kafka_settings, codec, topics, shell + sql, benign=benign)
    log = tmp_path / "triage.log"
    worker = start_cli_worker(kafka_settings, args, tmp_path / "state", log, env=FAST_FAILOVER)
    try:
        first = _updates(read_events(kafka_settings, codec, topics["clusters"], 6))
        assert len(first) == 6, log.read_text()[-3000:]
        stop_worker(worker, kill=True)
        more_shell, more_sql = _batch(["d"])
        _produce(kafka_settings, codec, topics, more_shell + more_sql)
        worker = start_cli_worker(kafka_settings, args, tmp_path / "state", log, env=FAST_FAILOVER)
        updates = _updates(
            read_until(kafka_settings, codec, topics["clusters"], lambda e: _sizes(e) >= 8)
        )
        letters = read_events(kafka_settings, codec, topics["dead_letters"], 1)
    finally:
        stop_worker(worker)
    by_id: dict[object, ClusterUpdated] = {}
    for update in updates:
        kept = by_id.setdefault(update.envelope.event_id, update)
        assert (kept.cluster_id, kept.size) == (update.cluster_id, update.size)
    clusters = {u.tools: u.cluster_id for u in by_id.values()}
    shell_id, sql_id = clusters[("shell.exec",)], clusters[("sql.query",)]
    assert len(clusters) == 2  # one cluster per kind of violation, whichever member came first
    assert shell_id in {cluster_id_for(f.finding_id) for f in shell}
    sizes = {(u.cluster_id, u.size) for u in by_id.values()}
    expected = {(c, n) for c in (shell_id, sql_id) for n in (1, 2, 3, 4)}
    assert sizes == expected, log.read_text()[-3000:]
    last = {u.cluster_id: u for u in by_id.values() if u.size == 4}
    assert "cmd.word=rm" in last[shell_id].features
    assert set(last[sql_id].sample_finding_ids) == {f.finding_id for f in sql + more_sql}
    assert [type(letter) for letter in letters] == [DeadLettered]
