"""Triage's restart rules on its pure cores, with the in-memory runner (no broker)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.events import (
    ClusterUpdated,
    FindingRaised,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.governance.triage import Violation
from alignment_flywheel.governance.triage_core import (
    ASSIGNED,
    CLUSTERS,
    PENDING,
    Joined,
    TriageClusters,
    TriageJoin,
)
from tests.support.governance import finding, verification
from tests.support.memory_runner import MemoryRunner

CODEC = EventCodec.from_settings(load_settings())
Half = FindingRaised | VerificationRecorded
CRASHES = list(itertools.product([False, True], repeat=2))


def join_runner(events: Sequence[Half], commit_every: int = 1) -> MemoryRunner[Half, Joined]:
    return MemoryRunner(
        lambda: TriageJoin(CODEC), events, tables=[PENDING], commit_every=commit_every
    )


def cluster_runner(violations: Sequence[Violation]) -> MemoryRunner[Violation, ClusterUpdated]:
    return MemoryRunner(
        lambda: TriageClusters("triage-test"), violations, tables=[CLUSTERS, ASSIGNED]
    )


def deletes(count: int) -> list[FindingRaised]:
    return [finding("shell.exec", {"cmd": f"rm -rf /srv/d{i}"}) for i in range(count)]


def halves(found: Sequence[FindingRaised]) -> list[Half]:
    """Findings and their VIOLATION verifications, interleaved, verifications first for odd ones."""
    events: list[Half] = []
    for i, one in enumerate(found):
        pair: list[Half] = [one, verification(one)]
        events.extend(reversed(pair) if i % 2 else pair)
    return events


def latest(updates: Sequence[ClusterUpdated]) -> dict[object, tuple[int, object]]:
    """The compacted clusters topic: the last update per cluster (size, event id)."""
    return {u.cluster_id: (u.size, u.envelope.event_id) for u in updates}


def test_both_orders_join_once_and_leave_nothing_pending() -> None:
    found = deletes(4)
    run = join_runner(halves(found))
    assert [pair.finding.finding_id for pair in run.run()] == [f.finding_id for f in found]
    assert run.committed == {PENDING: {}}


@pytest.mark.parametrize("first", ["finding", "verification"])
def test_a_no_violation_drops_its_finding_in_either_order(first: str) -> None:
    (one,) = deletes(1)
    events: list[Half] = [one, verification(one, outcome=VerificationOutcome.NO_VIOLATION)]
    run = join_runner(events if first == "finding" else events[::-1])
    assert run.run() == [] and run.committed == {PENDING: {}}


def test_a_crash_after_the_join_before_its_delete_joins_again_and_clusters_count_it_once() -> None:
    found = deletes(3)
    run = join_runner(halves(found))
    run.run(until=3)
    run.commit_every = 2
    run.step()  # the second half of the second pair: joined, sent, not committed
    run.crash(delivered=True)
    run.run()
    run.commit()
    joined = run.sink
    assert [p.finding.finding_id for p in joined] == [
        found[0].finding_id,
        *[f.finding_id for f in (found[1], found[1], found[2])],
    ]
    clusters = cluster_runner([pair.violation() for pair in joined]).run()
    assert [u.size for u in clusters] == [1, 2, 2, 3]
    assert clusters[1].envelope.event_id == clusters[2].envelope.event_id


def test_a_half_redelivered_after_its_join_stays_pending_and_emits_nothing() -> None:
    (one,) = deletes(1)
    run = join_runner([one, verification(one)], commit_every=2)
    run.step()
    run.commit()
    run.step()  # joined, sent and deleted; the offset is not committed
    run.crash(delivered=True, changelog=True)
    assert [p.finding.finding_id for p in run.run()] == [one.finding_id]
    assert run.uncommitted == []
    assert list(run.tables[PENDING]) == [str(one.finding_id)]
    assert run.tables[PENDING][str(one.finding_id)].startswith(b"V")


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_a_crash_anywhere_in_the_join_loses_no_violation(delivered: bool, changelog: bool) -> None:
    """A crash that keeps a join's table write (the pending half deleted) but not the pair it
    sent loses that violation: the shell rules it out by applying the writes only after the pair
    is confirmed. Every other crash, at any offset and commit interval, loses nothing."""
    found = deletes(3)
    events = halves(found)
    lost = 0
    for offset, every in itertools.product(range(len(events)), (2, 3)):
        run = join_runner(events, commit_every=every)
        run.run(until=offset + 1)
        ruled_out = changelog and not delivered and bool(run.uncommitted)
        run.crash(delivered=delivered, changelog=changelog)
        run.run()
        run.commit()
        ids = {pair.finding.finding_id for pair in run.sink}
        if ruled_out:
            lost += ids != {f.finding_id for f in found}
            continue
        assert ids == {f.finding_id for f in found}, (offset, every, delivered, changelog)
    assert (lost > 0) == (changelog and not delivered)


def test_an_inconclusive_verification_writes_and_emits_nothing() -> None:
    (one,) = deletes(1)
    inconclusive = verification(one, outcome=VerificationOutcome.INCONCLUSIVE)
    run = join_runner([inconclusive, one, inconclusive, verification(one)])
    run.run(until=3)
    assert run.sink == [] and list(run.committed[PENDING]) == [str(one.finding_id)]
    assert [p.finding.finding_id for p in run.run()] == [one.finding_id]


def violations(count: int) -> list[Violation]:
    made = []
    for i, one in enumerate(deletes(count)):
        made.append(Joined(one, verification(one)).violation())
        if i % 3 == 2:
            other = finding("sql.query", {"sql": f"DROP TABLE t{i}"})
            made.append(Joined(other, verification(other)).violation())
    return made


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_a_crash_anywhere_in_clustering_ends_in_the_clusters_of_an_uninterrupted_run(
    delivered: bool, changelog: bool
) -> None:
    inputs = violations(6)
    clean = cluster_runner(inputs)
    expected = latest(clean.run())
    for offset in range(len(inputs)):
        run = cluster_runner(inputs)
        run.commit_every = 3
        run.run(until=offset + 1)
        run.crash(delivered=delivered, changelog=changelog)
        run.run()
        run.commit()
        assert latest(run.sink) == expected, (offset, delivered, changelog)
        assert run.committed == clean.committed


def test_a_redelivered_violation_republishes_its_cluster_unchanged() -> None:
    inputs = violations(2)
    run = cluster_runner([*inputs, inputs[0]])
    first, second, again = run.run()
    assert (again.size, again.envelope.event_id) == (second.size, second.envelope.event_id)
    assert first.cluster_id == again.cluster_id


def test_a_restarted_core_rebuilds_its_index_from_the_committed_tables() -> None:
    inputs = violations(4)
    run = cluster_runner(inputs)
    run.run(until=2)
    run.crash()
    assert isinstance(run.core, TriageClusters) and run.core.restored is None
    run.run()
    assert run.core.restored == (1, 2)
    assert latest(run.sink) == latest(cluster_runner(inputs).run())
