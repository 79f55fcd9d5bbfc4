"""In-process decisions per second and per-decision latency: 1,020 rules over 100 tools.

The artifact and the traffic come from ``benchmarks/synthetic.py`` (10 rules on each of 100 tools
plus 20 glob rules; proposals over every tier of the default risk policy). Measured interleaved in
one run, in one thread pinned to one core (rates: the median of ``RUNS`` rounds, each path in turn;
latencies: each decision timed alone, the paths in turn on each proposal):

* ``enforcer``: ``Enforcer.decide`` with the oracle's fast path (tier choice, oracle, verdict);
* ``oracle``: ``RuleOracle.evaluate`` alone, fast path;
* ``cel``: ``Enforcer.decide`` with every rule on the CEL engine (``RuleOracle(fast=False)``);
* ``floor``: hand-written Python predicates for the same rules (``peers.py``): parse the
  arguments, run the tool's predicates;
* ``opa``: the same rules in Rego, ``opa bench`` on a batch (``peers.py``), when an ``opa`` binary
  is there (``benchmarks/opa/build.sh`` builds one from the Go module proxy); else says why not.

Every path must give the same matched rules on every proposal (checked first). Targets: the
enforcer's p50 at most 2x the floor's; at least 5x OPA's rate; at least 50,000 decisions/s; p99 at
most 100 µs; with a session context (``session_context``), a decision p50 at most 1.5 times the
p50 without one. Prints one JSON object to stdout.
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
from collections.abc import Callable
from typing import Any

from peers import floor_decider, floor_rules, opa_rate
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
TARGET_OVER_FLOOR = 2.0
TARGET_OVER_OPA = 5.0
SEED = 20261123
Path = Callable[[Proposal], Any]


def rate(decide: Path, items: list[Proposal]) -> float:
    started = time.perf_counter()
    for item in items:
        decide(item)
    return len(items) / (time.perf_counter() - started)


def latencies_us(paths: dict[str, Path], items: list[Proposal]) -> dict[str, list[float]]:
    timer = time.perf_counter_ns
    samples: dict[str, list[float]] = {name: [] for name in paths}
    listed = list(paths.items())
    for i, item in enumerate(items):
        for name, decide in listed[i % len(listed) :] + listed[: i % len(listed)]:
            started = timer()
            decide(item)
            samples[name].append((timer() - started) / 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def agree(enforcer: Enforcer, cel: Enforcer, floor: Path, items: list[Proposal]) -> int:
    """Proposals on which the paths' matched rules differ (must be 0)."""
    differ = 0
    for item in items:
        ours = [s.rule_id for s in enforcer.oracle.evaluate(item).evidence]
        theirs = [s.rule_id for s in cel.oracle.evaluate(item).evidence]
        differ += ours != theirs or ours != floor(item)
    return differ


def summary(rates: list[float], samples: list[float]) -> dict[str, Any]:
    return {
        "decisions_per_s": round(statistics.median(rates)),
        "runs": [round(r) for r in rates],
        "p50_us": round(percentile(samples, 0.50), 2),
        "p99_us": round(percentile(samples, 0.99), 2),
    }


def main() -> None:
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    built = time.perf_counter()
    artifact = build_artifact(synthetic_artifact())
    compile_s = time.perf_counter() - built
    policy = build_policy(read_document(DEFAULT_RISK_POLICY))
    enforcer = Enforcer(RuleOracle(artifact), policy)
    cel = Enforcer(RuleOracle(artifact, fast=False), policy)
    items = synthetic_proposals(PROPOSALS, SEED)
    floor = floor_decider(floor_rules())
    paths: dict[str, Path] = {
        "enforcer": enforcer.decide,
        "oracle": enforcer.oracle.evaluate,
        "cel": cel.decide,
        "floor": floor,
    }
    differ = agree(enforcer, cel, floor, items)
    decisions = Counter(enforcer.decide(p).decision.value for p in items)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(RUNS):
        for name, decide in paths.items():
            rates[name].append(rate(decide, items))
    samples = latencies_us(paths, items * 2)
    figures = {name: summary(rates[name], samples[name]) for name in paths}
    opa = opa_rate(items)
    enforcer_rate = figures["enforcer"]["decisions_per_s"]
    over_floor = figures["enforcer"]["p50_us"] / figures["floor"]["p50_us"]
    over_opa = enforcer_rate / opa["decisions_per_s"] if opa["ran"] else None
    p99 = figures["enforcer"]["p99_us"]
    output = {
        "benchmark": "oracle",
        "python": platform.python_version(),
        "rules": len(artifact.rules),
        "tools": TOOLS,
        "proposals": PROPOSALS,
        "runs": RUNS,
        "compile_s": round(compile_s, 4),
        "paths_differ_on": differ,
        "decisions": dict(sorted(decisions.items())),
        "paths": figures,
        "opa": opa,
        "enforcer_p50_over_floor": round(over_floor, 3),
        "enforcer_rate_over_opa": None if over_opa is None else round(over_opa, 2),
        "enforcer_rate_over_cel": round(enforcer_rate / figures["cel"]["decisions_per_s"], 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "session_context": session_context(),
        "targets": {
            "decisions_per_s": TARGET_PER_S,
            "p99_us": TARGET_P99_US,
            "p50_over_floor": TARGET_OVER_FLOOR,
            "rate_over_opa": TARGET_OVER_OPA,
            "decisions_per_s_met": enforcer_rate >= TARGET_PER_S,
            "p99_met": p99 <= TARGET_P99_US,
            "p50_over_floor_met": over_floor <= TARGET_OVER_FLOOR,
            "rate_over_opa_met": None if over_opa is None else over_opa >= TARGET_OVER_OPA,
            "paths_agree": differ == 0,
        },
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
