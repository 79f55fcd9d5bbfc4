"""`flywheel demo --fast`, end to end, as a subprocess on a real broker.

The demo is pointed at a running broker (``FLYWHEEL_BOOTSTRAP_SERVERS``), so it must start none
and leave that broker up. The broker is a private one for this test, not the session broker: the
demo provisions and writes the catalog topics (``flywheel.patches``, ``flywheel.releases``...)
with a trust root of its own, and the end-to-end flywheel test reads the same catalog topics with
another trust root; sharing them would make each see the other's signed patches as untrusted.

Checks the JSON summary (traffic, a patch approved by the demo approver and released to stable,
no unsafe call allowed after the release, drift noticed, the hasty hotfix rolled back by the
rollout gates and never stable, the ledger verified, the report written),
the approval events on Kafka (automatic, from the demo approver), and the clean-up (no run
directory left, no worker process left, the broker still running).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.demo.progress import DEMO_APPROVER
from alignment_flywheel.events import PatchApproved
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.stack.broker import LocalBroker
from tests.support.cli import flywheel
from tests.support.workers import REPO, read_events


def env_of(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")},
        **connection_env(settings),
        "FLYWHEEL_STATE_DIR": str(tmp_path / "demo-state"),
        "COLUMNS": "120",
    }


def _check_screenshots_and_kept_state(
    summary: dict[str, Any], output: str, env: dict[str, str]
) -> None:
    """Issue 17: screenshots next to the report; ClickHouse kept where `flywheel report` looks,
    with the exact command printed."""
    report = Path(summary["report"])
    for name in ("console.png", "report.png"):
        shot = report.parent / name
        assert shot.is_file() and shot.read_bytes().startswith(b"\x89PNG"), name
        assert f"screenshot: {shot}" in output
    state = env["FLYWHEEL_STATE_DIR"]
    assert (Path(state) / "clickhouse").is_dir(), "ClickHouse outlives the run directory"
    again = report.parent.parent / "again"
    assert f"FLYWHEEL_STATE_DIR={state} flywheel report --out" in output
    rendered = flywheel(env, REPO, "report", "--out", str(again), timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    page = (again / "report.html").read_text()
    verdicts = re.search(r"<b>([\d,]+)</b><span>enforced verdicts</span>", page)
    assert verdicts is not None and int(verdicts.group(1).replace(",", "")) > 0, "data was kept"


def _run_demo(settings: Settings, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    summary = tmp_path / "summary.json"
    env = env_of(settings, tmp_path)
    command = [
        "demo",
        "--fast",
        "--json-summary",
        str(summary),
        "--report-dir",
        str(tmp_path / "report"),
    ]
    return flywheel(env, REPO, *command, timeout=400), summary


def _processes_using(state_dir: Path) -> list[str]:
    """Command lines of live processes (workers get the state dir in their environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"FLYWHEEL_STATE_DIR={state_dir}".encode() in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_the_demo_runs_the_flywheel_and_cleans_up(
    broker_settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = broker_settings_factory("demo-broker")
    broker = LocalBroker(settings)
    broker.start(timeout=120)
    try:
        done, summary_path = _run_demo(settings, tmp_path)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        summary: dict[str, Any] = json.loads(summary_path.read_text())
        _check_summary(summary)
        assert "starting the local Kafka broker" not in output
        assert broker.running_pid() is not None
        assert DEMO_APPROVER in output and "ledger verified" in output
        codec = EventCodec.from_settings(settings)
        patches = read_events(settings, codec, "flywheel.patches", 100_000, timeout=5)
        approvals = [e for e in patches if isinstance(e, PatchApproved) and e.role == "approver"]
        assert approvals and all(e.automatic for e in approvals)
        assert {e.envelope.producer.split("/")[0] for e in approvals} == {"demo-approver"}
        assert list((tmp_path / "demo-state" / "demo").iterdir()) == []
        assert _processes_using(tmp_path / "demo-state") == []
        _check_screenshots_and_kept_state(summary, output, env_of(settings, tmp_path))
    finally:
        broker.stop()


def _check_summary(summary: dict[str, Any]) -> None:
    assert summary["proposals"] > 0
    assert set(summary["proposals_by_proposer"]) == {"coding-agent", "support-agent", "data-agent"}
    assert summary["verdicts"]["ALLOW"] > 0 and summary["verdicts"]["BLOCK"] > 0
    assert summary["incidents"] >= 1
    stable = [p for p in summary["patches"] if "STABLE" in p["stages"] and not p["hotfix"]]
    assert stable and summary["patches_stable"] == len(stable)
    assert all(p["stages"][:2] == ["SHADOW", "CANARY"] for p in stable)
    assert all(p["approved_by"] == DEMO_APPROVER for p in stable)
    assert all(p["time_to_mitigation_s"] is not None for p in stable)
    hotfixes = [p for p in summary["patches"] if p["hotfix"]]
    assert summary["hotfix_rolled_back"] is True and summary["rollbacks"] >= 1
    assert all("STABLE" not in p["stages"] for p in hotfixes)
    assert summary["post_release_unsafe"] > 0
    assert summary["post_release_unsafe_allowed"] == 0
    # the patch generalises: variants nobody ever sent before the release are stopped too
    assert summary["unreported_variants"] > 0
    assert summary["unreported_variants_stopped"] == summary["unreported_variants"]
    assert sum(summary["drift_detections"].values()) > 0
    assert summary["ledger_verified"] is True and summary["ledger_signed_records"] > 0
    assert summary["ledger_problems"] == []
    report = Path(summary["report"])
    assert report.is_file() and "<html" in report.read_text().lower()
