"""The governance stack as processes: keys, a trust root, and every worker on the catalog topics.

Used by the end-to-end test and the flywheel benchmark (and meant for demos): it creates named
keys (a root key, refinement's author key, a demo auto-approver key marked as such in every
approval), a signed trust root with thresholds of one, and starts ``flywheel intake|verify|triage|
refine|autoapprove|release run`` as child processes with a fast rollout policy. The auto-approver
makes the loop run without a human: never use this set-up for production.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import build_root, save_root, sign_root

FLYWHEEL = str(Path(sys.executable).with_name("flywheel"))
FAST_ROLLOUT: dict[str, Any] = {
    "name": "fast",
    "canary_fraction": 0.5,
    "stages": {
        "SHADOW": {"min_samples": 30, "min_duration_s": 2, "promotion": "automatic"},
        "CANARY": {"min_samples": 30, "min_duration_s": 2, "promotion": "automatic"},
    },
    "gates": {
        "max_disagreement_rate": 0.5,
        "max_block_rate_delta": 0.5,
        "max_escalation_rate_delta": 0.2,
        "max_error_rate": 0.01,
        "min_samples_for_rollback": 30,
    },
}
WORKERS: dict[str, list[str]] = {
    "intake": ["intake", "run"],
    "verify": ["verify", "run"],
    "triage": ["triage", "run"],
    "refine": ["refine", "run", "--min-members", "3"],
    "autoapprove": ["autoapprove", "run"],
}


def governance_settings(bootstrap: str, state_dir: Path) -> Settings:
    """Settings with a trust root: root, an author key for refinement, a demo auto-approver."""
    settings = load_settings(
        bootstrap_servers=bootstrap,
        state_dir=state_dir,
        author_key="refinement",
        auto_approve_keys=("auto-approver",),
    )
    store = KeyStore(settings.effective_keys_dir)
    keys = {name: store.new(name) for name in ("root", "refinement", "auto-approver")}
    root = build_root(
        version=1,
        expires=datetime.now(UTC) + timedelta(days=1),
        keys={name: public_hex(key.public_key()) for name, key in keys.items()},
        roles={"root": ["root"], "author": ["refinement"], "approver": ["auto-approver"],
               "releaser": ["root"]},
        thresholds={"root": 1, "author": 1, "approver": 1},
    )  # fmt: skip
    save_root(settings.effective_trust_root_path, sign_root(root, [keys["root"]]))
    return settings


@dataclass
class GovernanceStack:
    """The worker processes; logs go to ``logs/<name>.log``."""

    settings: Settings
    logs: Path
    rollout: dict[str, Any] = field(default_factory=lambda: dict(FAST_ROLLOUT))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "FLYWHEEL_BOOTSTRAP_SERVERS": self.settings.effective_bootstrap_servers,
            "FLYWHEEL_STATE_DIR": str(self.settings.state_dir),
            "FLYWHEEL_AUTHOR_KEY": self.settings.author_key or "",
            "FLYWHEEL_AUTO_APPROVE_KEYS": json.dumps(list(self.settings.auto_approve_keys)),
        }

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        policy = self.logs / "rollout.json"
        policy.write_text(json.dumps(self.rollout))
        commands = {**WORKERS, "release": ["release", "run", "--policy", str(policy)]}
        for name, args in commands.items():
            with (self.logs / f"{name}.log").open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    [FLYWHEEL, *args], env=self.env(), stdout=log, stderr=subprocess.STDOUT
                )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def tail(self, chars: int = 1500) -> str:
        return "\n".join(
            f"--- {name}\n{(self.logs / f'{name}.log').read_text()[-chars:]}"
            for name in self.processes
        )
