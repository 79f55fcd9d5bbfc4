"""The contract of a role's pure core: one step over its tables and one input event.

A stream role (triage, the gate, refinement, the release controller) is a *core* and a *shell*.
The core is a step function in the manner of the eventsourcing library's ``policy``: given a
read-only view of the role's tables and one decoded input event, it returns a :class:`Stepped`:
the writes to its tables (the changelog records) and the events to emit, in the order they must
be sent. The shell (a faust agent) only decodes, steps, sends, writes and commits.

Rules:

* **A step reads, never writes.** The tables it is given are a view (:func:`view`); what it
  changes is returned as :data:`Writes` (table name -> key -> new value, ``None`` deletes) and
  applied by the caller (:func:`apply`, copy-on-write): the new state is ``apply(state, writes)``.
  Code written against a mutable mapping runs over an :class:`Overlay` of a table, which keeps
  its changes aside as that table's writes.
* **Tables are changelog-able dicts**: string keys, values a changelog can carry (bytes, ints,
  JSON). Nothing else of the role survives a restart.
* **Emitted events are ordered.** The shell sends them in the order returned and acknowledges the
  input only once every one is confirmed. Each role's rules say where its writes go relative to
  its sends (the gate writes before handing its verdict to the producer, the triage join after
  its pair is confirmed).
* **A core may cache what it derives from its tables** (an index, a decoded object), loaded from
  the tables on its first step; a restarted worker builds a new core, so a cache never outlives
  the state it came from.
* **The restart rules of a role are its core's**: what a redelivered input emits (nothing, or the
  same events again) and what it writes follow from the tables alone, so they are tested with an
  in-memory runner that drops uncommitted work, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

E_contra = TypeVar("E_contra", contravariant=True)
O_co = TypeVar("O_co", covariant=True)

Table = Mapping[str, Any]
"""One table, read-only: key -> value."""
Tables = Mapping[str, Table]
"""A role's tables by name."""
Writes = Mapping[str, Mapping[str, Any]]
"""Per table, key -> new value; a value of ``None`` deletes the key."""


@dataclass(frozen=True, slots=True)
class Stepped(Generic[O_co]):
    """What one step did: its table writes and the events to emit, in order."""

    writes: Writes = field(default_factory=dict)
    emitted: tuple[O_co, ...] = ()


class Step(Protocol[E_contra, O_co]):
    """A role's core: ``step(tables, event) -> Stepped`` (see the module rules)."""

    def __call__(self, tables: Tables, event: E_contra, /) -> Stepped[O_co]: ...


def view(tables: Mapping[str, dict[str, Any]]) -> Tables:
    """A read-only view of mutable tables (a step cannot change them by mistake)."""
    return MappingProxyType({name: MappingProxyType(table) for name, table in tables.items()})


def apply(tables: Mapping[str, Mapping[str, Any]], writes: Writes) -> dict[str, dict[str, Any]]:
    """The tables after ``writes``, as new dicts (the given tables are left as they were)."""
    result = {name: dict(table) for name, table in tables.items()}
    for name, changes in writes.items():
        write_into(result.setdefault(name, {}), changes)
    return result


def write_into(table: Any, changes: Mapping[str, Any]) -> None:
    """Apply one table's writes to a mutable mapping in place (a faust table, a dict)."""
    for key, value in changes.items():
        if value is None:
            if key in table:
                del table[key]
        else:
            table[key] = value


class Overlay(MutableMapping[str, Any]):
    """A table as a mutable mapping whose changes are kept aside, for code written against one
    (``changes`` are the table's :data:`Writes`; the table itself is never changed). A value of
    ``None`` in the table counts as absent, as it would be deleted."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self.changes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self.changes[key] if key in self.changes else self._table.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.changes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.changes[key] = None

    def __iter__(self) -> Iterator[str]:
        for key in self._table:
            if key in self:
                yield key
        for key, value in self.changes.items():
            if value is not None and key not in self._table:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)
