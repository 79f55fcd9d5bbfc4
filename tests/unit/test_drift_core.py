"""The drift watch's restart rules on its pure core, with the in-memory runner (no broker).

Its tables are memory tables and its watch is the core's own state: a restarted worker is a
fresh one reading from the committed offset.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from alignment_flywheel.events import (
    DriftDetected,
    FindingRaised,
    ProposalSubmitted,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.events.ids import drift_finding_id
from alignment_flywheel.governance.drift import DriftWatch
from alignment_flywheel.governance.drift_core import PROPOSALS, VERDICTS, DriftCore, Drifted
from tests.support.governance import verdict
from tests.support.memory_runner import MemoryRunner
from tests.support.oracles import proposal

CRASHES = list(itertools.product([False, True], repeat=2))
Input = ProposalSubmitted | VerdictIssued


def core(max_waiting: int = 100) -> DriftCore:
    watch = DriftWatch(warmup=3, tool_warmup=3, samples_per_detection=2)
    return DriftCore(watch, "drift-test", max_waiting=max_waiting)


def runner(
    events: Sequence[Input], commit_every: int = 1, max_waiting: int = 100
) -> MemoryRunner[Input, Drifted]:
    return MemoryRunner(
        lambda: core(max_waiting),
        events,
        memory=[PROPOSALS, VERDICTS],
        commit_every=commit_every,
    )


def pair(tool: str, arguments: dict[str, Any]) -> tuple[ProposalSubmitted, VerdictIssued]:
    call = proposal(tool, arguments)
    submitted = ProposalSubmitted(
        envelope=new_envelope("sdk", str(call.proposal_id)), proposal=call
    )
    return submitted, verdict(call)


def halves(tool: str, arguments: dict[str, Any], *, verdict_first: bool = False) -> list[Input]:
    both: list[Input] = list(pair(tool, arguments))
    return both[::-1] if verdict_first else both


def traffic() -> list[Input]:
    """Warm-up traffic on one tool, then a new tool and a new argument key, halves interleaved."""
    events: list[Input] = []
    for i in range(4):
        events += halves("fs.read", {"path": f"/srv/{i}"}, verdict_first=i % 2 == 1)
    events += halves("db.drop", {"table": "users"}, verdict_first=True)
    events += halves("fs.read", {"path": "/srv/x", "recursive": True})
    return events


def ids(events: Sequence[Drifted]) -> list[uuid.UUID]:
    return [event.envelope.event_id for event in events]


def fresh(events: Sequence[Input]) -> list[uuid.UUID]:
    """The ids a new worker sends for ``events``."""
    return ids(runner(events).run())


def test_each_detection_is_sent_before_its_findings_and_the_join_leaves_nothing() -> None:
    run = runner(traffic())
    emitted = run.run()
    kinds = [(type(e).__name__, getattr(e, "metric", None)) for e in emitted]
    assert kinds == [
        ("DriftDetected", "new_tool"),
        ("FindingRaised", None),
        ("DriftDetected", "new_argument_key"),
        ("FindingRaised", None),
        ("FindingRaised", None),
    ]
    new_tool, finding = emitted[0], emitted[1]
    assert isinstance(new_tool, DriftDetected) and isinstance(finding, FindingRaised)
    assert new_tool.envelope.event_id == new_tool.drift_id
    assert finding.finding_id == drift_finding_id(new_tool.drift_id, finding.proposal.proposal_id)
    assert run.committed == {PROPOSALS: {}, VERDICTS: {}}


def test_a_shadow_verdict_writes_and_emits_nothing() -> None:
    submitted, enforced = pair("fs.read", {"path": "/a"})
    shadow = enforced.model_copy(update={"enforced": False})
    run = runner([shadow, submitted])
    run.run(until=1)
    assert run.committed == {PROPOSALS: {}, VERDICTS: {}}
    run.run()
    assert list(run.committed[PROPOSALS]) == [str(enforced.proposal_id)]


def test_the_oldest_waiting_half_is_dropped_beyond_the_bound() -> None:
    first, second, third = (pair("fs.read", {"path": f"/{i}"}) for i in range(3))
    run = runner([first[0], second[0], third[0], first[1]], max_waiting=2)
    run.run()
    waiting = [str(submitted.proposal.proposal_id) for submitted, _ in (second, third)]
    assert list(run.committed[PROPOSALS]) == waiting
    assert list(run.committed[VERDICTS]) == [str(first[1].proposal_id)]


def test_a_half_redelivered_after_its_pair_waits_and_emits_nothing() -> None:
    events = traffic()
    enforced = events[8]  # the new tool's verdict, which came before its proposal
    assert isinstance(enforced, VerdictIssued)
    run = runner([*events, enforced])
    run.run()
    assert ids(run.sink) == fresh(events)
    assert run.committed == {PROPOSALS: {}, VERDICTS: {str(enforced.proposal_id): enforced}}


def test_a_detection_triggered_again_by_the_same_proposal_has_the_same_ids() -> None:
    events = traffic()
    first = runner(events).run()
    again = runner(events).run()
    assert ids(first) == ids(again)


def test_a_pair_whose_first_half_was_committed_before_a_crash_is_never_observed() -> None:
    events = traffic()
    orphan = events[9]  # the new tool's proposal; its verdict comes before the crash
    assert isinstance(orphan, ProposalSubmitted)
    run = runner(events)
    run.run(until=9)
    run.crash(delivered=True, changelog=True)
    run.run()
    assert run.sink == [] and fresh(events) != []
    assert list(run.committed[PROPOSALS]) == [str(orphan.proposal.proposal_id)]


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_after_a_crash_anywhere_the_worker_is_a_fresh_one_from_the_committed_offset(
    delivered: bool, changelog: bool
) -> None:
    events = traffic()
    for offset in range(len(events)):
        run = runner(events, commit_every=3)
        run.run(until=offset + 1)
        before = ids(run.sink) + (ids(run.uncommitted) if delivered else [])
        restart = run.committed_offset
        run.crash(delivered=delivered, changelog=changelog)
        assert run.tables == {PROPOSALS: {}, VERDICTS: {}}
        run.run()
        run.commit()
        assert ids(run.sink) == before + fresh(events[restart:]), (offset, delivered, changelog)
