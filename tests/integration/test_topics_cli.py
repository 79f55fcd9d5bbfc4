"""`flywheel topics check | apply | list` against the real broker, through the real CLI app."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.stack.topics import load_catalog

SHIPPED = load_catalog()


def catalog_yaml(unique_name) -> dict:
    return {
        "replication_factor": 1,
        "kind_defaults": {kind.value: dict(c) for kind, c in SHIPPED.kind_defaults.items()},
        "topics": [
            {"name": unique_name("events"), "kind": "event", "partitions": 3},
            {"name": unique_name("state"), "kind": "state", "partitions": 1},
            {"name": unique_name("dead"), "kind": "deadletter", "partitions": 2},
        ],
    }


@pytest.fixture
def cleanup(kafka_settings):
    names: list[str] = []
    yield names
    admin = admin_client(kafka_settings)
    existing = [name for name in names if name in admin.list_topics(timeout=10).topics]
    if existing:
        for future in admin.delete_topics(existing, operation_timeout=30).values():
            future.result(timeout=30)


def test_topics_cli_check_apply_and_list(kafka_settings, unique_name, cleanup, tmp_path):
    data = catalog_yaml(unique_name)
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(data))
    names = [t["name"] for t in data["topics"]]
    cleanup += names
    env = {
        **connection_env(kafka_settings),
        "FLYWHEEL_STATE_DIR": str(tmp_path / "state"),
        "FLYWHEEL_CONFIG": "",
        "COLUMNS": "200",
    }
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["topics", *args, "--catalog", str(path)], env=env)

    missing = run("check")
    assert missing.exit_code == 1, missing.output
    assert "3 differences from the catalog" in missing.output
    applied = run("apply")
    assert applied.exit_code == 0, applied.output
    assert "3 created" in applied.output
    matching = run("check")
    assert matching.exit_code == 0, matching.output
    assert "3 topics match the catalog" in matching.output
    listed = run("list")
    assert listed.exit_code == 0
    assert all(name in listed.output for name in names)
