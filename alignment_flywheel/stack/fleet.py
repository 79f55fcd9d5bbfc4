"""The governance stack as processes: keys, a trust root, and every worker on the catalog topics.

Used by `flywheel demo`, the end-to-end test and the flywheel benchmark: it creates named keys (a
root key, refinement's and an operator's author keys, the demo approver's key, the ledger's key),
a signed trust root
with thresholds of one, and starts ``flywheel intake|verify|triage|refine|autoapprove|release run``
(plus any of ``drift``, ``redteam``, ``ledger``) as child processes with a fast rollout policy.
The auto-approver runs as the *demo approver*: its envelope identity is ``demo-approver`` and each
of its approvals is marked automatic. It makes the loop run without a human: never use this
set-up for production. Without it (``approve_automatically=False``) patches wait for a person.
:meth:`GovernanceStack.wait_ready` waits until every worker has joined its consumer group and
holds partitions, so that what follows measures the pipeline, not the workers' start-up.
``GovernanceStack.options`` appends options to a worker's command line by worker name (e.g.
``{"verify": ["--norms", "/x/norms.yaml"]}``); options for a worker the stack does not start are
refused with :class:`UnknownWorkerError`.
Each worker connects to Kafka as the catalog role of its name (``intake``, ``verify``, ...): with
that role's file of the credentials directory (the local broker's, or
``FLYWHEEL_KAFKA_CREDENTIALS_DIR``); settings with one explicit user and no directory run every
worker as that user. The stack itself (``wait_ready``) uses the settings' own principal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.errors import ConfigError, WorkerError
from alignment_flywheel.kafka.clients import admin_client, assigned_members
from alignment_flywheel.kafka.credentials import connection_env, connection_settings
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import build_root, save_root, sign_root
from alignment_flywheel.roles import role, workers

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
APPROVER_KEY = "demo-approver"
APPROVER_IDENTITY = "demo-approver"
LEDGER_KEY = "ledger"
OPERATOR_KEY = "operator"
FLEET_OPTIONS: dict[str, list[str]] = {
    "refine": ["--min-members", "3"],
    "drift": ["--warmup", "120", "--tool-warmup", "15"],
    "redteam": ["--budget", "20"],
    "ledger": ["--key", LEDGER_KEY, "--every", "200", "--interval-ms", "1000"],
}
"""The stack's own options of a worker, after the role's command (short warm-ups, fast seals)."""


def _command(name: str) -> list[str]:
    return [*role(name).command, *FLEET_OPTIONS.get(name, [])]


WORKERS = {name: _command(name) for name in ("intake", "verify", "triage", "refine", "autoapprove")}
EXTRA_WORKERS = {name: _command(name) for name in ("drift", "redteam", "ledger")}
GROUPS = {r.name: r.group for r in workers() if r.group is not None}
"""The consumer group of each worker that has one (the registry's); the ledger assigns itself."""


class UnknownWorkerError(ConfigError, ValueError):
    """Options were given for a worker the governance stack does not start."""


def governance_settings(
    base: Settings, state_dir: Path, *, approve_automatically: bool = True
) -> Settings:
    """Settings with a trust root: root, an author key for refinement, the demo approver.

    ``base`` names the cluster and the principal (:func:`connection_settings`: the local broker's
    too, as a cluster with its credentials directory) and carries its other settings over
    (ClickHouse URL, schema registry, policies)."""
    connection = connection_settings(base)
    carried = base.model_dump(exclude_unset=True)
    for name in ("state_dir", "author_key", "auto_approve_keys", *connection):
        carried.pop(name, None)
    settings = load_settings(
        **carried,
        **connection,
        state_dir=state_dir,
        author_key="refinement",
        auto_approve_keys=(APPROVER_KEY,) if approve_automatically else (),
    )
    store = KeyStore(settings.effective_keys_dir)
    names = ("root", "refinement", OPERATOR_KEY, APPROVER_KEY, LEDGER_KEY)
    keys = {name: store.new(name) for name in names}
    root = build_root(
        version=1,
        expires=datetime.now(UTC) + timedelta(days=1),
        keys={n: public_hex(k.public_key()) for n, k in keys.items() if n != LEDGER_KEY},
        roles={
            "root": ["root"],
            "author": ["refinement", OPERATOR_KEY],
            "approver": [APPROVER_KEY],
            "releaser": ["root"],
        },
        thresholds={"root": 1, "author": 1, "approver": 1},
    )
    save_root(settings.effective_trust_root_path, sign_root(root, [keys["root"]]))
    return settings


@dataclass
class GovernanceStack:
    """The worker processes; logs go to ``logs/<name>.log``. ``extras``: names of EXTRA_WORKERS;
    ``options``: extra command-line options by worker name."""

    settings: Settings
    logs: Path
    rollout: dict[str, Any] = field(default_factory=lambda: dict(FAST_ROLLOUT))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extras: tuple[str, ...] = ()
    options: dict[str, list[str]] = field(default_factory=dict)

    def env(self, role: str | None = None) -> dict[str, str]:
        """The environment of a worker connecting as ``role`` (None: the settings' principal)."""
        env = {
            **os.environ,
            **connection_env(self.settings, role),
            "FLYWHEEL_STATE_DIR": str(self.settings.state_dir),
            "FLYWHEEL_AUTHOR_KEY": self.settings.author_key or "",
            "FLYWHEEL_AUTO_APPROVE_KEYS": json.dumps(list(self.settings.auto_approve_keys)),
            "FLYWHEEL_CLICKHOUSE_URL": self.settings.effective_clickhouse_url,
        }
        for name in ("oracle_path", "risk_policy_path"):
            path = getattr(self.settings, name)
            if path is not None:
                env[f"FLYWHEEL_{name.upper()}"] = str(path)
        return env

    def commands(self, policy: Path) -> dict[str, list[str]]:
        """Every worker's command line (the auto-approver only when the settings name a key), with
        its ``options`` appended; UnknownWorkerError for options of a worker not started."""
        commands = {**WORKERS, "release": [*role("release").command, "--policy", str(policy)]}
        if not self.settings.auto_approve_keys:
            del commands["autoapprove"]
        commands.update({name: EXTRA_WORKERS[name] for name in self.extras})
        unknown = sorted(set(self.options) - set(commands))
        if unknown:
            raise UnknownWorkerError(
                f"options for {', '.join(unknown)}, which this stack does not start "
                f"(workers started: {', '.join(sorted(commands))})"
            )
        return {name: [*args, *self.options.get(name, [])] for name, args in commands.items()}

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        policy = self.logs / "rollout.json"
        policy.write_text(json.dumps(self.rollout))
        for name, args in self.commands(policy).items():
            env = self.env(role=name)
            if name == "autoapprove":
                env["FLYWHEEL_IDENTITY"] = APPROVER_IDENTITY
            with (self.logs / f"{name}.log").open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    [FLYWHEEL, *args], env=env, stdout=log, stderr=subprocess.STDOUT
                )

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Until every started worker's consumer group is stable with partitions assigned; the
        seconds waited. WorkerError when a worker exits or ``timeout`` passes first."""
        started = time.monotonic()
        admin = admin_client(self.settings)
        waiting = {GROUPS[name] for name in self.processes if name in GROUPS}
        while waiting:
            if failed := self.failed():
                raise WorkerError(f"workers exited while starting: {failed}\n{self.tail()}")
            waiting = {group for group in waiting if assigned_members(admin, group) == 0}
            if waiting and time.monotonic() - started > timeout:
                raise WorkerError(f"not ready after {timeout:g} s: {', '.join(sorted(waiting))}")
            if waiting:
                time.sleep(0.25)
        return time.monotonic() - started

    def failed(self) -> dict[str, int]:
        """Workers that exited, with their exit codes."""
        return {n: code for n, p in self.processes.items() if (code := p.poll()) is not None}

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
