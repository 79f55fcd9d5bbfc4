"""The role graph and table of docs/architecture.md are rendered from the role registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from alignment_flywheel.cli import schemas as schemas_cli
from alignment_flywheel.cli.context import CliContext
from alignment_flywheel.cli.role_docs import BEGIN, END, render_roles, splice_roles
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import CatalogError
from alignment_flywheel.roles import ROLES, catalog

PAGE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _run(*args: str) -> tuple[int, str]:
    obj = CliContext(settings=load_settings(), console=Console(width=400))
    result = CliRunner().invoke(schemas_cli.app, list(args), obj=obj)
    return result.exit_code, result.output


def test_docs_architecture_md_shows_the_current_roles() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert splice_roles(text) == text, (
        "docs/architecture.md is out of date: run `./dev flywheel schemas docs`"
    )


def test_the_graph_and_table_show_every_role_and_topic() -> None:
    block = render_roles()
    assert block.startswith(BEGIN) and block.endswith(END)
    for role in ROLES.values():
        assert f"\n| {role.name} | " in block
        assert f"  {role.name}[" in block or f"  {role.name}([" in block
    for name in catalog().names:
        assert f"[({name})]" in block


def test_the_table_gives_each_worker_its_command_group_and_instances() -> None:
    block = render_roles()
    table = [line.split(" | ") for line in block.splitlines() if line.startswith("| ")]
    rows = {cells[0][2:]: cells[2:5] for cells in table}
    assert rows["gate"] == ["`flywheel gate run`", "`flywheel-gate`", "up to 6"]
    assert rows["triage"] == ["`flywheel triage run`", "`flywheel-triage`", "one"]
    assert rows["sink"] == ["`flywheel sink run`", "`flywheel-sink-*`", "one"]
    assert rows["proposer"] == ["— (in process)", "—", "—"]


def test_only_the_block_is_replaced() -> None:
    page = f"before\n{BEGIN}\nstale\n{END}\nafter\n"
    assert splice_roles(page) == f"before\n{render_roles()}\nafter\n"


def test_a_page_without_the_block_is_refused() -> None:
    with pytest.raises(CatalogError, match="no generated roles block"):
        splice_roles("# Architecture\n")


def test_cli_writes_then_checks_the_architecture_page(tmp_path: Path) -> None:
    events = tmp_path / "events.md"
    page = tmp_path / "architecture.md"
    page.write_text(f"# A\n{BEGIN}\nstale\n{END}\n", encoding="utf-8")
    args = ("--out", str(events), "--architecture", str(page))
    code, output = _run("docs", "--check", *args)
    assert code == 1, output
    assert "architecture.md is not current" in output
    code, output = _run("docs", *args)
    assert code == 0, output
    assert page.read_text(encoding="utf-8") == f"# A\n{render_roles()}\n"
    code, output = _run("docs", "--check", *args)
    assert code == 0, output
    code, output = _run("docs", "--out", str(events), "--architecture", str(tmp_path / "none.md"))
    assert code != 0
    assert "holds the role graph" in output
