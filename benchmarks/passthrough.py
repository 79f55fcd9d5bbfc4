"""The ceiling of a gate worker: a confluent-kafka consume-decode-encode-produce loop, no decision.

Run by ``benchmarks/gate.py`` as a subprocess, in place of ``flywheel gate run``: it reads the
proposals topic in a consumer group, decodes each record with fastavro (the single-object framing
stripped, the writer schema found by fingerprint), encodes a small record per proposal with
fastavro and produces it to the verdicts topic keyed by the proposal id, on the proposal's
partition number. Offsets are committed in the background (no transactions); it stops on SIGTERM.

With ``--transactional`` it is the floor of a transactional worker instead: the same loop, but
each batch's records and input offsets are committed in one transaction
(``send_offsets_to_transaction``), with the gate's producer settings
(:func:`~alignment_flywheel.processors.gate_txn.transactional_overrides`) and a
``read_committed`` consumer, as the gate does, and nothing else.

Usage: ``python benchmarks/passthrough.py GROUP PROPOSALS VERDICTS [--transactional]``
(settings from the environment, as for ``flywheel``).
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from alignment_flywheel.codec.repository import SchemaRepository
from alignment_flywheel.config import load_settings
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.processors.gate_txn import transactional_overrides

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
TIMEOUT_S = 10.0


def main() -> None:
    group, proposals, verdicts = sys.argv[1:4]
    transactional = "--transactional" in sys.argv[4:]
    settings = load_settings()
    repository = SchemaRepository()
    readers = {v.fingerprint: parse_schema(v.schema) for v in repository.all_versions()}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if transactional:
        overrides: dict[str, Any] = {"enable.auto.commit": False}
        overrides["isolation.level"] = "read_committed"
        producer = Producer(producer_config(settings, transactional_overrides()))
        producer.init_transactions(TIMEOUT_S)
    else:
        overrides = {"enable.auto.offset.store": True}
        producer = Producer(producer_config(settings, {"linger.ms": 1}))
    consumer = Consumer(consumer_config(settings, group, overrides))
    consumer.subscribe([proposals])
    while not stop.is_set():
        first = consumer.poll(0.1)
        if first is None:
            continue
        batch = [first, *consumer.consume(499, 0)]
        if transactional:
            producer.begin_transaction()
        ends: dict[int, int] = {}
        for msg in batch:
            value = msg.value()
            if msg.error() is not None or value is None:
                continue
            ends[msg.partition()] = msg.offset() + 1
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
        if transactional:
            offsets = [TopicPartition(proposals, p, o) for p, o in ends.items()]
            metadata = consumer.consumer_group_metadata()
            producer.send_offsets_to_transaction(offsets, metadata, TIMEOUT_S)
            producer.commit_transaction(TIMEOUT_S)
        producer.poll(0)
    producer.flush(30)
    consumer.close()


if __name__ == "__main__":
    main()
