"""The gate benchmark's load and its clock: sends proposals, times their verdicts.

A :class:`Load` sends ``count`` pre-encoded ``ProposalSubmitted`` over the synthetic tools to a
fleet's proposals topic (at ``rate`` per second, or as fast as it can) and waits until a
``read_committed`` consumer of the fleet's verdicts topic (:func:`watch`) polled a verdict for
each. A run reports throughput (proposals / (last verdict polled - first proposal sent)) and the
latency of each proposal from the time it was handed to the producer to the time its verdict was
polled (p50, p99, max).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import Consumer, Producer
from synthetic import synthetic_proposals

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import ProposalSubmitted, new_envelope
from alignment_flywheel.kafka.consumer import consumer_config


class Target(Protocol):
    """What a load runs against: a kind of worker, its topics, arrivals and log."""

    kind: str
    topics: dict[str, Any]
    log: Path
    arrivals: Arrivals


@dataclass
class Arrivals:
    """Wall-clock consume time of each verdict, by proposal id (the record key)."""

    times: dict[bytes, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, keys: list[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(k in self.times for k in keys):
                    return
            time.sleep(0.05)
        missing = sum(k not in self.times for k in keys)
        raise RuntimeError(f"{missing} of {len(keys)} verdicts missing after {timeout:.0f} s")


def watch(settings: Settings, topic: str, arrivals: Arrivals, stop: threading.Event) -> None:
    """Note when a verdict of ``topic`` was first polled, by key, until ``stop`` is set."""
    consumer = Consumer(
        consumer_config(settings, f"bench-{uuid.uuid4().hex[:8]}", {"fetch.wait.max.ms": 5})
    )
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            # ``consume(n, timeout)`` returns only when it has n messages or the timeout expired:
            # with a 50 ms timeout that added up to 50 ms to every measured latency. Wait for one
            # message, take its time, then drain what is already fetched without waiting.
            first = consumer.poll(0.05)
            if first is None:
                continue
            now = time.time()
            batch = [first, *consumer.consume(num_messages=2000, timeout=0)]
            with arrivals.lock:
                for msg in batch:
                    key = msg.key()
                    if msg.error() is None and key is not None:
                        arrivals.times.setdefault(key, now)
    finally:
        consumer.close()


def _proposals(codec: EventCodec, count: int) -> list[tuple[bytes, bytes]]:
    """Encoded proposals over the synthetic tools."""
    records = []
    for proposal in synthetic_proposals(count, seed=count):
        key = str(proposal.proposal_id)
        event = ProposalSubmitted(envelope=new_envelope("bench", key), proposal=proposal)
        records.append((key.encode(), codec.encode(event)))
    return records


def _produce(
    producer: Producer, topic: str, records: list[tuple[bytes, bytes]], rate: float | None
) -> dict[bytes, float]:
    """Send the records (at ``rate`` per second, or as fast as possible); returns send times."""
    sent: dict[bytes, float] = {}
    start = time.time()
    for i, (key, value) in enumerate(records):
        if rate is not None and (ahead := start + i / rate - time.time()) > 0:
            time.sleep(ahead)
        sent[key] = time.time()
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    return sent


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def median_of(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The median of each figure over ``runs``, and the runs."""
    return {name: round(statistics.median(r[name] for r in runs), 2) for name in runs[0]} | {
        "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs]
    }


@dataclass(frozen=True)
class Load:
    """The benchmark's producer of proposals."""

    codec: EventCodec
    producer: Producer

    def run(self, target: Target, count: int, rate: float | None) -> dict[str, float]:
        """Send ``count`` proposals to ``target`` and wait for their verdicts (module rules)."""
        records = _proposals(self.codec, count)
        sent = _produce(self.producer, target.topics["proposals"], records, rate)
        keys, arrivals = list(sent), target.arrivals
        try:
            arrivals.wait_for(keys, timeout=120 + count / 1000)
        except RuntimeError as exc:
            tail = target.log.read_text()[-2000:]
            raise RuntimeError(f"{exc}; {target.kind} log: {tail}") from exc
        latencies = sorted((arrivals.times[k] - sent[k]) * 1000 for k in keys)
        span = max(arrivals.times[k] for k in keys) - min(sent.values())
        return {
            "per_s": count / span,
            "p50_ms": _pct(latencies, 0.50),
            "p99_ms": _pct(latencies, 0.99),
            "max_ms": latencies[-1],
        }
