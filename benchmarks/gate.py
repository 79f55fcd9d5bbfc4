"""The gate against its ceiling, taking turns on one fresh local broker: prints one JSON object.

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

All kinds' workers run side by side, each kind on its own topics, idle but for its turns. Each
is measured with a ``burst`` (``BURST`` pre-encoded proposals as fast as possible; throughput =
proposals / (last verdict consumed - first proposal sent)), ``RUNS`` turns, and ``paced_1k``
(1,000 proposals/s for ``PACED_SECONDS``; latency from the time a proposal was handed to the
producer to the time its verdict was polled by a ``read_committed`` consumer), ``PACED_RUNS``
turns. In a turn every kind runs once, in order, then reversed in the next turn, so drift of
the shared host cancels and each gate run has its pass-through run seconds away. Reported: the
median of each kind's runs and the workers' resident memory (largest worker; current and peak,
from /proc). ``ceiling_ratio`` is the median over turns of the gate's burst throughput over the
pass-through's in the same turn (``ceiling_ratio_runs``: each turn's);
``paced_1k_p99_peers_ms``: the peers' p99 at 1,000/s, to read the gate's against. Figures and
what they mean: docs/gate-performance.md.
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
from confluent_kafka import Producer
from gate_load import Arrivals, Load, median_of, watch
from synthetic import synthetic_artifact
from txn_floor import bare_transactions

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.processes import free_ports
from alignment_flywheel.stack.topics import create_topic

REPO = Path(__file__).resolve().parents[1]
RUNS = 7
PACED_RUNS = 3
BURST = 20_000
PACED_SECONDS = 5.0
PARTITIONS = 6
TXN_FLOOR, TRIVIAL = "passthrough_txn", "gate_trivial_decider"
TRIVIAL_DECIDER = "tests.support.doubles:scripted"
TARGETS = {"ceiling_ratio": 0.5, "paced_1k_p99_ms": 20.0, "rss_mb": 150.0, "sustained_per_s": 1000}


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


@dataclass
class Fleet:
    """The workers of one kind, their topics and the thread that watches their verdicts."""

    kind: str
    topics: dict[str, Any]
    log: Path
    arrivals: Arrivals = field(default_factory=Arrivals)
    stop: threading.Event = field(default_factory=threading.Event)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    watcher: threading.Thread | None = None


def _start_fleet(settings: Settings, kind: str, oracle: Path | None, workers: int) -> Fleet:
    topics = _topics(settings)
    fleet = Fleet(kind, topics, settings.state_dir / f"{kind}-{workers}.log")
    fleet.watcher = threading.Thread(
        target=watch, args=(settings, topics["verdicts"], fleet.arrivals, fleet.stop), daemon=True
    )
    fleet.watcher.start()
    group = f"flywheel-gate-bench-{uuid.uuid4().hex[:8]}"
    for _ in range(workers):
        worker = _start_worker(
            kind, settings, topics=topics, oracle=oracle, log=fleet.log, group=group
        )
        fleet.workers.append(worker)
    return fleet


def _stop_fleet(fleet: Fleet) -> None:
    fleet.stop.set()
    for worker in fleet.workers:
        worker.terminate()
    for worker in fleet.workers:
        worker.wait(60)
    if fleet.watcher is not None:
        fleet.watcher.join(10)


def _warm(load: Load, fleets: list[Fleet], workers: int) -> dict[str, float]:
    """Worker start, assignment and first batches; the seconds until each kind answered."""
    ready_s = {}
    for fleet in fleets:
        started = time.perf_counter()
        load.run(fleet, 200, None)
        ready_s[fleet.kind] = round(time.perf_counter() - started, 1)
    if workers > 1:  # let the groups settle: the workers join one by one
        time.sleep(8)
        for fleet in fleets:
            load.run(fleet, 200, None)
    return ready_s


def _turns(
    load: Load, fleets: list[Fleet], runs: int, count: int, rate: float | None
) -> dict[str, dict[str, Any]]:
    """``runs`` turns; in each, every kind runs once (in order, then reversed in the next turn)."""
    measured: dict[str, list[dict[str, float]]] = {fleet.kind: [] for fleet in fleets}
    for turn in range(runs):
        for fleet in fleets if turn % 2 == 0 else fleets[::-1]:
            measured[fleet.kind].append(load.run(fleet, count, rate))
    return {kind: median_of(runs_of_kind) for kind, runs_of_kind in measured.items()}


def _measure_all(
    settings: Settings, kinds: list[str], oracle: Path | None, workers: int
) -> dict[str, dict[str, Any]]:
    """Every kind's workers run side by side on their own topics, idle but for their turns: the
    measured runs take turns, so each gate run has its pass-through run seconds away."""
    load = Load(
        EventCodec.from_settings(settings), Producer(producer_config(settings, {"linger.ms": 1}))
    )
    fleets = [_start_fleet(settings, kind, oracle, workers) for kind in kinds]
    try:
        ready_s = _warm(load, fleets, workers)
        bursts = _turns(load, fleets, RUNS, BURST, None)
        paced = _turns(load, fleets, PACED_RUNS, int(1_000 * PACED_SECONDS), 1_000.0)
        return {
            fleet.kind: {
                "worker_ready_s": ready_s[fleet.kind],
                "burst": bursts[fleet.kind],
                "paced_1k": paced[fleet.kind],
                "memory": max((_rss_mb(w.pid) for w in fleet.workers), key=lambda m: m["rss_mb"]),
            }
            for fleet in fleets
        }
    finally:
        for fleet in fleets:
            _stop_fleet(fleet)


def _paired_ratio(runs: dict[str, Any], ceiling: dict[str, Any]) -> dict[str, Any]:
    """The median of the per-turn ratios of burst throughput (each gate run over the
    pass-through run of the same turn), and the ratios."""
    pairs = [
        g["per_s"] / c["per_s"]
        for g, c in zip(runs["burst"]["runs"], ceiling["burst"]["runs"], strict=True)
    ]
    return {"median": round(statistics.median(pairs), 3), "runs": [round(r, 3) for r in pairs]}


def _compare(settings: Settings, oracle: Path | None, workers: int) -> dict[str, Any]:
    """The pass-through, its transactional floor, the gate and, as a diagnostic, the gate with a
    trivial decider, with ``workers`` workers each, their measured runs taking turns."""
    kinds = ["passthrough", TXN_FLOOR, "gate"] + ([TRIVIAL] if oracle is not None else [])
    measured = _measure_all(settings, kinds, oracle, workers)
    ceiling, floor, gate = measured["passthrough"], measured[TXN_FLOOR], measured["gate"]
    ratio = _paired_ratio(gate, ceiling)
    paced = gate["paced_1k"]
    diagnostic: dict[str, Any] = {}
    if oracle is not None:
        trivial = measured[TRIVIAL]
        diagnostic = {
            TRIVIAL: {
                "what": f"the gate with {TRIVIAL_DECIDER} (decides by tool name: no oracle, no "
                "risk policy, no session context) instead of the enforcer; a diagnostic of what "
                "the gate's own code allows, not the headline",
                "ceiling_ratio": _paired_ratio(trivial, ceiling)["median"],
                **trivial,
            }
        }
    return {
        "passthrough": ceiling,
        TXN_FLOOR: floor,
        "gate": gate,
        "ceiling_ratio": ratio["median"],
        "ceiling_ratio_runs": ratio["runs"],
        "txn_floor_ratio": _paired_ratio(floor, ceiling)["median"],
        "pass": {
            "ceiling_ratio": ratio["median"] >= TARGETS["ceiling_ratio"],
            "sustained_1k_per_s": gate["burst"]["per_s"] >= TARGETS["sustained_per_s"],
            "paced_1k_p99": paced["p99_ms"] <= TARGETS["paced_1k_p99_ms"],
            "rss": gate["memory"]["peak_rss_mb"] <= TARGETS["rss_mb"],
        },
        "paced_1k_p99_peers_ms": {
            "what": "the p99 at 1,000/s of the peers in the same run: no gate can beat the "
            "transactional floor's, and the pass-through's is this host's ceiling",
            "passthrough": ceiling["paced_1k"]["p99_ms"],
            TXN_FLOOR: floor["paced_1k"]["p99_ms"],
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
