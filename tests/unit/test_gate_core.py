"""The gate's dedup, emit order and restart rules on its pure core, with the in-memory runner."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Sequence

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal, ReviewRequested, VerdictIssued
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.processors.gate_core import (
    DECIDED,
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
CRASHES = list(itertools.product([False, True], repeat=2))


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
    return MemoryRunner(
        core, submissions, tables=[DECIDED, REVISE_SPENT], commit_every=commit_every
    )


def verdicts(sink: Sequence[Outgoing]) -> list[VerdictIssued]:
    found = [CODEC.decode(out.value) for out in sink if out.topic == VERDICTS]
    assert all(isinstance(v, VerdictIssued) for v in found)
    return found  # type: ignore[return-value]


def test_a_redelivered_proposal_is_not_decided_again_and_resends_its_verdict() -> None:
    item = proposal()
    decider = Scripted({})
    run = runner(decider, [item, item])
    first, again = run.run()
    assert decider.calls == [(item.proposal_id, 0)]
    assert first == again and first.decision is Decision.ALLOW
    assert run.committed[DECIDED] == {str(item.proposal_id): first.value}


def test_the_enforced_verdict_goes_first_then_the_review_then_the_shadow_verdict() -> None:
    item = proposal()
    run = runner(Scripted({item.proposal_id: Decision.ESCALATE}, shadow=Decision.BLOCK), [item])
    sent = run.run()
    assert [out.topic for out in sent] == [VERDICTS, REVIEWS, VERDICTS]
    enforced, shadow = verdicts(sent)
    assert enforced.enforced and enforced.decision_id == decision_id_for(item.proposal_id)
    assert not shadow.enforced and shadow.decision is Decision.BLOCK
    assert run.committed[DECIDED][str(item.proposal_id)] == sent[0].value


def test_a_redelivered_escalation_resends_its_review_with_the_same_id_and_deadline() -> None:
    item = proposal()
    run = runner(Scripted({item.proposal_id: Decision.ESCALATE}, shadow=Decision.BLOCK), [item])
    first = run.run()[:]
    run.send(run.log[0])
    again = run.run()[len(first) :]
    assert [out.topic for out in again] == [VERDICTS, REVIEWS]
    assert again[0] == first[0]
    reviews = [CODEC.decode(out.value) for out in (first[1], again[1])]
    assert all(isinstance(r, ReviewRequested) for r in reviews)
    ids = {(r.review_id, r.deadline) for r in reviews}  # type: ignore[attr-defined]
    assert len(ids) == 1 and ids.pop()[0] == review_id_for(item.proposal_id)


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_a_crash_anywhere_loses_no_verdict_and_never_changes_a_decision(
    delivered: bool, changelog: bool
) -> None:
    items = [proposal() for _ in range(5)]
    script = {items[1].proposal_id: Decision.BLOCK, items[3].proposal_id: Decision.ESCALATE}
    for offset in range(len(items)):
        decider = Scripted(script)
        run = runner(decider, items, commit_every=3)
        run.run(until=offset + 1)
        run.crash(delivered=delivered, changelog=changelog)
        run.run()
        run.commit()
        issued = verdicts(run.sink)
        assert {v.proposal_id for v in issued} == {i.proposal_id for i in items}
        for verdict in issued:
            assert verdict.decision_id == decision_id_for(verdict.proposal_id)
            assert verdict.decision is script.get(verdict.proposal_id, Decision.ALLOW)
        sent = Counter(v.proposal_id for v in issued)
        if not delivered:
            assert set(sent.values()) == {1}, offset
        if changelog:
            assert len(decider.calls) == len(items), offset
            assert len({(v.proposal_id, v.envelope.event_id) for v in issued}) == len(items)


def test_a_lost_decided_write_decides_again_with_the_same_decision_id_and_a_new_event_id() -> None:
    item = proposal()
    run = runner(Scripted({}), [item], commit_every=2)
    run.run()
    run.crash(delivered=True)
    run.run()
    run.commit()
    first, second = verdicts(run.sink)
    assert first.decision_id == second.decision_id
    assert first.envelope.event_id != second.envelope.event_id


def test_a_kept_decided_write_resends_the_verdict_whose_delivery_was_lost() -> None:
    item = proposal()
    run = runner(Scripted({}), [item], commit_every=2)
    run.run()
    kept = run.tables[DECIDED][str(item.proposal_id)]
    run.crash(changelog=True)
    run.run()
    run.commit()
    assert [out.value for out in run.sink] == [kept]


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
