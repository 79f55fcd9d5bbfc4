"""The gate's revise-spent table: own writes count at once and outlive a failure once committed."""

from __future__ import annotations

from alignment_flywheel.processors.gate_state import SpentTable


def test_own_writes_count_at_once_and_are_sent_as_decimal_text() -> None:
    table = SpentTable()
    assert table.record({"a": 2, "b": 3}) == [(b"a", b"2"), (b"b", b"3")]
    assert dict(table.spent) == {"a": 2, "b": 3}
    assert table.committed == {}


def test_a_commit_keeps_its_writes_and_leaves_those_made_since_pending() -> None:
    table = SpentTable()
    table.record({"a": 2})
    table.submitted()
    table.record({"b": 2})  # handled while the transaction commits
    table.settled(True)
    assert table.committed == {"a": 2}
    assert dict(table.spent) == {"a": 2, "b": 2}
    table.settled(False)  # the next transaction, which would have held "b", failed
    assert dict(table.spent) == {"a": 2}


def test_a_failure_takes_back_its_writes_and_those_made_since() -> None:
    table = SpentTable()
    table.load("a", 2)
    table.record({"a": 3, "b": 2})
    table.submitted()
    table.record({"c": 4})
    table.settled(False)
    assert dict(table.spent) == {"a": 2}


def test_a_value_committed_elsewhere_shows_once_the_own_write_over_it_is_taken_back() -> None:
    table = SpentTable()
    table.record({"a": 2})
    table.load("a", 5)  # another gate committed the same chain meanwhile
    assert table.spent["a"] == 2  # the own write is newer for this gate
    table.submitted()
    table.settled(False)
    assert dict(table.spent) == {"a": 5}


def test_a_deleted_key_is_gone_from_the_committed_values() -> None:
    table = SpentTable()
    table.load("a", 2)
    table.load("a", None)
    table.load("b", None)
    assert dict(table.spent) == {}
