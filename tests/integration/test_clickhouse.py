"""ClickHouse migrations on an embedded chDB engine in a temporary directory.

chDB opens one data directory per process, so every test closes its clients.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime

import pytest

from alignment_flywheel.errors import ClickHouseError
from alignment_flywheel.stack.clickhouse import (
    MIGRATIONS_DIR,
    applied_migrations,
    apply_migrations,
    clickhouse_client,
)


@pytest.fixture
def chdb_settings(settings_factory, tmp_path):
    return settings_factory(clickhouse_url=f"chdb://{tmp_path / 'chdb'}")


def test_migrations_apply_once_and_the_tables_are_queryable(chdb_settings):
    shipped = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    with clickhouse_client(chdb_settings) as client:
        assert apply_migrations(client) == shipped
        assert apply_migrations(client) == []
        recorded = applied_migrations(client)
        assert [name for name, _checksum in recorded.values()] == shipped

        event_id = uuid.uuid4()
        client.insert(
            "flywheel.dead_letters",
            [
                [
                    event_id,
                    datetime(2026, 1, 2, tzinfo=UTC),
                    "test",
                    "trace",
                    "flywheel.proposals",
                    2,
                    41,
                    None,
                    "\x00raw",
                    "bad magic byte",
                    "MalformedEventError",
                    "gate",
                ]
            ],
            column_names=[
                "event_id",
                "occurred_at",
                "producer",
                "trace_id",
                "source_topic",
                "source_partition",
                "source_offset",
                "original_key",
                "original_value",
                "reason",
                "error_type",
                "consumer_group",
            ],
        )
        rows = client.query(
            "SELECT event_id, source_offset, error_type FROM flywheel.dead_letters"
        ).result_rows
        assert rows == [(event_id, 41, "MalformedEventError")]


def test_migrations_survive_reopening_the_data_directory(chdb_settings):
    with clickhouse_client(chdb_settings) as client:
        applied = apply_migrations(client)
    with clickhouse_client(chdb_settings) as client:
        assert apply_migrations(client) == []
        assert len(applied_migrations(client)) == len(applied)


def test_new_migrations_are_applied_after_the_old_ones(chdb_settings, tmp_path):
    ddl = tmp_path / "ddl"
    shutil.copytree(MIGRATIONS_DIR, ddl)
    with clickhouse_client(chdb_settings) as client:
        apply_migrations(client, ddl)
        (ddl / "900_extra.sql").write_text(
            "CREATE TABLE IF NOT EXISTS flywheel.extra (id UInt8) ENGINE = Memory;\n"
            "INSERT INTO flywheel.extra VALUES (7);\n"
        )
        assert apply_migrations(client, ddl) == ["900_extra.sql"]
        assert client.query("SELECT id FROM flywheel.extra").result_rows == [(7,)]


def test_editing_an_applied_migration_is_refused(chdb_settings, tmp_path):
    ddl = tmp_path / "ddl"
    shutil.copytree(MIGRATIONS_DIR, ddl)
    with clickhouse_client(chdb_settings) as client:
        apply_migrations(client, ddl)
        edited = ddl / "002_dead_letters.sql"
        edited.write_text(edited.read_text() + "\n-- an afterthought\n")
        with pytest.raises(ClickHouseError, match=r"002_dead_letters\.sql was changed after"):
            apply_migrations(client, ddl)


def test_a_failing_statement_names_the_file_and_is_not_recorded(chdb_settings, tmp_path):
    ddl = tmp_path / "ddl"
    shutil.copytree(MIGRATIONS_DIR, ddl)
    (ddl / "900_broken.sql").write_text("SELECT 1;\nCREATE TABLE flywheel.x (;\n")
    with clickhouse_client(chdb_settings) as client:
        with pytest.raises(ClickHouseError, match=r"migration 900_broken\.sql, statement 2"):
            apply_migrations(client, ddl)
        assert 900 not in applied_migrations(client)
        assert 1 in applied_migrations(client)


def test_a_second_chdb_directory_in_one_process_is_a_clear_error(settings_factory, tmp_path):
    first = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'one'}")
    second = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'two'}")
    with (
        clickhouse_client(first),
        pytest.raises(ClickHouseError, match="one data directory per process"),
    ):
        clickhouse_client(second)
    with clickhouse_client(second) as client:
        assert client.query("SELECT 1").result_rows == [(1,)]


def test_an_unreachable_server_is_a_clickhouse_error(settings_factory):
    settings = settings_factory(clickhouse_url="http://127.0.0.1:9/?connect_timeout=2")
    with pytest.raises(ClickHouseError, match=r"cannot reach ClickHouse at http://127\.0\.0\.1:9"):
        clickhouse_client(settings)
