"""In-process decisions per second and per-decision latency: 1,000 rules over 100 tools.

The artifact has 10 rules per tool (regular expressions, prefixes, numeric bounds, ``has`` and
``in`` tests, sizes) plus 20 rules on tool globs; proposals spread over the 100 tools and over
risk contexts that select different tiers. Each figure is measured through
``Enforcer.decide`` (tier choice, oracle evaluation, the verdict), on one core, single-threaded,
the median of several runs. Latency percentiles come from timing every decision separately.

Targets (issue 3): at least 50,000 decisions/s on one core; p99 at most 100 µs.
Prints one JSON object to stdout.
"""

from __future__ import annotations

import json
import platform
import random
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from typing import Any

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import Proposal, RiskContext
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle

TOOLS = 100
RULES_PER_TOOL = 10
GLOB_RULES = 20
PROPOSALS = 20_000
RUNS = 5
TARGET_PER_S = 50_000
TARGET_P99_US = 100.0
SEED = 20261123

RULE_SHAPES = [
    'args.cmd.matches("rm\\\\s+-[a-z]*r{n}")',
    'args.path.startsWith("/etc/{n}")',
    "args.count > {big}",
    'has(args.force) && args.force == true && args.target == "prod-{n}"',
    'args.region in ["xx-{n}", "yy-{n}", "zz-{n}"]',
    "size(args.items) > {big}",
    'args.cmd.contains("--no-verify-{n}")',
    'args.path.endsWith(".key{n}")',
    'risk.environment == "production" && args.count > {big}',
    'args.user.lowerAscii() == "root{n}"',
]


def artifact_document() -> dict[str, Any]:
    rules = []
    for t in range(TOOLS):
        for r, shape in enumerate(RULE_SHAPES[:RULES_PER_TOOL]):
            when = shape.format(n=t * RULES_PER_TOOL + r, big=900 + r)
            rule_id = f"t{t}.r{r}"
            rules.append(
                {
                    "id": rule_id,
                    "tools": [f"svc{t}.call"],
                    "when": when,
                    "score": 0.1,
                    "message": rule_id,
                }
            )
    for g in range(GLOB_RULES):
        when = f'has(args.marker) && args.marker == "m{g}"'
        rule_id = f"glob{g}"
        rules.append(
            {
                "id": rule_id,
                "tools": [f"svc{g}*.call"],
                "when": when,
                "score": 0.2,
                "message": rule_id,
            }
        )
    return {"name": "bench", "version": 1, "rules": rules}


def proposals(rng: random.Random) -> list[Proposal]:
    environments = ["production", "staging", "dev"]
    radii = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    made = []
    for i in range(PROPOSALS):
        arguments = {
            "cmd": f"tail -n {i % 500} /var/log/app.log" if i % 50 else "rm -rf /tmp/x",
            "path": f"/srv/data/{i % 97}.json",
            "count": rng.randrange(1000),
            "region": rng.choice(["eu-1", "us-2", "ap-3"]),
            "items": list(range(i % 7)),
            "target": "prod-1",
            "user": "svc",
        }
        risk = RiskContext(
            proposer_confidence=rng.random(),
            blast_radius=rng.choice(radii),
            environment=rng.choice(environments),
        )
        made.append(
            Proposal(
                proposal_id=uuid.uuid4(),
                proposer_id=f"agent-{i % 16}",
                session_id=f"s-{i % 64}",
                tool=f"svc{rng.randrange(TOOLS)}.call",
                arguments=json.dumps(arguments),
                risk=risk,
            )
        )
    return made


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
    rng = random.Random(SEED)
    built = time.perf_counter()
    artifact = build_artifact(artifact_document())
    compile_s = time.perf_counter() - built
    enforcer = Enforcer(RuleOracle(artifact), build_policy(read_document(DEFAULT_RISK_POLICY)))
    items = proposals(rng)
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
