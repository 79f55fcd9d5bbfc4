"""Refinement's patch decision and its restart rules on the pure core, with the in-memory runner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from alignment_flywheel.events import ClusterStatus, ClusterUpdated, RegressionEvidence
from alignment_flywheel.events.ids import patch_id_for
from alignment_flywheel.governance.changes import change_key
from alignment_flywheel.governance.refinement import NoPatch, Refined
from alignment_flywheel.governance.refinement_core import (
    CHANGES,
    Decline,
    Outcome,
    Propose,
    RefinementCore,
)
from alignment_flywheel.governance.triage import ClusterState, cluster_update, violation_of
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import parse_operations, propose_patch
from tests.support.governance import finding, verification
from tests.support.memory_runner import MemoryRunner
from tests.support.oracles import artifact_doc, rule

GENESIS = build_artifact(artifact_doc(rule("noop", "false")))
EVIDENCE = RegressionEvidence(
    cases=3,
    expected_blocked=3,
    blocked=3,
    benign=0,
    false_positives=0,
    false_positive_rate=0.0,
    labelled=0,
    labels_kept=0,
    passed=True,
    report="ok",
)


class Refiner:
    """A stand-in for the shell's refinement: each cluster's rule name (or a reason for no
    patch), on the base ``base``; counts its calls."""

    def __init__(self, rules: dict[uuid.UUID, str], base: OracleArtifact = GENESIS) -> None:
        self.rules, self.base, self.calls = rules, base, 0

    def __call__(self, update: ClusterUpdated) -> Refined | NoPatch:
        self.calls += 1
        name = self.rules[update.cluster_id]
        if name.startswith("no:"):
            return NoPatch(name[3:])
        if name.startswith("covered:"):
            return NoPatch(name[8:], covered=True)
        operation = {"op": "add_rule", "rule": rule(name, "true", tools=["shell.exec"])}
        patch, target = propose_patch(
            self.base, parse_operations([operation]), author="t", rationale=name
        )
        return Refined(patch, target, EVIDENCE, ())


def update(size: int, cluster_id: uuid.UUID | None = None, **fields: object) -> ClusterUpdated:
    """An update of a new cluster (or of ``cluster_id``) at ``size``."""
    found = finding("shell.exec", {"cmd": "chmod -R 777 /srv"})
    made = cluster_update(ClusterState.start(violation_of(found, verification(found))), "triage")
    changes = {"size": size, **fields}
    if cluster_id is not None:
        changes["cluster_id"] = cluster_id
    return made.model_copy(update=changes)


def runner(
    refiner: Refiner, updates: Sequence[ClusterUpdated]
) -> MemoryRunner[ClusterUpdated, Outcome]:
    return MemoryRunner(lambda: RefinementCore(refiner, min_members=3), updates, tables=[CHANGES])


def proposed(sink: Sequence[Outcome]) -> list[Propose]:
    return [outcome for outcome in sink if isinstance(outcome, Propose)]


@pytest.mark.parametrize(("size", "status"), [(2, ClusterStatus.OPEN), (5, ClusterStatus.PATCHED)])
def test_a_small_or_closed_cluster_is_not_refined(size: int, status: ClusterStatus) -> None:
    item = update(size, status=status)
    refiner = Refiner({item.cluster_id: "r"})
    run = runner(refiner, [item])
    assert run.run() == [] and refiner.calls == 0 and run.committed == {CHANGES: {}}


def test_no_patch_declines_with_the_reason_and_writes_nothing() -> None:
    item = update(3)
    run = runner(Refiner({item.cluster_id: "no:a person labelled a member safe"}), [item])
    (outcome,) = run.run()
    assert outcome == Decline(item, "a person labelled a member safe")
    assert run.committed == {CHANGES: {}}


def test_a_cluster_the_base_already_blocks_is_declined_as_covered() -> None:
    item = update(3)
    run = runner(Refiner({item.cluster_id: "covered:the oracle already blocks it"}), [item])
    (outcome,) = run.run()
    assert outcome == Decline(item, "the oracle already blocks it", covered=True)
    assert run.committed == {CHANGES: {}}


def test_a_patch_carries_its_derived_id_and_the_cluster_and_records_its_change() -> None:
    item = update(3)
    run = runner(Refiner({item.cluster_id: "r"}), [item])
    (outcome,) = run.run()
    assert isinstance(outcome, Propose)
    patch = outcome.patch
    assert patch.patch_id == patch_id_for(item.cluster_id, item.size, GENESIS.digest)
    assert patch.cluster_ids == (item.cluster_id,)
    assert patch.finding_ids == tuple(item.sample_finding_ids)
    key = change_key(patch.base_digest, patch.target_digest)
    assert run.committed == {CHANGES: {key: patch.patch_id}}


def test_a_grown_cluster_with_the_same_change_is_declined_as_a_duplicate() -> None:
    first = update(3)
    grown = update(4, first.cluster_id)
    run = runner(Refiner({first.cluster_id: "r"}), [first, grown])
    proposal, declined = run.run()
    assert isinstance(proposal, Propose) and isinstance(declined, Decline)
    assert declined.duplicate
    assert declined.reason == f"patch {proposal.patch.patch_id} already proposes this change"


def test_a_redelivered_update_proposes_the_same_patch_again_and_writes_nothing_new() -> None:
    item = update(3)
    run = runner(Refiner({item.cluster_id: "r"}), [item, item])
    first, again = run.run()
    assert isinstance(first, Propose) and isinstance(again, Propose)
    assert first.patch == again.patch
    assert len(run.committed[CHANGES]) == 1


def test_a_moved_base_proposes_a_new_patch_for_its_new_change() -> None:
    item = update(3)
    refiner = Refiner({item.cluster_id: "r"})
    run = runner(refiner, [item])
    (first,) = run.run()
    assert isinstance(first, Propose)
    refiner.base, refiner.rules[item.cluster_id] = first.target, "r2"
    run.send(item)
    (_, moved) = run.run()
    assert isinstance(moved, Propose)
    assert (
        moved.patch.patch_id
        == patch_id_for(item.cluster_id, item.size, first.target.digest)
        != first.patch.patch_id
    )
    assert len(run.committed[CHANGES]) == 2


@pytest.mark.parametrize("delivered", [False, True])
def test_a_crash_anywhere_proposes_each_change_under_one_patch_id(delivered: bool) -> None:
    """The changes table is a fold of the patches topic: it survives a crash with the patches."""
    a, b = update(3), update(3)
    inputs = [a, b, update(4, a.cluster_id), update(5, b.cluster_id), a]
    rules = {a.cluster_id: "ra", b.cluster_id: "rb"}
    clean = runner(Refiner(rules), inputs)
    expected = {o.patch.patch_id for o in proposed(clean.run())}
    assert len(expected) == 2
    for offset in range(len(inputs)):
        run = runner(Refiner(rules), inputs)
        run.commit_every = 2
        run.run(until=offset + 1)
        run.crash(delivered=delivered, changelog=delivered)
        run.run()
        run.commit()
        patches = proposed(run.sink)
        assert {o.patch.patch_id for o in patches} == expected, offset
        by_change = {(o.patch.base_digest, o.patch.target_digest) for o in patches}
        assert len(by_change) == len(expected)
