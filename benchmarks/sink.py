"""Rows per second the ClickHouse sink stores, from Kafka into the embedded chDB engine.

Starts a fresh single-node broker in a temporary state directory (or uses
FLYWHEEL_BOOTSTRAP_SERVERS), produces ProposalSubmitted events to a 6-partition topic (a fresh
topic per run), then runs the sink (`ClickHouseSink`, the code behind `flywheel sink run`) with
``until_end`` on a chDB directory under the same temporary directory, and reports:

* ``sink_rows_per_s``: end to end, from the sink's start (assignment, progress read back from
  ClickHouse) until every record is stored and its offset recorded; target 50,000 rows/s;
* ``decode_and_map_per_s``: the CPU part alone (decode_record + to_row), no I/O;
* ``insert_rows_per_s``: ``client.insert`` alone, for batches of the sink's default size.

Each figure is the median of several runs. Prints one JSON object.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import chdb
import confluent_kafka

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.clickhouse.rows import to_row
from alignment_flywheel.connectors.clickhouse.sink import ClickHouseSink, SinkOptions
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.stack.artifacts import ensure_kafka_artifacts
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from alignment_flywheel.stack.processes import free_ports
from alignment_flywheel.stack.topics import create_topic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support
from tests.support.samples import sample_proposal_submitted

RECORDS = 200_000
RUNS = 3
BATCH = SinkOptions().batch_size
TARGET_ROWS_PER_S = 50_000


def _payloads(codec: EventCodec, count: int) -> list[tuple[bytes, bytes]]:
    name, template = codec.decode_record(codec.encode(sample_proposal_submitted(0)))
    payloads = []
    for i in range(count):
        pid = str(uuid.uuid4())
        proposal = {**template["proposal"], "proposal_id": pid, "session_id": f"s-{i % 500}"}
        envelope = {**template["envelope"], "event_id": str(uuid.uuid4()), "key": pid}
        record = {**template, "envelope": envelope, "proposal": proposal}
        payloads.append((pid.encode(), codec.encode_record(name, record)))
    return payloads


def _produce(settings: Settings, codec: EventCodec, payloads: list[tuple[bytes, bytes]]) -> str:
    topic = create_topic(admin_client(settings), f"bench-sink-{uuid.uuid4().hex[:8]}", partitions=6)
    with EventProducer(settings, codec) as producer:
        for key, value in payloads:
            producer.send_bytes(topic, key, value)
        producer.flush(120)
    return topic


def _sink_run(settings: Settings, topic: str) -> tuple[float, int]:
    options = SinkOptions(name=f"bench-{topic}", topics=(topic,))
    start = time.perf_counter()
    with ClickHouseSink(settings, lambda: clickhouse_client(settings), options) as sink:
        stats = sink.run(until_end=True)
    return stats.rows / (time.perf_counter() - start), stats.rows


def _decode_and_map(codec: EventCodec, payloads: list[tuple[bytes, bytes]]) -> float:
    start = time.perf_counter()
    for offset, (_key, value) in enumerate(payloads):
        name, record = codec.decode_record(value)
        to_row(name, record, "bench", 0, offset)
    return len(payloads) / (time.perf_counter() - start)


def _insert_only(
    settings: Settings, codec: EventCodec, payloads: list[tuple[bytes, bytes]]
) -> float:
    rows = []
    for offset, (_key, value) in enumerate(payloads[:BATCH]):
        name, record = codec.decode_record(value)
        routed = to_row(name, record, f"bench-insert-{uuid.uuid4().hex[:6]}", 0, offset)
        assert routed is not None
        table, row = routed
        rows.append(row)
    with clickhouse_client(settings) as client:
        start = time.perf_counter()
        client.insert(table.qualified, rows, column_names=list(table.columns))
        return len(rows) / (time.perf_counter() - start)


def _measure(settings: Settings) -> dict[str, Any]:
    codec = EventCodec.from_settings(settings)
    payloads = _payloads(codec, RECORDS)
    with clickhouse_client(settings) as client:
        apply_migrations(client)
    sink_rates, stored = [], []
    for _ in range(RUNS):
        topic = _produce(settings, codec, payloads)
        rate, rows = _sink_run(settings, topic)
        sink_rates.append(rate)
        stored.append(rows)
    decode = [_decode_and_map(codec, payloads) for _ in range(RUNS)]
    insert = [_insert_only(settings, codec, payloads) for _ in range(RUNS)]
    median = statistics.median(sink_rates)
    return {
        "records_per_run": RECORDS,
        "runs": RUNS,
        "batch_size": BATCH,
        "record_bytes": len(payloads[0][1]),
        "rows_stored_per_run": stored,
        "sink_rows_per_s": {"median": round(median), "all": [round(r) for r in sink_rates]},
        "decode_and_map_per_s": {"median": round(statistics.median(decode))},
        "insert_rows_per_s": {"median": round(statistics.median(insert))},
        "targets": {
            "sink_rows_per_s": TARGET_ROWS_PER_S,
            "meets_target": median >= TARGET_ROWS_PER_S,
            "every_record_stored_once": all(rows == RECORDS for rows in stored),
        },
    }


def main() -> None:
    base = load_settings()
    result: dict[str, Any] = {
        "benchmark": "sink",
        "python": platform.python_version(),
        "librdkafka": confluent_kafka.libversion()[0],
        "chdb": chdb.__version__,
        "clickhouse": "embedded chDB",
    }
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as state:
        update: dict[str, Any] = {
            "state_dir": Path(state),
            "clickhouse_url": f"chdb://{Path(state) / 'clickhouse'}",
        }
        if not base.uses_local_broker:
            result["broker"] = {"bootstrap_servers": base.bootstrap_servers, "started_here": False}
            result.update(_measure(base.model_copy(update=update)))
        else:
            ports = free_ports(2)
            update |= {"local_broker_port": ports[0], "local_controller_port": ports[1]}
            settings = base.model_copy(update=update)
            ensure_kafka_artifacts(settings)
            broker = LocalBroker(settings)
            broker.start()
            result["broker"] = {"started_here": True}
            try:
                result.update(_measure(settings))
            finally:
                broker.stop()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
