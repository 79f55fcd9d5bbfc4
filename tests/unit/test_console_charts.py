"""The console's charts come from ClickHouse (embedded chDB here) or say why they cannot."""

from __future__ import annotations

import pytest

from alignment_flywheel.console.charts import CHARTS, ChartUnavailableError, chart_png
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client


def test_every_chart_renders_from_a_migrated_database(settings_factory, tmp_path) -> None:
    settings = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'chdb'}")
    with clickhouse_client(settings) as client:
        apply_migrations(client)
    for name in CHARTS:
        assert chart_png(settings, name).startswith(b"\x89PNG"), name


def test_a_missing_or_unmigrated_database_is_unavailable(settings_factory, tmp_path) -> None:
    missing = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'none'}")
    with pytest.raises(ChartUnavailableError, match="no ClickHouse data yet"):
        chart_png(missing, "overrides")
    assert not (tmp_path / "none").exists()
    (tmp_path / "bare").mkdir()
    bare = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'bare'}")
    with pytest.raises(ChartUnavailableError):
        chart_png(bare, "drift")
    server = settings_factory(clickhouse_url="http://127.0.0.1:9")
    with pytest.raises(ChartUnavailableError):
        chart_png(server, "clusters")
