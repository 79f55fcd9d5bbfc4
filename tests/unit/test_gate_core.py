"""The gate's emit order, derived ids and restart rules on its pure core (in-memory runner)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal, ReviewRequested, VerdictIssued
from alignment_flywheel.events.ids import emitted_event_id
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.processors.gate_core import (
    REVIEWS,
    REVISE_SPENT,
    VERDICTS,
    GateCore,
    Outgoing,
    Submission,
)
from alignment_flywheel.processors.gate_events import decision_id_for, review_id_for
from tests.support.memory_runner import MemoryRunner
from tests.support.oracles import proposal

CODEC = EventCodec.from_settings(load_settings())


class Scripted:
    """A decider: each proposal's decision from a script (default ALLOW), a shadow verdict when
    ``shadow`` is set; records each call's proposal id and revise depth."""

    def __init__(self, script: dict[uuid.UUID, Decision], shadow: Decision | None = None) -> None:
        self.script, self.shadow = script, shadow
        self.calls: list[tuple[uuid.UUID, int]] = []

    def __call__(
        self, item: Proposal, depth: int, session: SessionContext | None
    ) -> tuple[Verdict, Verdict | None]:
        self.calls.append((item.proposal_id, depth))
        enforced = _verdict(self.script.get(item.proposal_id, Decision.ALLOW), enforced=True)
        return enforced, None if self.shadow is None else _verdict(self.shadow, enforced=False)


def _verdict(decision: Decision, *, enforced: bool) -> Verdict:
    return Verdict(
        decision=decision,
        tier="t",
        reasons=("because",),
        policy_version="p1",
        latency_us=3,
        enforced=enforced,
    )


def runner(
    decider: Scripted, proposals: Sequence[Proposal], commit_every: int = 1
) -> MemoryRunner[Submission, Outgoing]:
    def core() -> GateCore:
        return GateCore(CODEC, decider, producer="gate-test", review_timeout_s=60)

    submissions = [Submission({"trace_id": "t"}, item) for item in proposals]
    return MemoryRunner(core, submissions, tables=[REVISE_SPENT], commit_every=commit_every)


def verdicts(sink: Sequence[Outgoing]) -> list[VerdictIssued]:
    found = [CODEC.decode(out.value) for out in sink if out.topic == VERDICTS]
    assert all(isinstance(v, VerdictIssued) for v in found)
    return found  # type: ignore[return-value]


def test_the_enforced_verdict_goes_first_then_the_review_then_the_shadow_verdict() -> None:
    item = proposal()
    run = runner(Scripted({item.proposal_id: Decision.ESCALATE}, shadow=Decision.BLOCK), [item])
    sent = run.run()
    assert [out.topic for out in sent] == [VERDICTS, REVIEWS, VERDICTS]
    enforced, shadow = verdicts(sent)
    assert enforced.enforced and enforced.decision_id == decision_id_for(item.proposal_id)
    assert not shadow.enforced and shadow.decision is Decision.BLOCK
    assert enforced.envelope.event_id != shadow.envelope.event_id


def test_a_proposal_decided_again_emits_the_same_ids_and_times() -> None:
    item = proposal()
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    script = {item.proposal_id: Decision.ESCALATE}
    core = GateCore(CODEC, Scripted(script), producer="gate-test", review_timeout_s=60)
    submission = Submission({"trace_id": "t"}, item, occurred_at=stamp)
    first, again = (core({REVISE_SPENT: {}}, submission).emitted for _ in range(2))
    assert [o.value for o in first] == [o.value for o in again]
    verdict, review = (CODEC.decode(out.value) for out in first)
    assert isinstance(verdict, VerdictIssued) and isinstance(review, ReviewRequested)
    assert verdict.envelope.event_id == emitted_event_id(str(item.proposal_id), "verdict")
    assert verdict.envelope.occurred_at == stamp == review.envelope.occurred_at
    assert review.review_id == review_id_for(item.proposal_id)
    assert review.deadline == stamp + timedelta(seconds=60)


@pytest.mark.parametrize("crash_after", range(1, 6))
def test_a_crash_before_the_commit_loses_nothing_and_duplicates_nothing(crash_after: int) -> None:
    items = [proposal() for _ in range(5)]
    script = {items[1].proposal_id: Decision.BLOCK, items[3].proposal_id: Decision.ESCALATE}
    decider = Scripted(script)
    run = runner(decider, items, commit_every=3)
    run.run(until=crash_after)
    run.crash()  # a transaction: the outputs and the table writes go with the offsets
    run.run()
    run.commit()
    issued = verdicts(run.sink)
    assert Counter(v.proposal_id for v in issued) == Counter(i.proposal_id for i in items)
    for verdict in issued:
        assert verdict.decision is script.get(verdict.proposal_id, Decision.ALLOW)


def test_revise_depth_counts_the_chain_and_an_unknown_parent_counts_one() -> None:
    parent = proposal()
    child = parent.model_copy(
        update={"proposal_id": uuid.uuid4(), "parent_proposal_id": parent.proposal_id}
    )
    grandchild = child.model_copy(
        update={"proposal_id": uuid.uuid4(), "parent_proposal_id": child.proposal_id}
    )
    orphan = child.model_copy(
        update={"proposal_id": uuid.uuid4(), "parent_proposal_id": uuid.uuid4()}
    )
    revise = {p.proposal_id: Decision.REVISE for p in (parent, child)}
    decider = Scripted(revise)
    run = runner(decider, [parent, child, grandchild, orphan])
    run.run()
    assert [depth for _, depth in decider.calls] == [0, 1, 2, 1]
    spent = {str(child.proposal_id): 2, str(grandchild.proposal_id): 2}
    assert run.committed[REVISE_SPENT] == spent, "only what is above the floor is kept"
