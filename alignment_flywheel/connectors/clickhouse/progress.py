"""What the sink has stored, read back from ClickHouse: where to resume and what to skip.

Two facts, both read from the database itself (there is no other state):

* ``floor``: per (topic, partition), the largest ``next_offset`` this sink recorded in
  ``flywheel.sink_offsets``. It is written only after every row of a batch is stored, so every
  record before it is stored or was passed over on purpose. The consumer resumes there.
* ``present``: per table and (topic, partition), the largest ``kafka_offset`` of the rows stored.
  Past the floor, a row at or below it is already stored (see the sink's docstring) and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from alignment_flywheel.connectors.clickhouse.tables import TableSpec

Position = tuple[str, int]
"""(topic, partition)."""

OFFSETS_TABLE = "flywheel.sink_offsets"


@dataclass
class Progress:
    """The floor and the stored rows of one sink, as last read or written."""

    floor: dict[Position, int] = field(default_factory=dict)
    present: dict[str, dict[Position, int]] = field(default_factory=dict)

    def stored(self, table: str, position: Position, offset: int) -> bool:
        """Whether the row of ``table`` from ``offset`` of ``position`` is already stored."""
        return offset <= self.present.get(table, {}).get(position, -1)

    def record_latest(self, table: str, latest: Mapping[Position, int]) -> None:
        """Note rows of ``table`` stored up to ``latest`` offsets (per position)."""
        stored = self.present.setdefault(table, {})
        for position, offset in latest.items():
            if offset > stored.get(position, -1):
                stored[position] = offset


def _topic_list(topics: Iterable[str]) -> str:
    quoted = ", ".join("'" + t.replace("\\", "\\\\").replace("'", "\\'") + "'" for t in topics)
    return f"[{quoted}]"


def read_progress(
    client: Client, sink: str, topics: Iterable[str], tables: Iterable[TableSpec]
) -> Progress:
    """The progress of ``sink`` over ``topics``, read from the database."""
    names = _topic_list(sorted(set(topics)))
    progress = Progress()
    sink_name = _topic_list([sink])
    rows = client.query(
        f"SELECT topic, partition, max(next_offset) FROM {OFFSETS_TABLE} "
        f"WHERE sink = {sink_name}[1] AND has({names}, topic) GROUP BY topic, partition"
    ).result_rows
    progress.floor = {(str(t), int(p)): int(o) for t, p, o in rows}
    for table in tables:
        rows = client.query(
            f"SELECT kafka_topic, kafka_partition, max(kafka_offset) FROM {table.qualified} "
            f"WHERE has({names}, kafka_topic) GROUP BY kafka_topic, kafka_partition"
        ).result_rows
        progress.present[table.name] = {(str(t), int(p)): int(o) for t, p, o in rows}
    return progress


def write_floor(client: Client, sink: str, next_offsets: dict[Position, int]) -> None:
    """Record that every record before ``next_offsets`` is stored or passed over."""
    if not next_offsets:
        return
    client.insert(
        OFFSETS_TABLE,
        [[sink, topic, partition, offset] for (topic, partition), offset in next_offsets.items()],
        column_names=["sink", "topic", "partition", "next_offset"],
    )
