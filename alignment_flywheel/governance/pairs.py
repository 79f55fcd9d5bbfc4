"""Where the two sides of a red-team seed meet: a proposal and the outcome that confirms it.

A seed needs two records read by different agents: a finding and its verification, or a
proposal and its verdict. They can come in either order, so they meet in a table keyed by the id
they share (:class:`PairBook` works over any mutable mapping; the red-team core gives it an
:class:`~.step.Overlay` of its table, whose changes the worker writes to a faust table, so the
book survives a restart through the changelog):

* the side that comes first is stored: the seed (its proposal, parent finding and whether it
  may seed at all) or the outcome (whether it confirms the seed), with the time and the
  partition of the record that stored it;
* the side that comes second completes the pair (:meth:`PairBook.seed_side` and
  :meth:`PairBook.outcome_side` return it), and the caller deletes the entry once it has acted
  (:meth:`PairBook.complete`);
* :meth:`PairBook.stale` lists one partition's entries older than a horizon, whose partner never
  came (a proposal the gate dead-lettered, a verdict sent twice), for the caller to delete while
  handling a record of that same partition (a faust table change goes to the changelog partition
  of the record being processed).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.events import Proposal


@dataclass(frozen=True, slots=True)
class Seed:
    """A proposal that may seed a campaign, and the finding it came from (if any)."""

    proposal: Proposal
    parent_finding_id: uuid.UUID | None
    eligible: bool


@dataclass(frozen=True, slots=True)
class Pair:
    """Both sides met: the seed, and whether the outcome confirms it."""

    seed: Seed
    confirmed: bool

    @property
    def attack(self) -> bool:
        """True when the seed should be red-teamed."""
        return self.confirmed and self.seed.eligible


class PairBook:
    """The meeting place of one kind of pair (see the module rules)."""

    def __init__(self, table: MutableMapping[str, bytes], *, clock: Any = time.time) -> None:
        self.table = table
        self._clock = clock

    def seed_side(self, key: str, seed: Seed, partition: int) -> Pair | None:
        """Record a seed; the pair if its outcome came first, else None."""
        entry = self._entry(key)
        if "confirmed" not in entry:
            self.table[key] = self._dump({"seed": _seed_json(seed)}, partition)
            return None
        return Pair(seed, bool(entry["confirmed"]))

    def outcome_side(self, key: str, confirmed: bool, partition: int) -> Pair | None:
        """Record an outcome; the pair if its seed came first, else None."""
        entry = self._entry(key)
        if "seed" not in entry:
            self.table[key] = self._dump({"confirmed": confirmed}, partition)
            return None
        return Pair(_seed_of(entry["seed"]), confirmed)

    def complete(self, key: str) -> None:
        """Forget a pair the caller has acted on."""
        if key in self.table:
            del self.table[key]

    def stale(self, partition: int, older_than_s: float) -> list[str]:
        """Keys of ``partition``'s entries stored more than ``older_than_s`` ago."""
        horizon = self._clock() - older_than_s
        found = []
        for key, value in list(self.table.items()):
            entry = json.loads(value)
            if entry["p"] == partition and entry["t"] < horizon:
                found.append(key)
        return found

    def _entry(self, key: str) -> dict[str, Any]:
        value = self.table.get(key)
        if value is None:
            return {}
        entry: dict[str, Any] = json.loads(value)
        return entry

    def _dump(self, entry: dict[str, Any], partition: int) -> bytes:
        return json.dumps({**entry, "t": self._clock(), "p": partition}).encode()


def _seed_json(seed: Seed) -> dict[str, Any]:
    parent = None if seed.parent_finding_id is None else str(seed.parent_finding_id)
    return {
        "proposal": seed.proposal.model_dump_json(),
        "parent": parent,
        "eligible": seed.eligible,
    }


def _seed_of(data: dict[str, Any]) -> Seed:
    parent = data["parent"]
    return Seed(
        Proposal.model_validate_json(data["proposal"]),
        None if parent is None else uuid.UUID(parent),
        bool(data["eligible"]),
    )
