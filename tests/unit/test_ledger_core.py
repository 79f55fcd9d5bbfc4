"""The ledger's restart rules on its pure core, with the in-memory runner (no broker).

The leaf store is the ``leaves`` table (kept by a crash with ``changelog``: the leaves were
fsynced), the ledger topic the runner's sink (kept with ``delivered``: the checkpoint was
confirmed), the heads a memory table derived again on every start.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.audit.ledger import checkpoint_signed_by, leaf_of
from alignment_flywheel.audit.ledger_core import (
    HEADS,
    LEAVES,
    LedgerCore,
    LedgerResumeError,
    Record,
    Tick,
    leaf_key,
)
from alignment_flywheel.audit.merkle import MerkleLog
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.patches.signing import key_id
from tests.support.memory_runner import MemoryRunner

KEY = Ed25519PrivateKey.generate()
LOG = "flywheel.verdicts/0"
CRASHES = list(itertools.product([False, True], repeat=2))
Input = Record | Tick
Head = tuple[str, int, str, int, int]


def runner(
    events: Sequence[Input],
    *,
    commit_every: int = 1,
    every: int = 4,
    interval_s: float = 1000.0,
    key: Ed25519PrivateKey = KEY,
) -> MemoryRunner[Input, LedgerCheckpoint]:
    """A runner whose every new core reads the checkpoints its sink (the ledger topic) holds."""
    topic: list[LedgerCheckpoint] = []

    def core() -> LedgerCore:
        return LedgerCore(key, "ledger-test", every=every, interval_s=interval_s, published=topic)

    run = MemoryRunner(core, events, tables=[LEAVES], memory=[HEADS], commit_every=commit_every)
    run.sink = topic
    return run


def records(count: int, *, first: int = 0, tick_every: int = 3) -> list[Input]:
    """``count`` records of one log, a tick (one second apart) after every ``tick_every``."""
    events: list[Input] = []
    for i in range(count):
        events.append(Record(LOG, first + i, f"verdict-{i}".encode()))
        if (i + 1) % tick_every == 0:
            events.append(Tick(float(i)))
    return [*events, Tick(float(count), final=True)]


def head(checkpoint: LedgerCheckpoint) -> Head:
    c = checkpoint
    return (c.log_id, c.tree_size, c.root_hash, c.first_offset, c.last_offset)


def heads(checkpoints: Sequence[LedgerCheckpoint]) -> list[Head]:
    """The distinct tree heads, in the order first published."""
    return list(dict.fromkeys(head(c) for c in checkpoints))


def test_a_tick_signs_every_n_leaves_over_the_stored_records() -> None:
    events = records(10)
    run = runner(events)
    sent = run.run()
    assert [c.tree_size for c in sent] == [6, 10]  # ticks after 3, 6, 9 leaves; then the final
    leaves = [leaf_of(i, f"verdict-{i}".encode()) for i in range(10)]
    assert sent[-1].root_hash == MerkleLog(leaf.digest for leaf in leaves).root().hex()
    assert (sent[-1].first_offset, sent[-1].last_offset) == (0, 9)
    assert all(checkpoint_signed_by(c, {key_id(KEY.public_key()): KEY.public_key()}) for c in sent)
    assert run.committed[LEAVES] == {leaf_key(LOG, i): leaf for i, leaf in enumerate(leaves)}


def test_records_alone_emit_nothing_and_the_interval_signs_what_waits() -> None:
    run = runner([Record(LOG, 5, b"a"), Record(LOG, 6, None), Tick(0.0), Tick(9.0)], interval_s=10)
    assert run.run(until=3) == []
    run.send(Tick(10.0))
    [checkpoint] = run.run()
    assert (checkpoint.tree_size, checkpoint.first_offset, checkpoint.last_offset) == (2, 5, 6)
    assert run.committed[LEAVES][leaf_key(LOG, 1)] == leaf_of(6, b"")


def test_a_redelivered_record_is_recognised_by_its_offset() -> None:
    events = records(5, tick_every=100)
    again = [e for e in events if isinstance(e, Record)][2:]
    run = runner([*events[:-1], *again, events[-1]])
    assert heads(run.run()) == heads(runner(events).run())
    assert len(run.committed[LEAVES]) == 5


def test_a_store_that_does_not_reproduce_the_checkpoint_stops_the_worker() -> None:
    run = runner(records(8))
    run.run()
    run.committed[LEAVES][leaf_key(LOG, 2)] = leaf_of(2, b"forged")
    run.crash()
    run.send(Record(LOG, 8, b"next"))
    with pytest.raises(LedgerResumeError):
        run.run()


def test_checkpoints_of_another_key_are_not_resumed_from() -> None:
    events = records(8)
    run = runner(events, key=Ed25519PrivateKey.generate())
    foreign = run.run()
    run = runner(events)
    run.sink.extend(foreign)
    run.crash()  # a start that reads them
    assert heads(run.run()[len(foreign) :]) == heads(foreign)


def test_a_lost_store_is_rebuilt_and_a_changed_topic_is_refused() -> None:
    events = records(8)
    run = runner(events)
    run.run()
    published = list(run.sink)
    run.committed[LEAVES] = {}
    run.crash()
    run.seek(0)
    run.run()
    assert heads(run.sink) == heads(published)
    assert len(run.committed[LEAVES]) == 8

    changed = [
        Record(LOG, 3, b"forged") if e == Record(LOG, 3, b"verdict-3") else e for e in events
    ]
    run = runner(changed)
    run.sink.extend(published)
    run.crash()
    with pytest.raises(LedgerResumeError):
        run.run()


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_after_a_crash_anywhere_the_same_tree_heads_are_published(
    delivered: bool, changelog: bool
) -> None:
    """Checkpoints lost with a crash are signed again over the same leaves; those kept are not.
    A store losing leaves a kept checkpoint covers (``delivered`` without ``changelog``, which
    the fsync-before-publish order rules out) is rebuilt from the log's first offset."""
    events = records(11)
    fresh = runner(events)
    expected = heads(fresh.run())
    rebuilt = 0
    for offset in range(len(events)):
        run = runner(events, commit_every=3)
        run.run(until=offset + 1)
        run.crash(delivered=delivered, changelog=changelog)
        if max((c.tree_size for c in run.sink), default=0) > len(run.committed[LEAVES]):
            assert delivered and not changelog
            run.seek(0)  # the rebuild reads from the first offset of the published checkpoint
            rebuilt += 1
        run.run()
        run.commit()
        assert heads(run.sink) == expected, (offset, delivered, changelog)
        assert run.committed[LEAVES] == fresh.committed[LEAVES], (offset, delivered, changelog)
        sizes = [c.tree_size for c in run.sink]
        assert len(sizes) == len(set(sizes)), (offset, sizes)  # none published twice
    assert (rebuilt > 0) == (delivered and not changelog)
