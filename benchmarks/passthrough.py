"""The ceiling of a gate worker: a confluent-kafka consume-decode-encode-produce loop, no decision.

Run by ``benchmarks/gate.py`` as a subprocess, in place of ``flywheel gate run``: it reads the
proposals topic in a consumer group, decodes each record with fastavro (the single-object framing
stripped, the writer schema found by fingerprint), encodes a small record per proposal with
fastavro and produces it to the verdicts topic keyed by the proposal id, on the proposal's
partition number. Offsets are committed in the background (no transactions); it stops on SIGTERM.

Usage: ``python benchmarks/passthrough.py GROUP PROPOSALS VERDICTS`` (settings from the
environment, as for ``flywheel``).
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from typing import Any

from confluent_kafka import Consumer, Producer
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from alignment_flywheel.codec.repository import SchemaRepository
from alignment_flywheel.config import load_settings
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.kafka.producer import producer_config

OUT_SCHEMA = parse_schema(
    {
        "type": "record",
        "name": "PassedThrough",
        "fields": [
            {"name": "proposal_id", "type": "string"},
            {"name": "tool", "type": "string"},
            {"name": "decision", "type": "string"},
        ],
    }
)


def main() -> None:
    group, proposals, verdicts = sys.argv[1:4]
    settings = load_settings()
    repository = SchemaRepository()
    readers = {v.fingerprint: parse_schema(v.schema) for v in repository.all_versions()}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = Consumer(consumer_config(settings, group, {"enable.auto.offset.store": True}))
    producer = Producer(producer_config(settings, {"linger.ms": 1}))
    consumer.subscribe([proposals])
    while not stop.is_set():
        first = consumer.poll(0.1)
        if first is None:
            continue
        for msg in [first, *consumer.consume(499, 0)]:
            value = msg.value()
            if msg.error() is not None or value is None:
                continue
            record: Any = schemaless_reader(io.BytesIO(value[10:]), readers[value[2:10]], None)
            proposal = record["proposal"]
            out = io.BytesIO()
            schemaless_writer(
                out,
                OUT_SCHEMA,
                {
                    "proposal_id": str(proposal["proposal_id"]),
                    "tool": proposal["tool"],
                    "decision": "allow",
                },
            )
            producer.produce(
                verdicts, value=out.getvalue(), key=msg.key(), partition=msg.partition()
            )
        producer.poll(0)
    producer.flush(30)
    consumer.close()


if __name__ == "__main__":
    main()
