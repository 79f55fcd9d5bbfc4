"""The in-memory runner itself: commits, crashes and redelivery (tests/support/memory_runner.py)."""

from __future__ import annotations

import pytest

from alignment_flywheel.governance.step import Stepped, Tables
from tests.support.memory_runner import MemoryRunner


class Counter:
    """A core that counts each word in table ``seen`` and emits ``word:count``."""

    def __init__(self) -> None:
        self.steps = 0

    def __call__(self, tables: Tables, word: str) -> Stepped[str]:
        self.steps += 1
        count = tables["seen"].get(word, 0) + 1
        return Stepped({"seen": {word: count}}, (f"{word}:{count}",))


def runner(words: str, commit_every: int = 1) -> MemoryRunner[str, str]:
    return MemoryRunner(Counter, words.split(), tables=["seen"], commit_every=commit_every)


def test_each_step_commits_its_writes_and_events_by_default() -> None:
    run = runner("a b a")
    assert run.run() == ["a:1", "b:1", "a:2"]
    assert run.committed == {"seen": {"a": 2, "b": 1}} and run.committed_offset == 3


def test_a_crash_drops_uncommitted_work_and_resumes_from_the_committed_offset() -> None:
    run = runner("a b a c", commit_every=3)
    run.run(until=2)
    assert run.sink == [] and run.tables == {"seen": {"a": 1, "b": 1}}
    run.crash()
    assert (run.position, run.tables, run.uncommitted) == (0, {"seen": {}}, [])
    assert run.run() == ["a:1", "b:1", "a:2"]
    assert run.uncommitted == ["c:1"] and run.committed_offset == 3


def test_a_crash_builds_a_new_core() -> None:
    run = runner("a b")
    first = run.core
    run.run()
    run.crash()
    assert run.core is not first and run.crashes == 1
    assert run.run() == ["a:1", "b:1"]


def test_delivered_keeps_the_events_and_changelog_keeps_the_writes_of_a_crash() -> None:
    delivered = runner("a", commit_every=2)
    delivered.run()
    delivered.crash(delivered=True)
    delivered.run()
    delivered.commit()
    assert delivered.sink == ["a:1", "a:1"]
    changelog = runner("a", commit_every=2)
    changelog.run()
    changelog.crash(changelog=True)
    changelog.run()
    assert changelog.tables == {"seen": {"a": 2}} and changelog.uncommitted == ["a:2"]


def test_the_step_gets_a_read_only_view_and_the_tables_are_copied() -> None:
    seen: list[Tables] = []

    def spy(tables: Tables, word: str) -> Stepped[str]:
        seen.append(tables)
        return Stepped({"seen": {word: None}})

    run: MemoryRunner[str, str] = MemoryRunner(lambda: spy, ["a"], tables=["seen"])
    run.committed["seen"]["a"] = 1
    run.tables = {"seen": {"a": 1}}
    run.run()
    assert run.tables == {"seen": {}} and dict(seen[0]["seen"]) == {"a": 1}
    with pytest.raises(TypeError):
        seen[0]["seen"]["b"] = 2  # type: ignore[index]


def test_a_crash_empties_the_memory_tables_whatever_it_keeps() -> None:
    run: MemoryRunner[str, str] = MemoryRunner(Counter, ["a"], memory=["seen"])
    run.run()
    assert run.committed == {"seen": {"a": 1}}
    run.crash(changelog=True)
    assert run.tables == run.committed == {"seen": {}}
