"""Proposals produced per second to the local broker with acks=all, and the broker's start time.

Starts a fresh single-node broker in a temporary state directory (its artifacts must be cached, or
are fetched first and that time is reported apart), creates a 6-partition topic, then produces
ProposalSubmitted events with the project's producer settings (acks=all, idempotence, lz4):
once from bytes encoded beforehand (the transport alone) and once encoding each record in the loop
(what a real producer pays). Each figure is the median of several runs. Prints one JSON object.

With FLYWHEEL_BOOTSTRAP_SERVERS set, the configured cluster is used and no broker is started.
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

import confluent_kafka

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.stack.artifacts import ensure_kafka_artifacts
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.processes import free_ports
from alignment_flywheel.stack.topics import create_topic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support
from tests.support.samples import sample_proposal_submitted

RECORDS = 200_000
RUNS = 3
TARGET_PER_SECOND = 100_000


def _records(codec: EventCodec, count: int) -> list[tuple[str, dict[str, Any]]]:
    name, template = codec.decode_record(codec.encode(sample_proposal_submitted(0)))
    records = []
    for _ in range(count):
        pid = str(uuid.uuid4())
        proposal = {**template["proposal"], "proposal_id": pid}
        envelope = {**template["envelope"], "event_id": str(uuid.uuid4()), "key": pid}
        records.append((name, {**template, "envelope": envelope, "proposal": proposal}))
    return records


def _create_topic(settings: Settings) -> str:
    return create_topic(
        admin_client(settings), f"bench-proposals-{uuid.uuid4().hex[:8]}", partitions=6
    )


def _produce_bytes(
    producer: EventProducer, topic: str, payloads: list[tuple[bytes, bytes]]
) -> float:
    start = time.perf_counter()
    for key, value in payloads:
        producer.send_bytes(topic, key, value)
    producer.flush(120)
    return len(payloads) / (time.perf_counter() - start)


def _produce_encoding(
    producer: EventProducer,
    codec: EventCodec,
    topic: str,
    records: list[tuple[str, dict[str, Any]]],
) -> float:
    start = time.perf_counter()
    for name, record in records:
        producer.send_bytes(
            topic, record["envelope"]["key"].encode(), codec.encode_record(name, record)
        )
    producer.flush(120)
    return len(records) / (time.perf_counter() - start)


def _measure(settings: Settings) -> dict[str, Any]:
    codec = EventCodec.from_settings(settings)
    records = _records(codec, RECORDS)
    payloads = [(r["envelope"]["key"].encode(), codec.encode_record(n, r)) for n, r in records]
    topic = _create_topic(settings)
    with EventProducer(settings, codec) as producer:
        _produce_bytes(producer, topic, payloads[:20_000])  # warm-up: connections, metadata
        from_bytes = [_produce_bytes(producer, topic, payloads) for _ in range(RUNS)]
        encoding = [_produce_encoding(producer, codec, topic, records) for _ in range(RUNS)]
    return {
        "records_per_run": RECORDS,
        "runs": RUNS,
        "record_bytes": len(payloads[0][1]),
        "produce_preencoded_per_s": {
            "median": round(statistics.median(from_bytes)),
            "all": [round(r) for r in from_bytes],
        },
        "encode_and_produce_per_s": {
            "median": round(statistics.median(encoding)),
            "all": [round(r) for r in encoding],
        },
    }


def main() -> None:
    base = load_settings()
    result: dict[str, Any] = {
        "benchmark": "produce",
        "python": platform.python_version(),
        "librdkafka": confluent_kafka.libversion()[0],
        "producer": {
            "acks": "all",
            "enable.idempotence": True,
            "compression": "lz4",
            "partitions": 6,
        },
    }
    if not base.uses_local_broker:
        result["broker"] = {"bootstrap_servers": base.bootstrap_servers, "started_here": False}
        result.update(_measure(base))
    else:
        with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as state:
            ports = free_ports(2)
            settings = base.model_copy(
                update={
                    "state_dir": Path(state),
                    "local_broker_port": ports[0],
                    "local_controller_port": ports[1],
                }
            )
            fetch_start = time.perf_counter()
            ensure_kafka_artifacts(settings)
            fetch_s = time.perf_counter() - fetch_start
            broker = LocalBroker(settings)
            start = time.perf_counter()
            broker.start()
            result["broker"] = {
                "started_here": True,
                "artifacts_ready_s": round(fetch_s, 2),
                "start_to_ready_s": round(time.perf_counter() - start, 2),
            }
            try:
                result.update(_measure(settings))
            finally:
                broker.stop()
    median = result["produce_preencoded_per_s"]["median"]
    result["targets"] = {
        "produce_per_s": TARGET_PER_SECOND,
        "preencoded_meets_target": median >= TARGET_PER_SECOND,
        "encode_and_produce_meets_target": result["encode_and_produce_per_s"]["median"]
        >= TARGET_PER_SECOND,
        "broker_start_under_30_s": result["broker"].get("start_to_ready_s", 0) < 30,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
