"""Audit ledger throughput: leaves appended per second, proof sizes and times, full re-check rate.

In process, no broker: records are 400 random bytes (about a framed VerdictIssued). Figures:

* ``append_leaves_per_s``: ``leaf_of`` (SHA-256 of the value) and ``MerkleFrontier.append_hash``
  (the worker's O(log n) frontier); ``append_stored_leaves_per_s`` adds the leaf store (append,
  fsync every 1,000 leaves, as the worker does per batch); ``merkle_log_append_per_s`` appends to
  the full ``MerkleLog`` the verifier builds to serve proofs.
* ``inclusion`` and ``consistency``: proof generation and RFC 9162 verification for random
  leaves/sizes of a tree of ``LEAVES`` leaves, median and p99 in µs.
* ``verify_records_per_s``: :func:`verify_log` over the whole log against a checkpoint every
  1,000 leaves (signatures, roots, leaf store).

Medians of several runs, one thread pinned to one core.
Targets: 100,000 leaves/s appended; proofs generated and verified in under 1 ms (p99); a full
re-check of at least 50,000 records/s. Prints one JSON object to stdout.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.audit.ledger import LeafStore, leaf_of, signed_checkpoint
from alignment_flywheel.audit.merkle import (
    MerkleFrontier,
    MerkleLog,
    verify_consistency,
    verify_inclusion,
)
from alignment_flywheel.audit.verify import verify_log
from alignment_flywheel.patches.signing import key_id

LEAVES = 200_000
RECORD_BYTES = 400
RUNS = 5
PROOFS = 2_000
EVERY = 1_000
SEED = 20261123
TARGET_APPEND_PER_S = 100_000
TARGET_PROOF_P99_US = 1_000.0
TARGET_VERIFY_PER_S = 50_000
LOG = "flywheel.verdicts/0"


def append_rate(
    records: list[tuple[int, bytes]],
    store: LeafStore | None,
    tree: type[MerkleLog | MerkleFrontier],
) -> float:
    started = time.perf_counter()
    log, batch = tree(), []
    for offset, value in records:
        leaf = leaf_of(offset, value)
        log.append_hash(leaf.digest)
        if store is not None:
            batch.append(leaf)
            if len(batch) == EVERY:
                store.append(LOG, batch)
                store.sync()
                batch = []
    elapsed = time.perf_counter() - started
    if store is not None:
        store.close()
        store.reset(LOG)
    return len(records) / elapsed


def timed_us(calls: list[Callable[[], object]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 1),
        "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
    }


def proof_figures(log: MerkleLog, rng: random.Random) -> dict[str, object]:
    n = log.size
    root = log.root()
    indexes = [rng.randrange(n) for _ in range(PROOFS)]
    paths = [log.inclusion_proof(i) for i in indexes]
    olds = [rng.randrange(1, n) for _ in range(PROOFS)]
    proofs = [log.consistency_proof(m) for m in olds]
    old_roots = [log.root(m) for m in olds]
    generate_i = timed_us([lambda i=i: log.inclusion_proof(i) for i in indexes])
    check_i = timed_us(
        [
            lambda i=i, p=p: verify_inclusion(log.leaf(i), i, n, p, root)
            for i, p in zip(indexes, paths, strict=True)
        ]
    )
    generate_c = timed_us([lambda m=m: log.consistency_proof(m) for m in olds])
    check_c = timed_us(
        [
            lambda m=m, p=p, r=r: verify_consistency(m, n, r, root, p)
            for m, p, r in zip(olds, proofs, old_roots, strict=True)
        ]
    )
    assert all(
        verify_inclusion(log.leaf(i), i, n, p, root) for i, p in zip(indexes, paths, strict=True)
    )
    return {
        "inclusion": {
            "generate_us": summary(generate_i),
            "verify_us": summary(check_i),
            "hashes": max(len(p) for p in paths),
        },
        "consistency": {
            "generate_us": summary(generate_c),
            "verify_us": summary(check_c),
            "hashes": max(len(p) for p in proofs),
        },
    }


def verify_rate(records: list[tuple[int, bytes]]) -> tuple[float, int]:
    key = Ed25519PrivateKey.generate()
    leaves = [leaf_of(o, v) for o, v in records]
    log = MerkleLog(leaf.digest for leaf in leaves)
    heads = [
        signed_checkpoint(
            key,
            producer="bench",
            log_id=LOG,
            tree_size=size,
            root=log.root(size),
            first_offset=0,
            last_offset=leaves[size - 1].offset,
        )
        for size in range(EVERY, len(leaves) + 1, EVERY)
    ]
    trusted = {key_id(key.public_key()): key.public_key()}
    started = time.perf_counter()
    report = verify_log(LOG, records, heads, trusted, stored=leaves)
    elapsed = time.perf_counter() - started
    assert report.ok
    return len(records) / elapsed, len(heads)


def main() -> None:
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    rng = random.Random(SEED)
    records = [(i, rng.randbytes(RECORD_BYTES)) for i in range(LEAVES)]
    appended = [append_rate(records, None, MerkleFrontier) for _ in range(RUNS)]
    full = [append_rate(records, None, MerkleLog) for _ in range(RUNS)]
    with tempfile.TemporaryDirectory() as scratch:
        store = LeafStore(Path(scratch))
        stored = [append_rate(records, store, MerkleFrontier) for _ in range(RUNS)]
    log = MerkleLog(leaf_of(o, v).digest for o, v in records)
    root_us = summary(timed_us([log.root for _ in range(PROOFS)]))
    proofs = proof_figures(log, rng)
    checks = [verify_rate(records) for _ in range(3)]
    per_s = statistics.median(appended)
    verify_per_s = statistics.median(rate for rate, _ in checks)
    worst_p99 = max(
        proofs[kind][step]["p99"]  # type: ignore[index]
        for kind in ("inclusion", "consistency")
        for step in ("generate_us", "verify_us")
    )
    output = {
        "benchmark": "ledger",
        "python": platform.python_version(),
        "leaves": LEAVES,
        "record_bytes": RECORD_BYTES,
        "runs": RUNS,
        "append_leaves_per_s": {"median": round(per_s), "runs": [round(r) for r in appended]},
        "merkle_log_append_per_s": round(statistics.median(full)),
        "append_stored_leaves_per_s": {
            "median": round(statistics.median(stored)),
            "runs": [round(r) for r in stored],
        },
        "root_us": root_us,
        **proofs,
        "verify_records_per_s": round(verify_per_s),
        "verify_checkpoints": checks[0][1],
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {
            "append_leaves_per_s": TARGET_APPEND_PER_S,
            "proof_p99_us": TARGET_PROOF_P99_US,
            "verify_records_per_s": TARGET_VERIFY_PER_S,
            "append_met": per_s >= TARGET_APPEND_PER_S,
            "proof_p99_met": worst_p99 <= TARGET_PROOF_P99_US,
            "verify_met": verify_per_s >= TARGET_VERIFY_PER_S,
        },
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
