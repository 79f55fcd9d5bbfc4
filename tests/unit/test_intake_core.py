"""Intake's restart rules on its pure core, with the in-memory runner (no broker, no table)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from alignment_flywheel.enforcement.decider import Decider
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import (
    Decision,
    FindingRaised,
    IncidentKind,
    IncidentReported,
    Proposal,
    Severity,
)
from alignment_flywheel.events.ids import incident_finding_id
from alignment_flywheel.governance.intake import IncidentWithoutProposalError, incident_report
from alignment_flywheel.governance.intake_core import IntakeCore
from tests.support.memory_runner import MemoryRunner
from tests.support.oracles import enforcer, proposal, rule

CRASHES = list(itertools.product([False, True], repeat=2))
BLOCK_RM = rule("rm", 'args.cmd.startsWith("rm")', score=0.0)


class Following:
    """A decider that follows releases: the oracle in force can change between steps."""

    def __init__(self, current: Decider) -> None:
        self.current = current

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict:
        return self.current.decide(proposal, revision_depth=revision_depth)


def incidents(count: int) -> list[IncidentReported]:
    return [
        incident_report(
            proposal(arguments={"cmd": f"rm -rf /srv/d{i}"}),
            kind=IncidentKind.HARM,
            severity=Severity.HIGH,
            description=f"deleted d{i}",
            reporter="ops",
        )
        for i in range(count)
    ]


def runner(
    events: Sequence[IncidentReported], decider: Decider | None = None, commit_every: int = 1
) -> MemoryRunner[IncidentReported, FindingRaised]:
    gate = decider or enforcer(BLOCK_RM)
    return MemoryRunner(lambda: IntakeCore(gate, "intake"), events, commit_every=commit_every)


def test_each_incident_emits_its_finding_in_input_order_and_writes_nothing() -> None:
    reported = incidents(3)
    run = runner(reported)
    found = run.run()
    assert [f.finding_id for f in found] == [incident_finding_id(i.incident_id) for i in reported]
    assert [f.envelope.correlation_id for f in found] == [str(i.incident_id) for i in reported]
    assert all(f.oracle_decision is Decision.BLOCK for f in found)
    assert run.committed == {}


def test_a_redelivered_incident_gives_the_same_finding_with_the_same_event_id() -> None:
    (one,) = incidents(1)
    first, again = runner([one, one]).run()
    assert again.finding_id == first.finding_id
    assert again.model_dump(exclude={"envelope"}) == first.model_dump(exclude={"envelope"})
    assert again.envelope.event_id == first.envelope.event_id


def test_a_redelivery_after_a_release_carries_the_decision_of_the_oracle_then_in_force() -> None:
    (one,) = incidents(1)
    decider = Following(enforcer(BLOCK_RM))
    run = runner([one, one], decider)
    run.step()
    decider.current = enforcer()
    run.step()
    first, again = run.sink
    assert first.finding_id == again.finding_id
    assert (first.oracle_decision, again.oracle_decision) == (Decision.BLOCK, Decision.ALLOW)


def test_an_incident_without_its_proposal_raises_for_the_dead_letters() -> None:
    (one,) = incidents(1)
    bare = one.model_copy(update={"proposal": None})
    with pytest.raises(IncidentWithoutProposalError):
        IntakeCore(enforcer(), "intake")({}, bare)


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_a_crash_anywhere_loses_no_finding_and_duplicates_only_by_finding_id(
    delivered: bool, changelog: bool
) -> None:
    reported = incidents(5)
    expected = [incident_finding_id(i.incident_id) for i in reported]
    for offset in range(len(reported)):
        run = runner(reported, commit_every=2)
        run.run(until=offset + 1)
        lost = [f.finding_id for f in run.uncommitted]
        run.crash(delivered=delivered, changelog=changelog)
        run.run()
        run.commit()
        ids = [f.finding_id for f in run.sink]
        assert list(dict.fromkeys(ids)) == expected, (offset, delivered, changelog)
        assert len(ids) == len(expected) + (len(lost) if delivered else 0)
