"""Seeds meet their confirming outcome in either order; stale halves are found per partition."""

from __future__ import annotations

import uuid

from alignment_flywheel.governance.pairs import PairBook, Seed
from tests.support.oracles import proposal

PARENT = uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def seed(eligible: bool = True) -> Seed:
    return Seed(proposal("shell.exec", {"cmd": "rm -rf /srv"}), PARENT, eligible)


def test_the_outcome_after_the_seed_completes_the_pair() -> None:
    book, stored = PairBook({}), seed()
    assert book.seed_side("k", stored, 0) is None
    pair = book.outcome_side("k", True, 0)
    assert pair is not None and pair.attack
    assert pair.seed == stored
    book.complete("k")
    assert book.table == {}


def test_the_seed_after_the_outcome_completes_the_pair() -> None:
    book = PairBook({})
    assert book.outcome_side("k", True, 2) is None
    pair = book.seed_side("k", seed(), 2)
    assert pair is not None and pair.attack
    assert pair.seed.parent_finding_id == PARENT


def test_an_unconfirmed_or_ineligible_pair_is_not_attacked() -> None:
    book = PairBook({})
    book.seed_side("a", seed(), 0)
    unconfirmed = book.outcome_side("a", False, 0)
    assert unconfirmed is not None and not unconfirmed.attack
    book.outcome_side("b", True, 0)
    ineligible = book.seed_side("b", seed(eligible=False), 0)
    assert ineligible is not None and not ineligible.attack


def test_stale_halves_are_listed_by_partition_and_age() -> None:
    clock = Clock()
    book = PairBook({}, clock=clock)
    book.seed_side("old-0", seed(), 0)
    book.outcome_side("old-1", True, 1)
    clock.now += 100
    book.seed_side("new-0", seed(), 0)
    assert book.stale(0, 50) == ["old-0"]
    assert book.stale(1, 50) == ["old-1"]
    assert book.stale(0, 500) == []
    book.complete("old-0")
    book.complete("missing")
    assert set(book.table) == {"old-1", "new-0"}
