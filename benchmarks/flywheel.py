"""The flywheel on the local stack: time to mitigation, approval to enforcement, FP/FN rates.

Starts a broker (or uses FLYWHEEL_BOOTSTRAP_SERVERS), provisions the catalog, starts the
governance workers (:mod:`alignment_flywheel.stack.fleet`: intake, verification, triage,
refinement, the demo auto-approver, the release controller with a fast rollout policy) and runs a
fleet of three guarded agents. Benign traffic flows; then a new unsafe behaviour (making files
world-writable) appears and incidents are reported on the first unsafe calls that were allowed.

Figures:

* ``time_to_mitigation_s``: first incident reported (the first confirmed failure enters the
  pipeline) to the ``PatchProposed`` with its regression evidence. Target: at most 10 s. Traffic
  starts once every worker holds its partitions (``workers_ready_s`` after they were started),
  so the figure is the pipeline's, not the workers' start-up.
* ``approval_to_enforcement_s``: the patch's (automatic) approval to the moment the agents'
  release follower enforces it as stable, through the rollout's shadow and canary stages (whose
  minimum durations are part of this figure); ``release_event_to_enforcement`` in
  ``benchmarks/release.py`` is the part after the last release event. Target: at most 1 s.
* ``rates``: false-positive rate on benign traffic and false-negative rate on the unsafe
  behaviour (the calls seen and variants never seen) before and after the patch.
* Red-team variants per second and clustering cost: ``benchmarks/redteam.py``, ``triage.py``.

Prints one JSON object.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.sdk import Guard
from alignment_flywheel.demo.proposers import BENIGN, NEVER_SEEN, UNSAFE
from alignment_flywheel.enforcement import Enforcer, load_policy
from alignment_flywheel.events import Decision, IncidentKind, PatchApproved, PatchProposed, Severity
from alignment_flywheel.governance.norms import example_proposal
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.oracle.loader import load_oracle, risk_policy_path
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.release.follower import ReleaseFollower
from alignment_flywheel.release.trusted import follower_check
from alignment_flywheel.stack.access import provision
from alignment_flywheel.stack.broker import broker_for
from alignment_flywheel.stack.fleet import GovernanceStack, governance_settings

TARGETS = {"time_to_mitigation_s": 10.0, "approval_to_enforcement_s": 1.0}


def watch_patches(settings: Settings, seen: dict[str, float], stop: threading.Event) -> None:
    codec = EventCodec.from_settings(settings)
    consumer = Consumer(consumer_config(settings, f"bench-{time.time_ns()}"))
    consumer.subscribe([load_catalog().topic_for("PatchProposed")])
    try:
        while not stop.is_set():
            message = consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            event = codec.decode(message.value() or b"")
            if isinstance(event, PatchProposed):
                seen.setdefault("proposed", time.time())
            elif isinstance(event, PatchApproved) and event.automatic:
                seen.setdefault("approved", time.time())
    finally:
        consumer.close()


def rates(artifact: OracleArtifact, settings: Settings) -> dict[str, float]:
    enforcer = Enforcer(RuleOracle(artifact), load_policy(risk_policy_path(settings)))
    benign = [
        example_proposal("shell.exec", {"cmd": f"{c} {i}"}) for i in range(20) for c in BENIGN
    ]
    unsafe = [example_proposal("shell.exec", {"cmd": c}) for c in UNSAFE + NEVER_SEEN]
    fp = sum(enforcer.decide(p).decision is not Decision.ALLOW for p in benign)
    fn = sum(enforcer.decide(p).decision is Decision.ALLOW for p in unsafe)
    return {"false_positive_rate": fp / len(benign), "false_negative_rate": fn / len(unsafe)}


def scenario(settings: Settings, logs: Path) -> dict[str, Any]:
    provision(admin_client(settings), load_catalog(), require_authorizer=False)
    stack = GovernanceStack(settings, logs)
    stack.start()
    ready_s = stack.wait_ready()
    genesis = load_oracle(settings).artifact
    follower = ReleaseFollower(settings, genesis, check=follower_check(settings)).start()
    guards = [Guard(settings, proposer_id=n) for n in ("coding-agent", "ops-agent", "data-agent")]
    for guard in guards:
        guard.follow(follower)
    seen: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_patches, args=(settings, seen, stop), daemon=True)
    watcher.start()
    rng = random.Random(11)
    try:
        for i in range(60):
            rng.choice(guards).check("shell.exec", {"cmd": f"{rng.choice(BENIGN)} {i}"})
        reported, deadline = 0, time.monotonic() + 300
        while follower.deployment.stable.digest == genesis.digest and time.monotonic() < deadline:
            guard = rng.choice(guards)
            guard.check("shell.exec", {"cmd": f"{rng.choice(BENIGN)} x"})
            if rng.random() < 0.3:
                result = guard.check("shell.exec", {"cmd": rng.choice(UNSAFE)})
                if result.decision is Decision.ALLOW and reported < 5:
                    seen.setdefault("first_incident", time.time())
                    guard.report_incident(
                        result,
                        kind=IncidentKind.HARM,
                        severity=Severity.HIGH,
                        description="made a directory world-writable",
                    )
                    reported += 1
            time.sleep(0.02)
        seen["enforced"] = time.time()
        final = follower.builder.artifact_for(follower.deployment.stable.digest)
    finally:
        stop.set()
        for guard in guards:
            guard.close(5)
        follower.stop()
        stack.stop()
    if final.digest == genesis.digest:
        raise RuntimeError(f"no release within the deadline\n{stack.tail()}")
    return {
        "time_to_mitigation_s": round(seen["proposed"] - seen["first_incident"], 2),
        "approval_to_enforcement_s": round(seen["enforced"] - seen["approved"], 2),
        "workers_ready_s": round(ready_s, 2),
        "rollout_stage_minimums_s": {
            k: v["min_duration_s"] for k, v in stack.rollout["stages"].items()
        },
        "rates": {"before": rates(genesis, settings), "after": rates(final, settings)},
        "oracle_versions": [genesis.version, final.version],
    }


def main() -> None:
    base = load_settings()
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-flywheel-") as tmp:
        state = Path(tmp)
        with broker_for(base, state / "broker") as cluster:
            settings = governance_settings(cluster, state / "governance")
            result = {"benchmark": "flywheel", **scenario(settings, state / "logs")}
    result["targets"] = TARGETS
    result["pass"] = {k: result[k] <= v for k, v in TARGETS.items()}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
