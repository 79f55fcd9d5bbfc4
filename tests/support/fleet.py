"""The governance stack for the end-to-end test: keys, a trust root, and every worker running as
its own process on the catalog's topics (which the test provisions on the session broker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import build_root, save_root, sign_root
from tests.support.gate_worker import stop_gate_worker

REPO = Path(__file__).resolve().parents[2]
FLYWHEEL = str(Path(sys.executable).with_name("flywheel"))
ROLLOUT = {
    "name": "e2e",
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
WORKERS = {
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
class Stack:
    settings: Settings
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "FLYWHEEL_BOOTSTRAP_SERVERS": self.settings.effective_bootstrap_servers,
            "FLYWHEEL_STATE_DIR": str(self.settings.state_dir),
            "FLYWHEEL_AUTHOR_KEY": "refinement",
            "FLYWHEEL_AUTO_APPROVE_KEYS": json.dumps(["auto-approver"]),
        }

    def start(self) -> None:
        policy = self.logs / "rollout.json"
        policy.write_text(json.dumps(ROLLOUT))
        commands = {**WORKERS, "release": ["release", "run", "--policy", str(policy)]}
        for name, args in commands.items():
            with (self.logs / f"{name}.log").open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    [FLYWHEEL, *args], cwd=REPO, env=self.env(), stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip

    def stop(self) -> None:
        for process in self.processes.values():
            stop_gate_worker(process)

    def tail(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.logs / f'{name}.log').read_text()[-1500:]}"
            for name in self.processes
        )
