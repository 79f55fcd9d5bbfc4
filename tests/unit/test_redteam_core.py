"""The red team's restart rules on its pure core, with the in-memory runner (no broker)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

import pytest

from alignment_flywheel.events import (
    Decision,
    Event,
    FindingRaised,
    FindingSource,
    ProposalSubmitted,
    VerificationOutcome,
    new_envelope,
)
from alignment_flywheel.governance.norms import load_norms
from alignment_flywheel.governance.redteam import campaign_findings, red_team, targets
from alignment_flywheel.governance.redteam_core import (
    FINDINGS,
    PROPOSALS,
    SWEEP_EVERY_S,
    SWEPT,
    Campaigns,
    Delivery,
    RedTeamCore,
)
from tests.support.governance import finding, verdict, verification
from tests.support.memory_runner import MemoryRunner
from tests.support.oracles import policy, rule, rule_oracle

NORMS = load_norms()
RM_RF = rule("rm", 'args.cmd.matches("rm\\\\s+-[a-zA-Z]*[rR]")', score=0.0, tools=["shell.exec"])
ATTACKED = targets(policy(), rule_oracle(RM_RF))
CAMPAIGNS = Campaigns(NORMS, lambda: ATTACKED, seed=1, budget=30, producer="red-team")
TTL_S = 1000.0
CRASHES = list(itertools.product([False, True], repeat=2))


def runner(
    deliveries: Sequence[Delivery], commit_every: int = 1
) -> MemoryRunner[Delivery, FindingRaised]:
    return MemoryRunner(
        lambda: RedTeamCore(CAMPAIGNS, ttl_s=TTL_S),
        deliveries,
        tables=[FINDINGS, PROPOSALS],
        memory=[SWEPT],
        commit_every=commit_every,
    )


def at(events: Sequence[Event], *, partition: int = 0, start: float = 0.0) -> list[Delivery]:
    """One delivery a second, on one partition."""
    return [Delivery(e, partition, start + i, start + i) for i, e in enumerate(events)]


def rm_rf(i: int = 0) -> FindingRaised:
    return finding("shell.exec", {"cmd": f"rm -rf /srv/data{i}"})


def submitted(found: FindingRaised) -> ProposalSubmitted:
    call = found.proposal
    return ProposalSubmitted(envelope=new_envelope("sdk", str(call.proposal_id)), proposal=call)


def expected(found: FindingRaised, parent: uuid.UUID | None) -> list[uuid.UUID]:
    """The finding ids a campaign on ``found``'s proposal raises."""
    campaign = red_team(found.proposal, NORMS, ATTACKED, seed=1, budget=30)
    raised = campaign_findings(campaign, parent_finding_id=parent, producer="red-team")
    return [f.finding_id for f in raised]


def ids(found: Sequence[FindingRaised]) -> list[uuid.UUID]:
    return [f.finding_id for f in found]


def traffic() -> tuple[list[Event], list[uuid.UUID]]:
    """Three seeds, each side first once, and the finding ids their campaigns raise in order."""
    one, two, three = rm_rf(1), rm_rf(2), rm_rf(3)
    events: list[Event] = [one, verification(one), verification(two), two]
    events += [verdict(three.proposal, Decision.BLOCK), submitted(three)]
    raised = expected(one, one.finding_id) + expected(two, two.finding_id) + expected(three, None)
    return events, raised


def test_a_confirmed_seed_is_attacked_once_either_side_first_and_leaves_nothing() -> None:
    events, raised = traffic()
    run = runner(at(events))
    assert raised and ids(run.run()) == raised
    assert all(f.source is FindingSource.RED_TEAM for f in run.sink)
    assert run.committed[FINDINGS] == {} and run.committed[PROPOSALS] == {}


@pytest.mark.parametrize("first", ["seed", "outcome"])
def test_unconfirmed_ineligible_and_shadow_sides_raise_nothing(first: str) -> None:
    cleared, own = rm_rf(1), rm_rf(2).model_copy(update={"source": FindingSource.RED_TEAM})
    allowed, shadowed = rm_rf(3), rm_rf(4)
    shadow = verdict(shadowed.proposal, Decision.BLOCK).model_copy(update={"enforced": False})
    pairs: list[list[Event]] = [
        [cleared, verification(cleared, outcome=VerificationOutcome.NO_VIOLATION)],
        [own, verification(own)],
        [submitted(allowed), verdict(allowed.proposal, Decision.ALLOW)],
    ]
    events = [e for pair in pairs for e in (pair if first == "seed" else pair[::-1])]
    run = runner(at([*events, shadow]))
    assert run.run() == []
    assert run.committed[FINDINGS] == {} and run.committed[PROPOSALS] == {}


def test_a_stale_side_is_swept_on_its_partition_at_most_once_a_minute() -> None:
    old, other, late, probe, again = (rm_rf(i) for i in range(5))
    sweeps = TTL_S + SWEEP_EVERY_S
    run = runner(
        [
            Delivery(old, 0, 0.0, 0.0),
            Delivery(other, 1, 0.0, 0.0),
            Delivery(late, 0, TTL_S - 10, TTL_S - 10),  # swept: nothing is stale yet
            Delivery(probe, 0, TTL_S + 1, TTL_S + 1),  # old is stale, but swept 11 s ago
            Delivery(again, 0, sweeps, sweeps),  # swept: old is deleted
            Delivery(verification(old), 0, sweeps, sweeps),
        ]
    )
    run.run(until=4)
    assert str(old.finding_id) in run.committed[FINDINGS]
    run.run()
    assert run.sink == []
    waiting = {str(f.finding_id) for f in (other, late, probe, again, old)}
    assert set(run.committed[FINDINGS]) == waiting
    assert b"seed" not in run.committed[FINDINGS][str(old.finding_id)]
    assert run.committed[SWEPT] == {f"{FINDINGS}/0": sweeps, f"{FINDINGS}/1": 0.0}


def test_a_side_redelivered_after_the_delete_waits_and_raises_nothing() -> None:
    one = rm_rf()
    confirm = verification(one)
    run = runner(at([one, confirm, confirm]))
    assert ids(run.run()) == expected(one, one.finding_id)
    assert list(run.committed[FINDINGS]) == [str(one.finding_id)]


def test_a_side_redelivered_when_the_delete_was_lost_raises_the_same_findings() -> None:
    one = rm_rf()
    run = runner(at([one, verification(one)]), commit_every=2)
    run.step()
    run.commit()
    run.step()
    run.crash(delivered=True)
    run.run()
    run.commit()
    assert ids(run.sink) == expected(one, one.finding_id) * 2
    assert run.committed[FINDINGS] == {}


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_a_crash_anywhere_loses_no_finding_and_repeats_only_the_same_ids(
    delivered: bool, changelog: bool
) -> None:
    """A crash that keeps a step's table writes but not its findings can lose them (a pair whose
    first side was committed): the shell rules it out by writing after the findings are
    confirmed. Any crash raises no finding of another seed."""
    events, raised = traffic()
    lost = 0
    for offset in range(len(events)):
        run = runner(at(events), commit_every=3)
        run.run(until=offset + 1)
        ruled_out = changelog and not delivered and bool(run.uncommitted)
        run.crash(delivered=delivered, changelog=changelog)
        run.run()
        run.commit()
        sent = ids(run.sink)
        assert set(sent) <= set(raised)
        if ruled_out:
            lost += set(sent) != set(raised)
            continue
        assert list(dict.fromkeys(sent)) == raised, (offset, delivered, changelog)
        assert set(sent) == set(raised)
    assert (lost > 0) == (changelog and not delivered)
