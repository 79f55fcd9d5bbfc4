"""The ClickHouse sink's restart rules on its pure core, with the in-memory runner (no broker, no
database).

The database is the runner's sink (what the core emitted and was stored: dead letters, inserts,
floors); a new core starts from the progress read back from it and reads from its floor
(:meth:`MemoryRunner.seek`). The sink has no changelogged table, so a crash keeping the table
writes keeps nothing more; keeping only part of a flush models a kill between two statements.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.clickhouse.progress import Progress
from alignment_flywheel.connectors.clickhouse.sink_core import (
    DeadLetter,
    Floor,
    Insert,
    Linger,
    Polled,
    SinkCore,
    Stored,
)
from alignment_flywheel.errors import CodecError
from tests.support.memory_runner import MemoryRunner
from tests.support.samples import sample_events

TOPIC = "flywheel.t"
CRASHES = list(itertools.product([False, True], repeat=2))
Input = Polled | Linger


@pytest.fixture
def inputs(settings_factory: Callable[..., Settings]) -> list[Input]:
    """Every sample event, a tombstone and a record that does not decode; offsets are indices;
    a final linger."""
    codec = EventCodec.from_settings(settings_factory())
    decoded = [codec.decode_record(codec.encode(event)) for event in sample_events()]
    polled: list[Input] = [Polled(TOPIC, 0, i, d) for i, d in enumerate(decoded)]
    polled.insert(5, Polled(TOPIC, 0, 5))
    polled.insert(9, Polled(TOPIC, 0, 9, error=CodecError("not an event"), source="msg-9"))
    renumbered: list[Input] = [
        Polled(p.topic, p.partition, i, p.decoded, p.error, p.source)
        for i, p in enumerate(polled)
        if isinstance(p, Polled)
    ]
    return [*renumbered, Linger()]


def progress_of(database: Sequence[Stored]) -> Progress:
    """What ``read_progress`` reads back: the largest floor, the largest offset per table."""
    progress = Progress()
    for stored in database:
        if isinstance(stored, Floor):
            for position, offset in stored.next_offsets.items():
                progress.floor[position] = max(offset, progress.floor.get(position, 0))
        elif isinstance(stored, Insert):
            latest = {(row[4], row[5]): row[6] for row in stored.rows}
            progress.record_latest(stored.table, latest)
    return progress


def runner(inputs: Sequence[Input], batch_size: int = 4) -> MemoryRunner[Input, Stored]:
    database: list[Stored] = []
    run = MemoryRunner(
        lambda: SinkCore(progress_of(database), batch_size=batch_size), inputs, commit_every=5
    )
    run.sink = database
    return run


def rows(database: Sequence[Stored]) -> dict[str, list[Any]]:
    """The rows stored per table, in order."""
    tables: dict[str, list[Any]] = {}
    for stored in database:
        if isinstance(stored, Insert):
            tables.setdefault(stored.table, []).extend(stored.rows)
    return tables


def dead(database: Sequence[Stored]) -> list[int]:
    return [stored.offset for stored in database if isinstance(stored, DeadLetter)]


def restart(run: MemoryRunner[Input, Stored]) -> None:
    """Resume from the stored floor, as the shell does."""
    run.seek(progress_of(run.sink).floor.get((TOPIC, 0), 0))


def test_a_record_becomes_a_row_a_dead_letter_or_nothing_and_batches_flush_in_order(
    inputs: list[Input],
) -> None:
    run = runner(inputs)
    first = run.step()
    assert first.emitted == ()
    run.run()
    run.commit()
    database = run.sink
    floors = [s for s in database if isinstance(s, Floor)]
    records = len(inputs) - 1
    assert [f.records for f in floors] == [4] * (records // 4) + [records % 4] * (records % 4 > 0)
    assert floors[-1].next_offsets == {(TOPIC, 0): len(inputs) - 1}
    assert dead(database) == [9]
    assert sum(f.passed_over for f in floors) >= 1
    stored = rows(database)
    assert sum(map(len, stored.values())) == sum(f.rows for f in floors)
    for i, s in enumerate(database):  # each flush: dead letters, then inserts, then its floor
        if isinstance(s, DeadLetter):
            assert isinstance(database[i + 1], Insert | Floor)
        if isinstance(s, Insert):
            assert not isinstance(database[i + 1], DeadLetter)


def test_a_linger_flushes_what_the_batch_holds_and_nothing_when_empty(inputs: list[Input]) -> None:
    run = runner([inputs[0], Linger(), Linger()], batch_size=100)
    run.run()
    run.commit()
    assert [type(s).__name__ for s in run.sink] == ["Insert", "Floor"]


def test_rows_already_stored_are_skipped(inputs: list[Input]) -> None:
    run = runner(inputs)
    run.run()
    run.commit()
    stored = rows(run.sink)
    run.crash()
    run.seek(0)  # every record again
    run.run()
    run.commit()
    assert rows(run.sink) == stored
    assert sum(s.skipped for s in run.sink if isinstance(s, Floor)) == sum(
        map(len, stored.values())
    )


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_after_a_crash_anywhere_each_row_is_stored_once(
    inputs: list[Input], delivered: bool, changelog: bool
) -> None:
    fresh = runner(inputs)
    fresh.run()
    fresh.commit()
    for offset in range(len(inputs)):
        run = runner(inputs)
        run.run(until=offset + 1)
        run.crash(delivered=delivered, changelog=changelog)
        restart(run)
        run.run()
        run.commit()
        assert rows(run.sink) == rows(fresh.sink), (offset, delivered, changelog)
        assert set(dead(run.sink)) == set(dead(fresh.sink)), offset


def test_a_kill_between_any_two_statements_or_inside_an_insert_loses_and_repeats_no_row(
    inputs: list[Input],
) -> None:
    fresh = runner(inputs)
    fresh.run()
    fresh.commit()
    for offset in range(len(inputs)):
        probe = runner(inputs)
        probe.run(until=offset + 1)
        for kept in range(len(probe.uncommitted) + 1):
            for cut in (None, 1):
                run = runner(inputs)
                run.run(until=offset + 1)
                prefix = list(run.uncommitted[:kept])
                if cut and prefix and isinstance(prefix[-1], Insert):
                    last = prefix[-1]
                    prefix[-1] = Insert(last.table, last.rows[:cut])  # a prefix of its rows
                run.uncommitted = prefix
                run.crash(delivered=True)
                restart(run)
                run.run()
                run.commit()
                assert rows(run.sink) == rows(fresh.sink), (offset, kept, cut)
                assert set(dead(run.sink)) == set(dead(fresh.sink)), (offset, kept)
