"""Clustering cost as confirmed failures grow: 10,000 and 100,000 violations.

Violations are synthetic and seeded: 500 families (a tool, a program or SQL verb, flags and a
directory or host) with random variations inside each family (file names, extra flags, extra
argument keys), so the clusterer sees a realistic mix of near-duplicates and distinct kinds.
Features are computed beforehand (as the processor gets them with each joined violation); the
figures time :meth:`Triage.add` alone: total seconds, mean and p99 microseconds per insert, the
number of clusters, and the Python memory held by the clusterer (tracemalloc, measured in a
separate run so that tracing does not slow the timed one) plus the process peak RSS.

Prints one JSON object to stdout.
"""

from __future__ import annotations

import json
import platform
import random
import resource
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

from alignment_flywheel.events import BlastRadius, Severity
from alignment_flywheel.governance.features import features_of
from alignment_flywheel.governance.triage import Triage, Violation

SIZES = (10_000, 100_000)
FAMILIES = 500
SEED = 20261123
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _family(rng: random.Random, index: int) -> tuple[str, dict[str, str]]:
    kind = index % 3
    if kind == 0:
        program = rng.choice(["rm", "chmod", "curl", "dd", "mkfs", "scp", "tar", "kill"])
        root = rng.choice(["/etc", "/srv", "/var/lib", "/home", "/root", "/opt", "/usr"])
        return "shell.exec", {"cmd": f"{program} -{rng.choice('rfvx')} {root}/f{index}"}
    if kind == 1:
        verb = rng.choice(["DROP TABLE", "DELETE FROM", "UPDATE", "TRUNCATE", "GRANT ALL ON"])
        return f"sql.q{index % 7}", {"sql": f"{verb} t{index}", "db": f"db{index % 11}"}
    host = f"h{index}.example.com"
    return f"http.post{index % 5}", {"url": f"https://{host}/x", "body": "{}", "n": str(index)}


def violations(count: int, seed: int = SEED) -> list[Violation]:
    rng = random.Random(seed)
    families = [_family(rng, i) for i in range(FAMILIES)]
    made = []
    for i in range(count):
        tool, base = families[rng.randrange(FAMILIES)]
        arguments: dict[str, object] = {k: f"{v}{rng.randrange(100)}" for k, v in base.items()}
        if rng.random() < 0.3:
            arguments[f"opt{rng.randrange(4)}"] = rng.random() < 0.5
        made.append(
            Violation(
                finding_id=uuid.UUID(int=rng.getrandbits(128)),
                tool=tool,
                features=features_of(tool, arguments).all,
                severity=rng.choice(list(Severity)),
                blast_radius=rng.choice(list(BlastRadius)),
                seen_at=T0 + timedelta(seconds=i),
            )
        )
    return made


def timed(items: list[Violation]) -> dict[str, float]:
    triage = Triage()
    timer = time.perf_counter_ns
    samples = []
    started = time.perf_counter()
    for item in items:
        before = timer()
        triage.add(item)
        samples.append((timer() - before) / 1000)
    total = time.perf_counter() - started
    samples.sort()
    return {
        "total_s": round(total, 3),
        "mean_us_per_insert": round(sum(samples) / len(samples), 1),
        "p99_us_per_insert": round(samples[int(0.99 * len(samples))], 1),
        "clusters": len(triage.clusters),
    }


def memory_mb(items: list[Violation]) -> float:
    tracemalloc.start()
    triage = Triage()
    for item in items:
        triage.add(item)
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(current / 2**20, 1)


def main() -> None:
    results = {}
    for size in SIZES:
        items = violations(size)
        figures = timed(items)
        figures["clusterer_memory_mb"] = memory_mb(items)
        results[str(size)] = figures
    print(
        json.dumps(
            {
                "benchmark": "triage",
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "families": FAMILIES,
                "by_violations": results,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
