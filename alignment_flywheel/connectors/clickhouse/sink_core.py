"""The ClickHouse sink's pure core (:mod:`~alignment_flywheel.governance.step`): decoded records in,
what to store out, batch by batch.

The step takes a :class:`Polled` record (its position, and the decoded event, or the decoding
error, or nothing for a tombstone) or a :class:`Linger` (the batch's time is up). It reads no
table: what the sink has stored is in ClickHouse, read back by the shell as a
:class:`~.progress.Progress` (the floor per partition, the largest stored offset per table and
partition) and given to a new core; the batch being collected is the core's own process state.
Rules:

* **What a record becomes.** A tombstone, or an event type with no table, is passed over. A record
  that does not decode becomes a :class:`DeadLetter`. Any other record becomes its table's row
  (:func:`~.rows.to_row`), unless that row is already stored (its offset at or below the largest
  stored for its table and partition): then it is skipped. Every record moves its partition's
  next offset past it.
* **When a batch is flushed.** After ``batch_size`` records, or at a :class:`Linger` if it holds
  any. A flush emits, in the order they must be stored: the dead letters (each confirmed by the
  broker), then one :class:`Insert` per table (tables in the order their first row came, rows in
  consumption order), then the :class:`Floor` (the next offset per partition). The core counts
  what it emitted as stored; if storing fails the shell builds a new core from the progress read
  back.

Restart rules (the shell seeks each partition to the stored floor and builds a new core from the
stored progress; the batch in hand is lost):

* A crash before a batch's inserts: nothing of it is stored; it is read again from the floor and
  becomes the same rows.
* A crash after some inserts, before the floor: the records are read again; the rows of a table
  stored up to an offset (an interrupted insert stores a prefix of its rows) are recognised by
  ``offset <= present`` and skipped, the others inserted: each row is stored once.
* A crash after the floor: the batch is not read again.
* Dead letters come first: one repeated after a crash is collapsed on its source position by
  ``flywheel.dead_letters``; one is never lost, since the floor passes a record only after its
  dead letter is confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alignment_flywheel.connectors.clickhouse.progress import Position, Progress
from alignment_flywheel.connectors.clickhouse.rows import Record, Row, to_row
from alignment_flywheel.errors import CodecError
from alignment_flywheel.governance.step import Stepped, Tables

BATCH_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class Polled:
    """One record: its position, and ``decoded`` (event type, Avro record), or the decoding
    ``error``, or neither (a tombstone). ``source`` is the shell's message, for a dead letter."""

    topic: str
    partition: int
    offset: int
    decoded: tuple[str, Record] | None = None
    error: CodecError | None = None
    source: Any = None


@dataclass(frozen=True, slots=True)
class Linger:
    """The batch's time is up: flush what it holds."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that does not decode, to dead-letter (confirmed before anything else is stored)."""

    topic: str
    partition: int
    offset: int
    error: CodecError
    source: Any = None


@dataclass(frozen=True, slots=True)
class Insert:
    """One INSERT: rows of ``table`` in consumption order."""

    table: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Floor:
    """The next offset per partition (every record before it stored or passed over), and what
    the batch held."""

    next_offsets: Mapping[Position, int]
    records: int = 0
    rows: int = 0
    skipped: int = 0
    passed_over: int = 0
    dead_lettered: int = 0


Stored = DeadLetter | Insert | Floor
"""What a sink step emits."""


@dataclass
class _Batch:
    rows: dict[str, list[Row]] = field(default_factory=dict)
    next_offsets: dict[Position, int] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    records: int = 0
    skipped: int = 0
    passed_over: int = 0


class SinkCore:
    """The sink's step (see the module rules), from the progress stored when it was built."""

    def __init__(self, progress: Progress | None = None, *, batch_size: int = BATCH_SIZE) -> None:
        self.progress = progress or Progress()
        self.batch_size = max(1, batch_size)
        self._batch = _Batch()

    @property
    def collected(self) -> int:
        """Records in the batch being collected."""
        return self._batch.records

    def __call__(self, tables: Tables, event: Polled | Linger) -> Stepped[Stored]:
        if isinstance(event, Linger):
            return Stepped(emitted=self.flush())
        self.add(event)
        return Stepped(emitted=self.flush() if self._batch.records >= self.batch_size else ())

    def add(self, polled: Polled) -> None:
        """Add one record to the batch (see *What a record becomes*)."""
        batch, position = self._batch, (polled.topic, polled.partition)
        batch.records += 1
        batch.next_offsets[position] = polled.offset + 1
        if polled.error is not None:
            batch.dead.append(
                DeadLetter(
                    polled.topic, polled.partition, polled.offset, polled.error, polled.source
                )
            )
            return
        if polled.decoded is None:
            batch.passed_over += 1
            return
        event_type, record = polled.decoded
        routed = to_row(event_type, record, polled.topic, polled.partition, polled.offset)
        if routed is None:
            batch.passed_over += 1
        elif self.progress.stored(routed[0].name, position, polled.offset):
            batch.skipped += 1
        else:
            batch.rows.setdefault(routed[0].name, []).append(routed[1])

    def flush(self) -> tuple[Stored, ...]:
        """What to store for the batch, in order (nothing if it is empty); a new batch begins."""
        batch, self._batch = self._batch, _Batch()
        if not batch.records:
            return ()
        inserts = []
        for name, rows in batch.rows.items():
            inserts.append(Insert(name, tuple(rows)))
            self.progress.record_latest(name, {(row[4], row[5]): row[6] for row in rows})
        self.progress.floor.update(batch.next_offsets)
        floor = Floor(
            dict(batch.next_offsets),
            records=batch.records,
            rows=sum(len(rows) for rows in batch.rows.values()),
            skipped=batch.skipped,
            passed_over=batch.passed_over,
            dead_lettered=len(batch.dead),
        )
        return (*batch.dead, *inserts, floor)
