"""The README's five-minute tour runs as written, against the session broker.

The shell block after ``<!-- quickstart -->`` in README.md is executed with ``bash -euo pipefail``
in an empty directory, with the environment a reader has after activating ``.venv``, pointed at
the test broker (``FLYWHEEL_BOOTSTRAP_SERVERS``, so ``infra up``/``down`` are no-ops) as its admin,
the way a reader's local broker is used without ``FLYWHEEL_KAFKA_ROLE``. The block
sets its own state directory (keys, ledger store, embedded ClickHouse) under the empty directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.credentials import connection_env

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- quickstart -->\n```bash\n(.*?)\n```", re.DOTALL)
RUN_LIMIT_S = 600  # a guard against a hang, not a performance assertion


def quickstart_block() -> str:
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md must have exactly one quickstart block"
    return str(found[0])


def _environment(kafka_settings: Settings, state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(Path(venv_bin).parent),
        FLYWHEEL_STATE_DIR=str(state_dir),
        COLUMNS="200",
        NO_COLOR="1",
    )
    env.update(connection_env(kafka_settings))  # the cluster and its admin credentials
    return env


def run_tour(settings: Settings, tmp_path: Path) -> tuple[str, Path]:
    """Run the quickstart block against the cluster of ``settings``; its output and work dir."""
    work = tmp_path / "work"
    work.mkdir()
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", quickstart_block()],
        cwd=work,
        env=_environment(settings, tmp_path / "unused-state"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        output, errors = shell.communicate(timeout=RUN_LIMIT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)  # a background ledger left by a failed step
    assert shell.returncode == 0, f"exit {shell.returncode}\n{output}\n{errors}"
    return output, work


def check_tour(output: str, work: Path) -> None:
    """What every step of the tour printed and left behind."""
    state = work / ".flywheel" / "tour"
    assert "there is no local broker to start" in output
    assert re.search(r"topics: \d+ created, \d+ reconfigured", output)
    assert "are valid, frozen and compatible" in output
    assert "ls: ALLOW" in output
    assert "query: REVISE" in output
    assert re.search(
        r"blocked: shell\.exec \([0-9a-f-]{36}\) blocked: .*shell\.recursive-delete", output
    )
    assert "replay under stable" in output
    assert (state / "keys" / "ledger.key").is_file()
    for partition in range(6):
        assert f"flywheel.verdicts/{partition}: verified" in output
    assert re.search(r"stopped: \d+ rows stored", output)
    report = work / "reports" / "tour" / "report.html"
    assert str(report) in output
    assert report.is_file()
    assert "<title>Alignment Flywheel report</title>" in report.read_text(encoding="utf-8")
    assert "there is no local broker to stop" in output


def test_the_readme_quickstart_runs(kafka_settings: Settings, tmp_path: Path) -> None:
    check_tour(*run_tour(kafka_settings, tmp_path))
