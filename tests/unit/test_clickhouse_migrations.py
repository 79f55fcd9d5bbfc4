"""Migration files: discovery, ordering, naming rules, statement splitting, URL redaction."""

from __future__ import annotations

import pytest

from alignment_flywheel.errors import ClickHouseError
from alignment_flywheel.stack.clickhouse import discover_migrations, redact, split_statements


def test_shipped_migrations_are_ordered_and_start_with_the_ledger():
    migrations = discover_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions) and versions[0] == 1
    assert len(set(versions)) == len(versions)
    first = migrations[0].statements()
    assert first[0] == "CREATE DATABASE IF NOT EXISTS flywheel"
    assert first[1].startswith("CREATE TABLE IF NOT EXISTS flywheel.schema_migrations")
    assert any("flywheel.dead_letters" in s for m in migrations for s in m.statements())


def test_migrations_run_in_numeric_order(tmp_path):
    for name in ("010_later.sql", "002_second.sql", "001_first.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    assert [m.name for m in discover_migrations(tmp_path)] == [
        "001_first.sql",
        "002_second.sql",
        "010_later.sql",
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["1_short.sql"], r"1_short\.sql is not named NNN_lower_case_name\.sql"),
        (["001_Upper.sql"], r"001_Upper\.sql is not named"),
        (["001_a.sql", "001_b.sql"], "share version 001"),
    ],
)
def test_badly_named_migrations_are_rejected(tmp_path, files, message):
    for name in files:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(ClickHouseError, match=message):
        discover_migrations(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ClickHouseError, match="no migrations folder"):
        discover_migrations(tmp_path / "nowhere")


def test_statements_split_on_semicolons_outside_quotes_and_comments():
    sql = """
        -- a comment; with a semicolon
        CREATE TABLE t (s String DEFAULT 'a;b', c String COMMENT "x;y");
        INSERT INTO t VALUES ('it\\'s; fine');  -- trailing; comment

        ;
        SELECT `odd;name` FROM t
    """
    assert split_statements(sql) == [
        "CREATE TABLE t (s String DEFAULT 'a;b', c String COMMENT \"x;y\")",
        "INSERT INTO t VALUES ('it\\'s; fine')",
        "SELECT `odd;name` FROM t",
    ]


def test_redact_hides_the_password_only():
    assert redact("https://user:s3cret@ch:8443/db") == "https://user:***@ch:8443/db"
    assert redact("chdb:///var/lib/flywheel") == "chdb:///var/lib/flywheel"
