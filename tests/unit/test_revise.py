"""The revise-depth rule (alignment_flywheel.enforcement.revise): a chain's depth counts its
REVISE verdicts; a resubmission is at depth 1 at least."""

from __future__ import annotations

import uuid

from alignment_flywheel.enforcement.revise import ReviseChains, revise_depth, revisions_spent
from alignment_flywheel.events import Decision


def test_the_depth_grows_from_what_the_parent_spent() -> None:
    assert revise_depth(False) == 0
    assert revise_depth(True) == 1
    assert revise_depth(True, parent_spent=2) == 2


def test_only_a_revise_is_spent() -> None:
    assert revisions_spent(1, Decision.REVISE) == 2
    for decision in (Decision.ALLOW, Decision.BLOCK, Decision.ESCALATE):
        assert revisions_spent(1, decision) == 1


def test_a_store_keeps_only_what_rises_above_the_floor() -> None:
    store: dict[str, int] = {}
    chains = ReviseChains(store)
    root, child, grandchild = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert chains.depth_under(None) == 0
    assert not chains.record(root, 0, Decision.REVISE)
    assert chains.depth_under(root) == 1
    assert chains.record(child, 1, Decision.REVISE)
    assert chains.depth_under(child) == 2
    assert chains.record(grandchild, 2, Decision.ALLOW)
    assert store == {str(child): 2, str(grandchild): 2}
    assert chains.depth_under(uuid.uuid4()) == 1
