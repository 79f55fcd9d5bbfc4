"""The review console's own costs, in process (no Kafka, no browser): login, session check,
checking a browser signature, and rendering the dashboard.

* login: one scrypt check of an operator's password (N=2^14, r=8, p=1), what every login and
  every wrong guess costs the server;
* session: reading and checking the HMAC-signed session cookie, done on every request;
* signature: finding which of 5 approver keys made a browser signature and running the
  verifier's signature, role and freshness checks (what ``POST .../approvals`` does after reading
  the topic);
* render: the dashboard HTML for 200 pending reviews and 20 patches awaiting sign-off.

Targets: login between 10 and 250 ms (slow enough to make guessing costly, fast enough to log in),
session check at most 100 µs, signature check at most 5 ms, render at most 200 ms.
Prints one JSON object to stdout.
"""

from __future__ import annotations

import base64
import json
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.console import views
from alignment_flywheel.console.auth import Operators, Sessions
from alignment_flywheel.console.desk import PatchView, Unavailable
from alignment_flywheel.console.signing import browser_approval, signing_request
from alignment_flywheel.events import ReviewRequested, new_envelope
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.patches import parse_operations, propose_patch
from alignment_flywheel.patches.ledger import PatchRecord
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import build_root
from alignment_flywheel.review import PendingReview

RUNS = 30
REVIEWS = 200
PATCHES = 20
APPROVERS = 5
TARGETS = {"login_ms": (10.0, 250.0), "session_us": 100.0, "signature_ms": 5.0, "render_ms": 200.0}


def median_of(action: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _artifact_doc(rules: int) -> dict[str, object]:
    return {
        "name": "bench",
        "version": 1,
        "rules": [
            {"id": f"r{i}", "when": f"args.cmd == 'c{i}'", "score": 0.1, "message": f"r{i}"}
            for i in range(rules)
        ],
    }


def main() -> None:
    base = build_artifact(_artifact_doc(50))
    operations = parse_operations(
        [{"op": "add_rule", "rule": {"id": "new", "when": "true", "score": 0.2, "message": "m"}}]
    )
    patch, _ = propose_patch(base, operations, author="refinement", rationale="bench")
    keys = {f"k{i}": Ed25519PrivateKey.generate() for i in range(APPROVERS + 2)}
    root = build_root(
        version=1,
        expires=datetime.now(UTC) + timedelta(days=30),
        keys={name: public_hex(k.public_key()) for name, k in keys.items()},
        roles={
            "root": ["k5"],
            "author": ["k6"],
            "approver": [f"k{i}" for i in range(APPROVERS)],
            "releaser": ["k5"],
        },
        thresholds={"root": 1, "approver": 2},
    )
    pae = base64.b64decode(signing_request(patch)["pae"])
    last = base64.b64encode(keys[f"k{APPROVERS - 1}"].sign(pae)).decode()
    now = datetime.now(UTC)

    with TemporaryDirectory() as scratch:
        operators = Operators(Path(scratch) / "operators.json")
        operators.add("alice", "a long password")
        login_s = median_of(lambda: operators.check("alice", "a long password"), runs=10)
    sessions = Sessions()
    _, cookie = sessions.issue("alice")
    session_s = median_of(lambda: sessions.read(cookie), runs=2000)
    signature_s = median_of(lambda: browser_approval(root, patch, last, operator="a", now=now))

    reviews = [
        PendingReview(
            ReviewRequested(
                envelope=new_envelope("gate", str(i)),
                review_id=uuid.uuid4(),
                proposal_id=uuid.uuid4(),
                decision_id=uuid.uuid4(),
                reason=f"escalated {i}",
            ),
            tool="email.send",
            proposer="agent",
        )
        for i in range(REVIEWS)
    ]
    record = PatchRecord(patch.to_event("refinement"))
    patches = [PatchView(patch, record, base.spec, 0, 2) for _ in range(PATCHES)]
    page = views.dashboard(
        operator="alice",
        csrf="t",
        reviews=reviews,
        patches=patches,
        releases=Unavailable("bench"),
    )
    render_s = median_of(
        lambda: views.dashboard(
            operator="alice",
            csrf="t",
            reviews=reviews,
            patches=patches,
            releases=Unavailable("bench"),
        )
    )
    figures = {
        "login_ms": round(login_s * 1000, 2),
        "session_us": round(session_s * 1e6, 2),
        "signature_ms": round(signature_s * 1000, 3),
        "render_ms": round(render_s * 1000, 2),
    }
    low, high = TARGETS["login_ms"]
    output = {
        "benchmark": "console",
        "python": platform.python_version(),
        "reviews": REVIEWS,
        "patches": PATCHES,
        "approver_keys": APPROVERS,
        "page_kb": round(len(page.encode()) / 1024, 1),
        "medians": figures,
        "targets": {
            **{name: target for name, target in TARGETS.items()},
            "login_met": low <= figures["login_ms"] <= high,
            "session_met": figures["session_us"] <= TARGETS["session_us"],
            "signature_met": figures["signature_ms"] <= TARGETS["signature_ms"],
            "render_met": figures["render_ms"] <= TARGETS["render_ms"],
        },
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
