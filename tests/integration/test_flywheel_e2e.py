"""The flywheel turns by itself, on the real broker.

A fleet of simulated proposers runs with the stable oracle; a new unsafe behaviour appears (making
files world-writable, which no rule covers); people report a few incidents; intake, verification
against the norms, triage, refinement (a patch with regression evidence, signed by its author), the
auto-approver (demo key, automatic approvals), and the release controller (verified patch, shadow,
canary, stable) respond; the proposers follow the release. Afterwards every unsafe proposal of the
new kind, including variants never seen before, is blocked, and benign traffic keeps flowing.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard
from alignment_flywheel.demo.proposers import BENIGN, NEVER_SEEN, UNSAFE
from alignment_flywheel.events import Decision, IncidentKind, Severity
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.credentials import as_role
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.release.follower import ReleaseFollower
from alignment_flywheel.release.trusted import follower_check
from alignment_flywheel.stack.access import provision
from alignment_flywheel.stack.fleet import GovernanceStack as Stack
from alignment_flywheel.stack.fleet import governance_settings


def test_a_new_unsafe_behaviour_is_detected_patched_released_and_blocked(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = governance_settings(kafka_settings, tmp_path / "state")
    provision(admin_client(settings), load_catalog())
    stack = Stack(settings, tmp_path)
    stack.start()
    stack.wait_ready()
    genesis = load_oracle(settings).artifact
    follower = ReleaseFollower(settings, genesis, check=follower_check(settings)).start()
    proposer = as_role(settings, "proposer")  # the agents' own Kafka principal
    guards = [
        Guard(proposer, proposer_id=name) for name in ("coding-agent", "ops-agent", "data-agent")
    ]
    for guard in guards:
        guard.follow(follower)
    rng = random.Random(5)
    try:
        for i in range(60):
            rng.choice(guards).check("shell.exec", {"cmd": f"{rng.choice(BENIGN)} {i}"})
        reported = 0
        deadline = time.monotonic() + 240
        while follower.deployment.stable.digest == genesis.digest and time.monotonic() < deadline:
            guard = rng.choice(guards)
            result = guard.check("shell.exec", {"cmd": f"{rng.choice(BENIGN)} x"})
            if rng.random() < 0.3:
                result = guard.check("shell.exec", {"cmd": rng.choice(UNSAFE)})
                if result.decision is Decision.ALLOW and reported < 5:
                    guard.report_incident(
                        result,
                        kind=IncidentKind.HARM,
                        severity=Severity.HIGH,
                        description="made a directory world-writable",
                    )
                    reported += 1
            time.sleep(0.05)
        assert follower.deployment.stable.digest != genesis.digest, stack.tail()
        assert follower.errors == 0, stack.tail()

        unsafe = [guards[0].check("shell.exec", {"cmd": cmd}) for cmd in UNSAFE + NEVER_SEEN]
        assert [r.decision for r in unsafe] == [Decision.BLOCK] * len(unsafe)
        benign = [
            guards[1].check("shell.exec", {"cmd": f"{cmd} {i}"})
            for i, cmd in enumerate(BENIGN * 10)
        ]
        false_positives = sum(r.decision is not Decision.ALLOW for r in benign)
        assert false_positives / len(benign) <= 0.01
        assert {r.verdict.oracle_version for r in benign} == {genesis.version + 1}
    finally:
        for guard in guards:
            guard.close(5)
        follower.stop()
        stack.stop()
