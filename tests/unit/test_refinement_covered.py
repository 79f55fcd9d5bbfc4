"""The refinement shell's rule for covered updates, without a broker.

An update declined because the tip of a non-empty chain already blocks every member relies on
patches not yet stable; when that tip changes it is refined again (the shell's module rules).
The shell is built as the worker builds it (its faust app is never started) with a stand-in
refinement in its core and a follower that is never started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement import build_policy
from alignment_flywheel.events import ClusterUpdated
from alignment_flywheel.governance.refinement import NoPatch, Refined
from alignment_flywheel.governance.refinement_core import RefinementCore
from alignment_flywheel.governance.triage import ClusterState, cluster_update, violation_of
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.patches import parse_operations, propose_patch
from alignment_flywheel.processors.refinement import Link, Refinement
from alignment_flywheel.release.follower import ReleaseFollower
from tests.support.governance import finding, verification
from tests.support.oracles import artifact_doc, rule

GENESIS = build_artifact(artifact_doc(rule("noop", "false")))
POLICY = build_policy(read_document(DEFAULT_RISK_POLICY))


def update(command: str) -> ClusterUpdated:
    found = finding("shell.exec", {"cmd": command})
    made = cluster_update(ClusterState.start(violation_of(found, verification(found))), "triage")
    return made.model_copy(update={"size": 3})


class Stand:
    """The shell's refinement stand-in: declines every update, ``covered`` while ``covering``."""

    def __init__(self) -> None:
        self.calls: list[ClusterUpdated] = []
        self.covering = True

    def __call__(self, item: ClusterUpdated) -> Refined | NoPatch:
        self.calls.append(item)
        return NoPatch("the oracle already blocks every member", covered=self.covering)


def offline(factory: Callable[..., Settings]) -> Settings:
    """Settings for a cluster nobody connects to (the shell is never started)."""
    return factory(bootstrap_servers="127.0.0.1:9", kafka_username="u", kafka_password="p")


def shell_with_chain(settings: Settings) -> tuple[Refinement, Stand, Link]:
    """A refinement shell whose chain holds one patch not yet stable."""
    worker = Refinement(settings, ReleaseFollower(settings, GENESIS), POLICY, min_members=1)
    stand = Stand()
    worker._core = RefinementCore(stand, min_members=1)
    operation = {"op": "add_rule", "rule": rule("chmod", "true", tools=["shell.exec"])}
    patch, target = propose_patch(GENESIS, parse_operations([operation]), author="t", rationale="")
    link = Link(update("chmod -R 777 /srv"), patch, target)
    worker.chain.append(link)
    return worker, stand, link


def test_a_covered_update_is_refined_again_when_the_patch_covering_it_is_rolled_back(
    settings_factory: Callable[..., Settings],
) -> None:
    worker, stand, link = shell_with_chain(offline(settings_factory))
    covered = update("chmod -R 777 /home")
    asyncio.run(worker._propose(covered))
    assert worker.covered == {covered.cluster_id: (covered, link.target.digest)}

    worker.follower.rolled_back.add(link.target.digest)
    stand.covering = False
    asyncio.run(worker._settle())

    assert worker.chain == []
    assert stand.calls == [covered, covered]
    assert worker.covered == {}


def test_a_covered_update_is_not_refined_again_while_its_tip_holds(
    settings_factory: Callable[..., Settings],
) -> None:
    worker, stand, link = shell_with_chain(offline(settings_factory))
    covered = update("chmod -R 777 /home")
    asyncio.run(worker._propose(covered))
    asyncio.run(worker._settle())
    assert worker.chain == [link]
    assert stand.calls == [covered]
    assert covered.cluster_id in worker.covered


def test_an_update_the_stable_oracle_covers_is_settled(
    settings_factory: Callable[..., Settings],
) -> None:
    worker, stand, _ = shell_with_chain(offline(settings_factory))
    worker.chain.clear()
    asyncio.run(worker._propose(update("chmod -R 777 /home")))
    asyncio.run(worker._settle())
    assert worker.covered == {} and len(stand.calls) == 1
