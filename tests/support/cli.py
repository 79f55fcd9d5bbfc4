"""The ``flywheel`` command as tests run it: the console script installed beside this Python."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

FLYWHEEL = str(Path(sys.executable).with_name("flywheel"))


def flywheel(
    env: Mapping[str, str], cwd: Path | None, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``flywheel *args`` to its end in ``cwd`` (None: this process's) with exactly ``env``;
    its output as text. Its exit status is the caller's to check."""
    return subprocess.run(
        [FLYWHEEL, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
