"""In-process decisions per second and per-decision latency: 1,000 rules over 100 tools.

The artifact and the traffic come from ``benchmarks/synthetic.py`` (10 rules on each of
100 tools plus 20 glob rules; proposals over every tier of the default risk policy). Each figure
is measured through ``Enforcer.decide`` (tier choice, oracle evaluation, the verdict), in one
thread pinned to one core, the median of several runs. Latency percentiles come from timing
every decision separately.

Targets: at least 50,000 decisions/s on one core; p99 at most 100 µs; with a session context
(``session_context``, from :mod:`session_context`), a decision p50 at most 1.5 times the p50
without one.
Prints one JSON object to stdout.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections import Counter

from session_context import measure as session_context
from synthetic import TOOLS, synthetic_artifact, synthetic_proposals

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle

PROPOSALS = 20_000
RUNS = 5
TARGET_PER_S = 50_000
TARGET_P99_US = 100.0
SEED = 20261123


def rate(enforcer: Enforcer, items: list[Proposal]) -> float:
    started = time.perf_counter()
    for item in items:
        enforcer.decide(item)
    return len(items) / (time.perf_counter() - started)


def latencies_us(enforcer: Enforcer, items: list[Proposal]) -> list[float]:
    timer = time.perf_counter_ns
    samples = []
    for item in items:
        started = timer()
        enforcer.decide(item)
        samples.append((timer() - started) / 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    built = time.perf_counter()
    artifact = build_artifact(synthetic_artifact())
    compile_s = time.perf_counter() - built
    enforcer = Enforcer(RuleOracle(artifact), build_policy(read_document(DEFAULT_RISK_POLICY)))
    items = synthetic_proposals(PROPOSALS, SEED)
    decisions = Counter(enforcer.decide(p).decision.value for p in items)
    rates = [rate(enforcer, items) for _ in range(RUNS)]
    samples = [s for _ in range(RUNS) for s in latencies_us(enforcer, items)]
    per_s = statistics.median(rates)
    p99 = percentile(samples, 0.99)
    output = {
        "benchmark": "oracle",
        "python": platform.python_version(),
        "rules": len(artifact.rules),
        "tools": TOOLS,
        "proposals": PROPOSALS,
        "runs": RUNS,
        "compile_s": round(compile_s, 4),
        "decisions": dict(sorted(decisions.items())),
        "decisions_per_s": {"median": round(per_s), "runs": [round(r) for r in rates]},
        "latency_us": {
            "p50": round(percentile(samples, 0.50), 1),
            "p90": round(percentile(samples, 0.90), 1),
            "p99": round(p99, 1),
            "max": round(max(samples), 1),
        },
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "session_context": session_context(),
        "targets": {
            "decisions_per_s": TARGET_PER_S,
            "p99_us": TARGET_P99_US,
            "decisions_per_s_met": per_s >= TARGET_PER_S,
            "p99_met": p99 <= TARGET_P99_US,
        },
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
