"""Replay throughput: proposals re-evaluated per second by the replay engine, and the verdict diff.

Workload: ``benchmarks/synthetic.py`` (1,020 rules over 100 tools, the default risk
policy). ``DISTINCT`` distinct decision inputs (tool, arguments, risk context) are drawn from
``synthetic_proposals``; the replayed history is ``PROPOSALS`` proposals, each a copy of one of
them with its own proposal id, drawn with a Zipf-like skew (real traffic repeats heavily: the same
agents call the same tools with the same arguments), so the duplicate ratio is
``1 - DISTINCT / PROPOSALS`` at most and is printed as measured. The recorded verdicts come from
the synthetic oracle; the replay uses it plus one patch rule, so the diff has flips.

Figures (median of ``RUNS``; the pool is started and warmed before timing):

* ``engine``: :func:`~alignment_flywheel.replay.engine.replay_diff` over decoded proposals, fresh
  memo each run, in one process and with ``workers`` 2 (the caller plus one pool process);
* ``all_distinct``: the same over ``DISTINCT`` proposals that are all different (no memo hit);
* ``from_bytes``: the replay's source path without the broker: framed Avro records decoded
  (``decode_record``), turned into cases by ``History.case_of`` of
  :mod:`alignment_flywheel.replay.source` (a proposal validated in full once per decision input)
  and replayed, with ``workers`` 1 and 2.

Targets: at least 50,000 proposals/s re-evaluated (issue 6, ``met``), all-distinct inputs too
(issue 16, ``all_distinct_met``: the oracle's fast path, no memo hit). Prints one JSON object.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from synthetic import synthetic_artifact, synthetic_proposals

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import Decision, Proposal, ProposalSubmitted, new_envelope
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.replay.engine import Case, Evaluator, replay_diff, settle_heap
from alignment_flywheel.replay.source import History, RangeReader

PROPOSALS = 200_000
DISTINCT = 10_000
RUNS = 3
TARGET_PER_S = 50_000
SEED = 20261123


def workload(distinct: list[Proposal], count: int) -> list[Proposal]:
    rng = random.Random(SEED)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(distinct))]
    picks = rng.choices(distinct, weights, k=count)
    return [p.model_copy(update={"proposal_id": uuid.uuid4()}) for p in picks]


def recorded(enforcer: Enforcer, proposals: list[Proposal]) -> list[Case]:
    decisions = Evaluator(enforcer).decisions(proposals)
    return [Case(p, d) for p, d in zip(proposals, decisions, strict=True) if d is not None]


def timed(run: Callable[[], int], runs: int = RUNS) -> tuple[float, list[float]]:
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates), rates


def engine_rate(evaluator: Evaluator, cases: list[Case]) -> tuple[float, list[float]]:
    def run() -> int:
        evaluator.forget()
        return replay_diff(cases, evaluator).replayed

    return timed(run)


def from_bytes_rate(
    evaluator: Evaluator, codec: EventCodec, records: list[bytes], baseline: dict[str, Decision]
) -> tuple[float, list[float]]:
    def run() -> int:
        evaluator.forget()
        history = History(RangeReader(load_settings(), codec), "proposals", "verdicts")
        history.verdicts = baseline
        fetched = ((0, i, *codec.decode_record(data)) for i, data in enumerate(records))
        cases = (c for c in map(history.case_of, fetched) if c is not None)
        return replay_diff(cases, evaluator).replayed

    return timed(run)


def main() -> None:
    policy = build_policy(read_document(DEFAULT_RISK_POLICY))
    base = build_artifact(synthetic_artifact())
    document = synthetic_artifact()
    document["rules"].append(
        {
            "id": "patch.rm",
            "tools": ["svc1*.call"],
            "when": 'args.cmd.startsWith("rm ")',
            "score": 0.0,
            "message": "rm",
        }
    )
    patched = Enforcer(RuleOracle(build_artifact(document)), policy)
    distinct = synthetic_proposals(DISTINCT, SEED)
    cases = recorded(Enforcer(RuleOracle(base), policy), workload(distinct, PROPOSALS))
    all_distinct = recorded(Enforcer(RuleOracle(base), policy), distinct)

    single = Evaluator(patched)
    diff = replay_diff(cases, single)
    duplicate_ratio = single.hits / (single.hits + single.misses)
    distinct_inputs = single.misses
    codec = EventCodec.from_settings(load_settings())
    records = [
        codec.encode(ProposalSubmitted(envelope=new_envelope("bench", "k"), proposal=c.proposal))
        for c in cases
    ]
    baseline = {str(c.proposal.proposal_id): c.recorded for c in cases if c.recorded is not None}
    # The workload (millions of objects a replay from Kafka never holds) is set aside from the
    # collector, as `flywheel replay` sets aside its own set-up: see alignment_flywheel/replay.
    settle_heap()
    engine_1, runs_1 = engine_rate(single, cases)
    distinct_1, distinct_runs_1 = engine_rate(single, all_distinct)
    from_bytes_1, from_bytes_runs_1 = from_bytes_rate(single, codec, records, baseline)
    with Evaluator(patched, workers=2) as pooled:
        engine_rate(pooled, all_distinct[:2000])
        engine_2, runs_2 = engine_rate(pooled, cases)
        distinct_2, distinct_runs_2 = engine_rate(pooled, all_distinct)
        from_bytes_2, from_bytes_runs_2 = from_bytes_rate(pooled, codec, records, baseline)

    best = max(engine_1, engine_2)
    output = {
        "benchmark": "replay",
        "python": platform.python_version(),
        "rules": len(base.rules),
        "proposals": len(cases),
        "distinct_inputs": distinct_inputs,
        "duplicate_ratio": round(duplicate_ratio, 4),
        "flips": dict(sorted(diff.flips.items())),
        "runs": RUNS,
        "engine_per_s": {
            "workers_1": {"median": round(engine_1), "runs": [round(r) for r in runs_1]},
            "workers_2": {"median": round(engine_2), "runs": [round(r) for r in runs_2]},
        },
        "all_distinct_per_s": {
            "proposals": len(all_distinct),
            "workers_1": {
                "median": round(distinct_1),
                "runs": [round(r) for r in distinct_runs_1],
            },
            "workers_2": {
                "median": round(distinct_2),
                "runs": [round(r) for r in distinct_runs_2],
            },
        },
        "from_bytes_per_s": {
            "records": len(records),
            "workers_1": {
                "median": round(from_bytes_1),
                "runs": [round(r) for r in from_bytes_runs_1],
            },
            "workers_2": {
                "median": round(from_bytes_2),
                "runs": [round(r) for r in from_bytes_runs_2],
            },
        },
        "targets": {
            "proposals_per_s": TARGET_PER_S,
            "met": best >= TARGET_PER_S,
            "all_distinct_met": max(distinct_1, distinct_2) >= TARGET_PER_S,
        },
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
