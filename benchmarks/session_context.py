"""What deciding in a session costs: decision p50 with a session context over p50 without one.

The oracle is the synthetic one of ``benchmarks/oracle.py`` (1,000 rules over 100 tools) plus, on
every tool, one provenance rule (``the target came from a tool output, never the user``), so the
provenance of every proposal is computed. Each proposal is decided through ``Enforcer.decide``
twice in a row, once without a session (``provenance`` is an empty map and the rule is quiet) and
once in a session holding the user's request and :data:`OUTPUTS` tool outputs of
:data:`OUTPUT_CHARS` characters, one of which mentions the target; the two are timed alternately
on the same proposals, in one thread pinned to one core, so machine noise hits both alike.

Target: the p50 with session context at most 1.5 times the p50 without it. ``benchmarks/oracle.py``
reports the same measurement (:func:`measure`) beside its own figures. Prints one JSON object to
stdout.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

from synthetic import TOOLS, synthetic_artifact, synthetic_proposals

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.oracle.rules import RuleOracle

PROPOSALS = 5_000
RUNS = 3
OUTPUTS = 4
OUTPUT_CHARS = 2_000
TARGET_RATIO = 1.5
SEED = 20261202
RULE = 'has(provenance.target) && !("user" in provenance.target) && provenance.target.size() > 0'


def artifact_document() -> dict[str, object]:
    document = synthetic_artifact()
    rules = list(document["rules"])  # type: ignore[call-overload]
    for tool in range(TOOLS):
        rules.append(
            {
                "id": f"provenance.{tool}",
                "tools": [f"svc{tool}.call"],
                "when": RULE,
                "score": 0.9,
                "message": "the target came from a tool output, not the user",
            }
        )
    return {**document, "rules": rules}


def session() -> SessionContext:
    """The user's request and :data:`OUTPUTS` outputs: half plain text, half YAML records whose
    free-text field mentions a target (the shapes tools return)."""
    filler = "lorem ipsum dolor sit amet " * (OUTPUT_CHARS // 27)
    outputs = []
    for k in range(OUTPUTS):
        if k % 2:
            record = (
                f"- id_: '{k}'\n  owner: ops@example.org\n  body: '{filler} deploy to prod-1 {k}'\n"
            )
            outputs.append((f"svc{k}.list", record))
        else:
            outputs.append((f"svc{k}.read", f"{filler} deploy to prod-1 {k}"))
    return SessionContext("Please check the service health in every region.", tuple(outputs))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(proposals: int = PROPOSALS, runs: int = RUNS) -> dict[str, object]:
    """Decision p50 and p99 with and without a session context, and the ratio of the p50s."""
    artifact = build_artifact(artifact_document())
    enforcer = Enforcer(RuleOracle(artifact), build_policy(read_document(DEFAULT_RISK_POLICY)))
    items = synthetic_proposals(proposals, SEED)
    context = session()
    timer = time.perf_counter_ns
    plain: list[float] = []
    with_session: list[float] = []
    for _ in range(runs):
        for item in items:
            started = timer()
            enforcer.decide(item)
            middle = timer()
            enforcer.decide(item, session=context)
            plain.append((middle - started) / 1000)
            with_session.append((timer() - middle) / 1000)
    p50_plain, p50_session = percentile(plain, 0.5), percentile(with_session, 0.5)
    ratio = p50_session / p50_plain
    return {
        "rules": len(artifact.rules),
        "proposals": proposals,
        "runs": runs,
        "session": {"outputs": OUTPUTS, "output_chars": OUTPUT_CHARS},
        "p50_us": {"without_session": round(p50_plain, 1), "with_session": round(p50_session, 1)},
        "p99_us": {
            "without_session": round(percentile(plain, 0.99), 1),
            "with_session": round(percentile(with_session, 0.99), 1),
        },
        "ratio_p50": round(ratio, 3),
        "targets": {"ratio_p50": TARGET_RATIO, "ratio_p50_met": ratio <= TARGET_RATIO},
    }


def main() -> None:
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    output = {"benchmark": "session_context", "python": platform.python_version(), **measure()}
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
