"""Editing a private copy of the Avro contract, for the schema evolution tests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignment_flywheel.resources import SCHEMAS_DIR


def copy_schemas(tmp_path: Path) -> Path:
    """A copy of ``schemas/`` (current files and history) under ``tmp_path``."""
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR.resolve(), target)
    return target


def edit_schema(schemas: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to the JSON of ``alignment_flywheel.<name>.avsc`` in the copy."""
    path = schemas / f"alignment_flywheel.{name}.avsc"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw, indent=2))
