"""The README stays short and keeps its two commands and its quickstart block first."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150
    assert lines[2] == "```bash"
    assert lines[3].startswith("./dev demo ")
    assert lines[4].startswith("./dev test ")


def test_there_is_one_quickstart_block_and_it_starts_the_stack() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- quickstart -->\n```bash\n(.*?)\n```", text, re.DOTALL)
    assert len(blocks) == 1
    assert blocks[0].startswith(
        'export FLYWHEEL_STATE_DIR="$PWD/.flywheel/tour"\nflywheel infra up'
    )
    assert "flywheel report --out" in blocks[0]


def test_every_linked_doc_exists() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs|schemas|infra|examples)/[^)#]*)\)", text)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []
