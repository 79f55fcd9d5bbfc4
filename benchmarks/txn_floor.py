"""The commit latency of a bare transactional producer: the least any gate transaction costs.

Run by ``benchmarks/gate.py`` on its broker, before the workers: ``COUNT`` transactions back to
back (after ``WARMUP`` not counted: a fresh broker's first transactions are slower), each one
record to each partition of a topic, the offsets of a consumer group
(``send_offsets_to_transaction``) and ``commit_transaction``, in the gate's order (offsets
first) and with its producer settings
(:func:`~alignment_flywheel.processors.gate_txn.transactional_overrides`). Reports the time from
``begin_transaction`` to the return of ``commit_transaction`` (p50, p90, p99, ms) and the time
until a ``read_committed`` consumer polled the records (``visible_*``).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.processors.gate_txn import transactional_overrides
from alignment_flywheel.stack.topics import create_topic

COUNT = 300
WARMUP = 100
PARTITIONS = 6
TIMEOUT_S = 10.0


def _pcts(values: list[float], prefix: str = "") -> dict[str, float]:
    ordered = sorted(values)
    at = {q: ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] for q in (50, 90, 99)}
    return {f"{prefix}p{q}_ms": round(v, 2) for q, v in at.items()}


def _watch(consumer: Consumer, seen: dict[bytes, float], stop: threading.Event) -> None:
    while not stop.is_set():
        first = consumer.poll(0.05)
        if first is None:
            continue
        now = time.time()
        for msg in [first, *consumer.consume(1000, 0)]:
            key = msg.key()
            if msg.error() is None and key is not None:
                seen.setdefault(key, now)


def bare_transactions(settings: Settings, count: int = COUNT) -> dict[str, Any]:
    """Commit ``count`` transactions; their latencies (see the module docstring)."""
    admin, tag = admin_client(settings), uuid.uuid4().hex[:8]
    source = create_topic(admin, f"bench-txn-in-{tag}", partitions=PARTITIONS)
    target = create_topic(admin, f"bench-txn-out-{tag}", partitions=PARTITIONS)
    group = Consumer(consumer_config(settings, f"bench-txn-{tag}", {"enable.auto.commit": False}))
    group.assign([TopicPartition(source, p, 0) for p in range(PARTITIONS)])
    overrides = {"isolation.level": "read_committed", "fetch.wait.max.ms": 5}
    reader = Consumer(consumer_config(settings, f"bench-txn-read-{tag}", overrides))
    reader.subscribe([target])
    seen: dict[bytes, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(reader, seen, stop), daemon=True)
    watcher.start()
    producer = Producer(producer_config(settings, transactional_overrides()))
    producer.init_transactions(TIMEOUT_S)
    time.sleep(3)  # the reader's assignment
    metadata, took, sent = group.consumer_group_metadata(), [], {}
    for i in range(-WARMUP, count):
        start = time.time()
        producer.begin_transaction()
        offsets = [TopicPartition(source, p, i + WARMUP + 1) for p in range(PARTITIONS)]
        producer.send_offsets_to_transaction(offsets, metadata, TIMEOUT_S)
        for p in range(PARTITIONS):
            key = f"{i}/{p}".encode()
            if i >= 0:
                sent[key] = start
            producer.produce(target, key=key, value=b"x" * 300, partition=p)
        producer.commit_transaction(TIMEOUT_S)
        if i >= 0:
            took.append((time.time() - start) * 1000)
    deadline = time.monotonic() + 30
    while len(seen) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join(10)
    for client in (reader, group):
        client.close()
    visible = [(seen[k] - t) * 1000 for k, t in sent.items() if k in seen]
    return {"transactions": count, **_pcts(took), **_pcts(visible, "visible_")}
