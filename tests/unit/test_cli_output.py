"""Issue 17: list and status commands fit 80 columns or print JSON; expected failures are one
line with a documented exit code (broker down, ClickHouse too old); the sink waits for Kafka."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.cli.output import Column, table_lines
from alignment_flywheel.cli.review import COLUMNS, review_row
from alignment_flywheel.cli.sink import wait_for_broker
from alignment_flywheel.errors import ClickHouseError, KafkaTransportError
from alignment_flywheel.review import PendingReview
from alignment_flywheel.stack import clickhouse
from tests.support.cli import FLYWHEEL, flywheel
from tests.support.samples import review_request

UUID_ROW = {
    "review_id": "0b7e4c1a-6a57-4c5e-9b8e-2f1f3c0d9e77",
    "state": "expired",
    "tool": "send_email_to_external_domain",
    "proposer": "agent-with-a-long-name-7",
    "age": "12 min",
    "reason": "score 0.41 below the escalation threshold, uncertainty 0.3, tier 2 " * 3,
}


def test_a_review_list_row_fits_80_columns_and_keeps_the_id_prefix() -> None:
    lines = table_lines(COLUMNS, [UUID_ROW, {**UUID_ROW, "state": "live"}])
    assert len(lines) == 3, "one line per row, no wrapping"
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]
    assert lines[1].startswith("0b7e4c1a-6a5~")
    assert "expired" in lines[1] and "live" in lines[2]


def test_a_wrapped_detail_column_keeps_every_word_within_80_columns() -> None:
    columns = (Column("component", max_width=10), Column("detail", max_width=60))
    detail = "3 brokers (1, 2, 3), 42 partitions: 0 offline, 0 under-replicated " * 3
    lines = table_lines(columns, [{"component": "partitions", "detail": detail}], wrap="detail")
    assert len(lines) > 2 and all(len(line) <= 80 for line in lines)
    assert " ".join(" ".join(lines[1:]).split()) == "partitions " + " ".join(detail.split())


def test_json_output_has_every_value_in_full(monkeypatch, settings_factory) -> None:
    settings_factory()
    monkeypatch.setenv("FLYWHEEL_STATE_DIR", str(Path.cwd() / "state"))
    listed = CliRunner().invoke(app, ["topics", "list", "--output", "json"])
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.output)
    topics = {row["topic"]: row for row in document["rows"]}
    assert "ProposalSubmitted" in topics["flywheel.proposals"]["events"]
    assert isinstance(topics["flywheel.proposals"]["config"], dict)
    table = CliRunner().invoke(app, ["topics", "list"])
    assert table.exit_code == 0 and all(len(line) <= 80 for line in table.output.splitlines())
    empty = CliRunner().invoke(app, ["keys", "list", "-o", "json"])
    assert empty.exit_code == 0 and json.loads(empty.output)["rows"] == []


def test_a_review_row_marks_expiry_and_keeps_full_ids() -> None:
    now = datetime.now(UTC)
    late = PendingReview(review_request(datetime(2020, 1, 1, tzinfo=UTC)))
    row = review_row(late, now)
    assert row["state"] == "expired" and row["review_id"] == str(late.review_id)


def test_the_sink_waits_for_kafka_with_one_line_per_attempt() -> None:
    said: list[str] = []
    answers = iter([KafkaTransportError("broker down"), KafkaTransportError("broker down"), None])

    def probe() -> object:
        answer = next(answers)
        if answer is not None:
            raise answer
        return "metadata"

    stop = threading.Event()
    assert wait_for_broker("k1:9092", probe, stop, say=said.append, first_pause_s=0.01)
    assert said == [
        "waiting for Kafka at k1:9092: broker down; retrying in 0.01 s",
        "waiting for Kafka at k1:9092: broker down; retrying in 0.02 s",
    ]
    stop.set()
    assert not wait_for_broker("k1:9092", probe, stop, say=said.append)


def _cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return flywheel(env, None, *args, timeout=timeout)


@pytest.fixture
def down_env(tmp_path: Path) -> dict[str, str]:
    """A configured cluster nobody listens on (port 9, discard, is closed on loopback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")}
    env.update(
        FLYWHEEL_STATE_DIR=str(tmp_path / "state"),
        FLYWHEEL_BOOTSTRAP_SERVERS="127.0.0.1:9",
        FLYWHEEL_KAFKA_SECURITY_PROTOCOL="PLAINTEXT",
    )
    return env


def test_gate_run_with_the_broker_down_is_one_line_and_exit_3(down_env) -> None:
    result = _cli(down_env, "gate", "run")
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: cannot reach Kafka at 127.0.0.1:9: start the broker (flywheel infra up) or set "
        "bootstrap_servers, then run the gate again"
    ]
    assert "Traceback" not in result.stderr


def test_report_with_clickhouse_down_is_one_line_and_exit_3(down_env, tmp_path: Path) -> None:
    env = {**down_env, "FLYWHEEL_CLICKHOUSE_URL": "http://127.0.0.1:9"}
    result = _cli(env, "report", "--out", str(tmp_path / "report"))
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: cannot reach ClickHouse at http://127.0.0.1:9 (connection refused): start the "
        "server, or fix FLYWHEEL_CLICKHOUSE_URL (empty: embedded chDB)"
    ]


def test_sink_run_started_before_the_broker_waits_and_stops_cleanly(down_env) -> None:
    process = subprocess.Popen(
        [FLYWHEEL, "sink", "run"],
        env=down_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith("waiting for Kafka at 127.0.0.1:9: "), first
    assert first.rstrip().endswith("retrying in 1 s")
    process.send_signal(2)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopped before Kafka answered: nothing stored" in out
    assert "Traceback" not in err


class _Old:
    def __init__(self, version: str) -> None:
        self.server_version = version
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_clickhouse_server_older_than_21_12_is_refused_at_connect(
    monkeypatch, settings_factory
) -> None:
    settings = settings_factory(clickhouse_url="http://127.0.0.1:8123")
    old = _Old("21.3.20.1")
    monkeypatch.setattr(clickhouse.clickhouse_connect, "get_client", lambda **_: old)
    with pytest.raises(ClickHouseError) as refused:
        clickhouse.clickhouse_client(settings)
    assert old.closed
    assert str(refused.value) == (
        "ClickHouse at http://127.0.0.1:8123 is version 21.3.20.1; Alignment Flywheel needs "
        "21.12 or newer: upgrade the server, or leave FLYWHEEL_CLICKHOUSE_URL empty for "
        "embedded chDB"
    )

    def debian_18_16(**_: Any) -> Any:
        raise clickhouse.DriverError("Code: 47, e.displayText() = Unknown identifier: readonly")

    monkeypatch.setattr(clickhouse.clickhouse_connect, "get_client", debian_18_16)
    with pytest.raises(ClickHouseError, match=r"is version older than 19; .* needs 21\.12"):
        clickhouse.clickhouse_client(settings)
    current = _Old("24.8.4.13")
    monkeypatch.setattr(clickhouse.clickhouse_connect, "get_client", lambda **_: current)
    assert clickhouse.clickhouse_client(settings) is current and not current.closed


def test_the_documented_minimum_is_the_checked_one() -> None:
    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    match = re.search(r"Minimum server version: (\d+)\.(\d+)", text)
    assert match is not None
    assert (int(match.group(1)), int(match.group(2))) == clickhouse.MIN_SERVER_VERSION
