"""An in-memory runner for a role's pure core (:mod:`alignment_flywheel.governance.step`).

In the manner of bytewax's testing source and sink and of eventsourcing's single-threaded runner:
a list of input events (one partition, its offsets the list's indices) goes through a core's step
with dict tables; what the steps emit goes to a sink. Rules:

* **Committed and uncommitted work.** After each step the runner holds the step's table writes
  and emitted events as *uncommitted*; :meth:`MemoryRunner.commit` (after every
  ``commit_every`` steps, or when called) makes them committed: the tables become the committed
  tables, the events join ``sink``, and the committed offset moves past the steps.
* **A crash drops what was not committed** (:meth:`MemoryRunner.crash`), then the runner resumes
  from the committed offset with a new core (a new process: caches are rebuilt from the
  committed tables) and redelivers the inputs after it. A crash may keep part of the uncommitted
  work, as a real worker's can: ``delivered`` keeps the emitted events (the broker had confirmed
  them before the offset was committed), ``changelog`` keeps the table writes (their changelog
  records had landed).
* **Memory tables** (``memory``) are a process's own state, not changelogged (a window start, a
  cache): a crash empties them whatever it keeps.
* **A role that keeps its own position** (the ledger, whose position is its leaf store) may read
  from an offset of its choosing after a restart: :meth:`MemoryRunner.seek`.
* ``sink`` holds every event that reached the output, duplicates included, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from alignment_flywheel.governance.step import Step, Stepped, apply, view

E = TypeVar("E")
O = TypeVar("O")  # noqa: E741


class MemoryRunner(Generic[E, O]):
    """Feeds events through a core built by ``core``, with the named dict tables."""

    def __init__(
        self,
        core: Callable[[], Step[E, O]],
        events: Iterable[E] = (),
        *,
        tables: Iterable[str] = (),
        memory: Iterable[str] = (),
        commit_every: int = 1,
    ) -> None:
        self._new_core = core
        self.core = core()
        self.log: list[E] = list(events)
        self.commit_every = commit_every
        self.memory = frozenset(memory)
        self.committed: dict[str, dict[str, Any]] = {name: {} for name in [*tables, *memory]}
        self.tables = apply(self.committed, {})
        self.committed_offset = 0
        self.position = 0
        self.sink: list[O] = []
        self.uncommitted: list[O] = []
        self.crashes = 0

    def send(self, *events: E) -> None:
        """Append events to the input."""
        self.log.extend(events)

    def step(self) -> Stepped[O]:
        """Process the next input; commit when ``commit_every`` steps are uncommitted."""
        stepped = self.core(view(self.tables), self.log[self.position])
        self.tables = apply(self.tables, stepped.writes)
        self.uncommitted.extend(stepped.emitted)
        self.position += 1
        if self.position - self.committed_offset >= self.commit_every:
            self.commit()
        return stepped

    def run(self, until: int | None = None) -> list[O]:
        """Process the inputs up to offset ``until`` (default: all); the sink."""
        end = len(self.log) if until is None else until
        while self.position < end:
            self.step()
        return self.sink

    def commit(self) -> None:
        """Commit the offset, the table writes and the emitted events of the steps so far."""
        self.sink.extend(self.uncommitted)
        self.uncommitted = []
        self.committed = apply(self.tables, {})
        self.committed_offset = self.position

    def crash(self, *, delivered: bool = False, changelog: bool = False) -> None:
        """Lose the uncommitted work (keep its events with ``delivered``, its table writes with
        ``changelog``) and the memory tables; resume at the committed offset with a new core."""
        if delivered:
            self.sink.extend(self.uncommitted)
        if changelog:
            self.committed = apply(self.tables, {})
        for name in self.memory:
            self.committed[name] = {}
        self.uncommitted = []
        self.tables = apply(self.committed, {})
        self.position = self.committed_offset
        self.core = self._new_core()
        self.crashes += 1

    def seek(self, offset: int) -> None:
        """Read from ``offset`` next, as a role that keeps its own position does on a restart."""
        self.position = self.committed_offset = offset
