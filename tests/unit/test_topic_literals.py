"""Topic names and consumer groups are data: the runtime code names them only through the topic
catalog (``infra/topics.yaml``) and the role registry (``alignment_flywheel/roles.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

from alignment_flywheel.kafka.catalog import load_catalog

PACKAGE = Path(__file__).resolve().parents[2] / "alignment_flywheel"
OWNERS = {PACKAGE / "roles.py", PACKAGE / "stack" / "catalog.py"}
"""Example events whose fields hold a topic name as data (``DeadLettered.source_topic``)."""


def _names() -> set[str]:
    catalog = load_catalog()
    groups = {role.app_id for role in catalog.roles.values() if role.app_id}
    return set(catalog.names) | groups


def _literals(source: str, shown_as: str, names: set[str]) -> list[str]:
    """``file:line: 'name'`` for every string constant of ``source`` that is one of ``names``."""
    return [
        f"{shown_as}:{node.lineno}: {node.value!r}"
        for node in ast.walk(ast.parse(source, shown_as))
        if isinstance(node, ast.Constant) and node.value in names
    ]


def _runtime_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p not in OWNERS)


def test_no_runtime_module_spells_a_topic_name_or_consumer_group() -> None:
    names = _names()
    found = [
        hit
        for path in _runtime_files()
        for hit in _literals(
            path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)), names
        )
    ]
    assert not found, "use alignment_flywheel.roles (topic_for, group_for):\n" + "\n".join(found)


def test_the_scan_finds_a_planted_literal_and_not_prose() -> None:
    names = _names()
    assert {"flywheel.proposals", "flywheel-gate"} <= names
    assert len(_runtime_files()) > 100
    source = (
        'TOPIC = "flywheel.verdicts"\nGROUP = f(app_id="flywheel-gate")\n"""flywheel.drift."""\n'
    )
    assert _literals(source, "planted.py", names) == [
        "planted.py:1: 'flywheel.verdicts'",
        "planted.py:2: 'flywheel-gate'",
    ]
