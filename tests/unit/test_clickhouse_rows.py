"""Events to rows for the ClickHouse sink: every event type has a row that fits its table."""

from __future__ import annotations

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.connectors.clickhouse.progress import Progress
from alignment_flywheel.connectors.clickhouse.rows import ROUTES, routed_event_types, to_row
from alignment_flywheel.connectors.clickhouse.tables import HEAD, TABLES
from alignment_flywheel.events import EVENT_TYPES
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from tests.support.samples import sample_events


def test_every_event_type_but_trust_roots_dead_letters_and_session_context_has_a_table():
    # the session context (a user's request, tool outputs) stays out of analytics
    unrouted = {"TrustRootPublished", "DeadLettered", "SessionStarted", "ToolResultObserved"}
    assert set(EVENT_TYPES) - set(ROUTES) == unrouted
    assert set(ROUTES) <= set(EVENT_TYPES)
    assert set(routed_event_types()) == set(ROUTES)


def test_rows_have_the_envelope_the_position_and_one_value_per_column(settings_factory):
    codec = EventCodec.from_settings(settings_factory())
    seen = set()
    for event in sample_events():
        event_type, record = codec.decode_record(codec.encode(event))
        routed = to_row(event_type, record, "flywheel.t", 3, 41)
        if routed is None:
            assert event_type not in ROUTES
            continue
        table, row = routed
        seen.add(event_type)
        assert len(row) == len(table.columns)
        assert row[: len(HEAD)] == (
            str(event.envelope.event_id),
            event.envelope.occurred_at,
            event.envelope.producer,
            event.envelope.trace_id,
            "flywheel.t",
            3,
            41,
        )
    assert seen == set(ROUTES)


def test_table_columns_match_the_migration(settings_factory, tmp_path):
    settings = settings_factory(clickhouse_url=f"chdb://{tmp_path / 'chdb'}")
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        for table in TABLES:
            rows = client.query(
                "SELECT name FROM system.columns WHERE database = 'flywheel' "
                f"AND table = '{table.name}' AND default_kind = '' ORDER BY position"
            ).result_rows
            assert tuple(name for (name,) in rows) == table.columns, table.name


@pytest.mark.parametrize(("offset", "stored"), [(0, True), (9, True), (10, False), (11, False)])
def test_progress_knows_which_rows_are_stored(offset, stored):
    progress = Progress()
    progress.record_latest("verdicts", {("t", 0): 9, ("t", 1): 99})
    progress.record_latest("verdicts", {("t", 0): 4})
    assert progress.stored("verdicts", ("t", 0), offset) is stored
    assert not progress.stored("proposals", ("t", 0), 0)
    assert not progress.stored("verdicts", ("t", 2), 0)
