"""The gate against its ceiling, back to back on one fresh local broker: prints one JSON object.

For one worker and for two (one consumer group), on 6-partition proposals and verdicts topics:

* ``passthrough``: ``benchmarks/passthrough.py``, a confluent-kafka consume, fastavro decode,
  fastavro encode, produce loop with no decision and no transaction: the ceiling of any worker
  written in Python on this machine and broker.
* ``passthrough_txn``: the same loop with the gate's transactions (``--transactional``: each
  batch and its input offsets in one transaction, the gate's producer settings, a
  ``read_committed`` consumer): the floor of any transactional worker, so its ``paced_1k``
  latency is the least the gate's can be on this machine and broker (``txn_floor_ratio``: its
  burst over the pass-through's).
* ``gate``: ``flywheel gate run`` (its transactions, the real enforcer: the default risk policy
  and the synthetic 1,020-rule artifact of ``benchmarks/synthetic.py`` on proposals over its 100
  tools; ``--scripted`` decides by tool name instead, ``--oracle PATH`` takes another artifact).
* ``diagnostic.gate_trivial_decider`` (with the enforcer only): the gate deciding with the test
  double ``tests.support.doubles:scripted`` instead, so the part of the gap that is the decision
  shows; its ``ceiling_ratio`` is not the headline. Its RSS includes the test doubles' imports.

Before them, ``bare_transactions`` (``benchmarks/txn_floor.py``): the commit latency of a bare
transactional producer with the gate's settings, the least a gate transaction costs here.

Each is measured with a ``burst`` (``BURST`` pre-encoded proposals as fast as possible;
throughput = proposals / (last verdict consumed - first proposal sent)) and ``paced_1k`` (1,000
proposals/s for ``PACED_SECONDS``; latency per proposal from the time it was handed to the
producer to the time its verdict was polled by a ``read_committed`` consumer), median of ``RUNS``
runs, and the workers' resident memory (largest worker; current and peak, from /proc).
``ceiling_ratio`` is the gate's burst throughput over the pass-through's, same worker count, same
run of the benchmark. Figures and what they mean: docs/architecture.md, "Why the gate is not a
faust worker".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Producer
from synthetic import synthetic_artifact, synthetic_proposals
from txn_floor import bare_transactions

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.events import ProposalSubmitted, new_envelope
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.processes import free_ports
from alignment_flywheel.stack.topics import create_topic

REPO = Path(__file__).resolve().parents[1]
RUNS = 3
BURST = 20_000
PACED_SECONDS = 5.0
PARTITIONS = 6
TXN_FLOOR, TRIVIAL = "passthrough_txn", "gate_trivial_decider"
TRIVIAL_DECIDER = "tests.support.doubles:scripted"
TARGETS = {"ceiling_ratio": 0.5, "paced_1k_p99_ms": 20.0, "rss_mb": 150.0, "sustained_per_s": 1000}


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


def _watch(settings: Settings, topic: str, arrivals: Arrivals, stop: threading.Event) -> None:
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


def _run(
    ctx: dict[str, Any], count: int, rate: float | None, arrivals: Arrivals
) -> dict[str, float]:
    records = _proposals(ctx["codec"], count)
    sent = _produce(ctx["producer"], ctx["topic"], records, rate)
    keys = list(sent)
    arrivals.wait_for(keys, timeout=120 + count / 1000)
    latencies = sorted((arrivals.times[k] - sent[k]) * 1000 for k in keys)
    span = max(arrivals.times[k] for k in keys) - min(sent.values())
    return {
        "per_s": count / span,
        "p50_ms": _pct(latencies, 0.50),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": latencies[-1],
    }


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _median_of(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {name: round(statistics.median(r[name] for r in runs), 2) for name in runs[0]} | {
        "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs]
    }


def _topics(settings: Settings) -> dict[str, Any]:
    admin, tag = admin_client(settings), uuid.uuid4().hex[:8]
    names = {
        "proposals": create_topic(admin, f"bench-proposals-{tag}", partitions=PARTITIONS),
        "verdicts": create_topic(admin, f"bench-verdicts-{tag}", partitions=PARTITIONS),
        "reviews": create_topic(admin, f"bench-reviews-{tag}", partitions=1),
        "dead_letters": create_topic(admin, f"bench-dlq-{tag}", partitions=1),
    }
    return {**names, "partitions": PARTITIONS}


def _start_worker(
    kind: str,
    settings: Settings,
    *,
    topics: dict[str, Any],
    oracle: Path | None,
    log: Path,
    group: str,
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "FLYWHEEL_STATE_DIR": str(settings.state_dir)}
    env.update(connection_env(settings))
    if kind.startswith("passthrough"):
        script = str(REPO / "benchmarks" / "passthrough.py")
        command = [sys.executable, script, group, topics["proposals"], topics["verdicts"]]
        command += ["--transactional"] if kind == TXN_FLOOR else []
    else:
        command = [str(Path(sys.executable).with_name("flywheel")), "gate", "run", "--no-follow"]
        command += ["--app-id", group, "--proposals-topic", topics["proposals"]]
        command += ["--verdicts-topic", topics["verdicts"], "--reviews-topic", topics["reviews"]]
        command += ["--dead-letter-topic", topics["dead_letters"]]
        if oracle is None or kind == TRIVIAL:
            command += ["--decider", TRIVIAL_DECIDER]
        else:
            env["FLYWHEEL_ORACLE_PATH"] = str(oracle)
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _rss_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


def _measure(settings: Settings, kind: str, oracle: Path | None, workers: int) -> dict[str, Any]:
    codec = EventCodec.from_settings(settings)
    topics = _topics(settings)
    arrivals, stop = Arrivals(), threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(settings, topics["verdicts"], arrivals, stop), daemon=True
    )
    watcher.start()
    log = settings.state_dir / f"{kind}-{workers}.log"
    group = f"flywheel-gate-bench-{uuid.uuid4().hex[:8]}"
    started = [
        _start_worker(kind, settings, topics=topics, oracle=oracle, log=log, group=group)
        for _ in range(workers)
    ]
    producer = Producer(producer_config(settings, {"linger.ms": 1}))
    ctx = {"codec": codec, "producer": producer, "topic": topics["proposals"]}
    try:
        ready = time.perf_counter()
        _run(ctx, 200, None, arrivals)  # warm-up: worker start, assignment, first batches
        if workers > 1:  # let the group settle: the workers join one by one
            time.sleep(8)
            _run(ctx, 200, None, arrivals)
        result: dict[str, Any] = {"worker_ready_s": round(time.perf_counter() - ready, 1)}
        result["burst"] = _median_of([_run(ctx, BURST, None, arrivals) for _ in range(RUNS)])
        result["paced_1k"] = _median_of(
            [_run(ctx, int(1_000 * PACED_SECONDS), 1_000, arrivals) for _ in range(RUNS)]
        )
        result["memory"] = max((_rss_mb(w.pid) for w in started), key=lambda m: m["rss_mb"])
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; {kind} log: {log.read_text()[-2000:]}") from exc
    finally:
        stop.set()
        for worker in started:
            worker.terminate()
        for worker in started:
            worker.wait(60)
        watcher.join(10)
    return result


def _compare(settings: Settings, oracle: Path | None, workers: int) -> dict[str, Any]:
    """The pass-through, its transactional floor, the gate and, as a diagnostic, the gate with a
    trivial decider, back to back, with ``workers`` workers each."""
    ceiling = _measure(settings, "passthrough", None, workers)
    floor = _measure(settings, TXN_FLOOR, None, workers)
    gate = _measure(settings, "gate", oracle, workers)
    ratio = gate["burst"]["per_s"] / ceiling["burst"]["per_s"]
    paced = gate["paced_1k"]
    diagnostic: dict[str, Any] = {}
    if oracle is not None:
        trivial = _measure(settings, TRIVIAL, oracle, workers)
        diagnostic = {
            TRIVIAL: {
                "what": f"the gate with {TRIVIAL_DECIDER} (decides by tool name: no oracle, no "
                "risk policy, no session context) instead of the enforcer; a diagnostic of what "
                "the gate's own code allows, not the headline",
                "ceiling_ratio": round(trivial["burst"]["per_s"] / ceiling["burst"]["per_s"], 3),
                **trivial,
            }
        }
    return {
        "passthrough": ceiling,
        TXN_FLOOR: floor,
        "gate": gate,
        "ceiling_ratio": round(ratio, 3),
        "txn_floor_ratio": round(floor["burst"]["per_s"] / ceiling["burst"]["per_s"], 3),
        "pass": {
            "ceiling_ratio": ratio >= TARGETS["ceiling_ratio"],
            "sustained_1k_per_s": gate["burst"]["per_s"] >= TARGETS["sustained_per_s"],
            "paced_1k_p99": paced["p99_ms"] <= TARGETS["paced_1k_p99_ms"],
            "rss": gate["memory"]["peak_rss_mb"] <= TARGETS["rss_mb"],
        },
        "diagnostic": diagnostic,
    }


def _all(settings: Settings, oracle: Path | None, counts: list[int]) -> dict[str, Any]:
    floor = {"bare_transactions": bare_transactions(settings)}
    return floor | {f"workers_{n}": _compare(settings, oracle, n) for n in counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", type=Path, help="oracle artifact for `flywheel gate run`")
    parser.add_argument("--scripted", action="store_true", help="decide by tool name instead")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    args = parser.parse_args()
    base = load_settings()
    state_root = Path(tempfile.mkdtemp(prefix="flywheel-bench-oracle-"))
    oracle: Path | None = args.oracle
    if oracle is None and not args.scripted:
        oracle = state_root / "synthetic-oracle.yaml"
        oracle.write_text(yaml.safe_dump(synthetic_artifact(), sort_keys=False))
    result: dict[str, Any] = {
        "benchmark": "gate",
        "decider": "scripted" if oracle is None else f"enforcer({oracle.name})",
        "partitions": PARTITIONS,
        "burst": BURST,
        "runs": RUNS,
        "cpus": os.cpu_count(),
        "targets": TARGETS,
    }
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-gate-") as state:
        if not base.uses_local_broker:
            settings = base.model_copy(update={"state_dir": Path(state)})
            result.update(_all(settings, oracle, counts))
        else:
            ports = free_ports(2)
            settings = base.model_copy(
                update={
                    "state_dir": Path(state),
                    "local_broker_port": ports[0],
                    "local_controller_port": ports[1],
                }
            )
            broker = LocalBroker(settings)
            broker.start()
            try:
                result.update(_all(settings, oracle, counts))
            finally:
                broker.stop()
    shutil.rmtree(state_root, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
