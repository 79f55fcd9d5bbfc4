"""The auto-approver's restart rules on its pure core, with the in-memory runner (no broker)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

import pytest

from alignment_flywheel.events import Event, PatchApproved, RegressionEvidence
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.autoapprove_core import AutoApproveCore
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier, human_rejection
from tests.support.memory_runner import MemoryRunner
from tests.support.signing import BASE, NOW, Keyring, approvals, make_patch

CRASHES = list(itertools.product([False, True], repeat=2))
RING = Keyring()
APPROVER = AutoApprover([RING["alice"], RING["bob"]], "ci/auto-approver")
Signed = tuple[uuid.UUID, str, str, bytes]


def evidence(passed: bool) -> RegressionEvidence:
    return RegressionEvidence(
        cases=10,
        expected_blocked=3,
        blocked=3 if passed else 2,
        benign=7,
        false_positives=0,
        false_positive_rate=0.0,
        labelled=0,
        labels_kept=0,
        passed=passed,
        report="r",
    )


def runner(events: Sequence[Event], commit_every: int = 1) -> MemoryRunner[Event, PatchApproved]:
    return MemoryRunner(lambda: AutoApproveCore(APPROVER), events, commit_every=commit_every)


def signed(events: Sequence[PatchApproved]) -> list[Signed]:
    """What the verifier counts of each approval: patch, key, role, signature."""
    return [(a.patch_id, a.key_id, a.role, a.signature) for a in events]


def passing(count: int) -> list[Patch]:
    return [make_patch(regression=evidence(True)) for _ in range(count)]


def test_a_passing_patch_gets_one_approval_per_key_in_key_order() -> None:
    (patch,) = passing(1)
    failing = make_patch(regression=evidence(False))
    run = runner([failing.to_event("r"), make_patch().to_event("r"), patch.to_event("r")])
    emitted = run.run()
    assert [(a.patch_id, a.role, a.automatic) for a in emitted] == [
        (patch.patch_id, "approver", True)
    ] * 2
    assert [a.key_id for a in emitted] == [
        a.key_id for a in approvals(RING, patch, [("alice", "a"), ("bob", "a")])
    ]
    assert run.committed == {}


def test_its_own_approvals_and_rejections_read_back_emit_nothing() -> None:
    (patch,) = passing(1)
    emitted = runner([patch.to_event("r")]).run()
    rejection = human_rejection(patch.patch_id, "no", rejected_by="carol")
    assert runner([*emitted, rejection]).run() == []


def test_a_redelivered_proposal_gives_the_same_signatures_which_count_once() -> None:
    (patch,) = passing(1)
    proposed = patch.to_event("refinement")
    emitted = runner([proposed, proposed]).run()
    assert signed(emitted[:2]) == signed(emitted[2:])
    author = approvals(RING, patch, [("refinement", "author")])
    verifier = PatchVerifier(RING.root().root, OracleHead(BASE.version, BASE.digest))
    verified = verifier.verify(patch, author + emitted, NOW)
    assert len(verified.signers["approver"]) == 2


@pytest.mark.parametrize(("delivered", "changelog"), CRASHES)
def test_a_crash_anywhere_loses_no_approval_and_repeats_only_the_same_signatures(
    delivered: bool, changelog: bool
) -> None:
    events = [p.to_event("refinement") for p in passing(4)]
    expected = signed(runner(events).run())
    for offset in range(len(events)):
        run = runner(events, commit_every=3)
        run.run(until=offset + 1)
        repeated = signed(run.uncommitted) if delivered else []
        run.crash(delivered=delivered, changelog=changelog)
        run.run()
        run.commit()
        sent = signed(run.sink)
        assert list(dict.fromkeys(sent)) == expected, (offset, delivered, changelog)
        assert len(sent) == len(expected) + len(repeated)
