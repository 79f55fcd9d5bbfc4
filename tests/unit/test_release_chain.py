"""The release controller stages the longest chain of approved patches from the stable digest:
patches proposed on top of each other are released together, and none is left behind."""

from __future__ import annotations

from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.processors.release import chain_tip
from tests.support.oracles import artifact_doc, rule

GENESIS = build_artifact(artifact_doc(rule("noop", "false")))


def on(base: OracleArtifact, name: str) -> tuple[Patch, OracleArtifact]:
    operation = {"op": "add_rule", "rule": rule(name, "true", tools=[f"{name}.x"])}
    return propose_patch(base, parse_operations([operation]), author="t", rationale=name)


def test_the_tip_of_the_longest_approved_chain_is_staged() -> None:
    a, a_target = on(GENESIS, "a")
    b, b_target = on(a_target, "b")
    c, _ = on(b_target, "c")
    lone, _ = on(GENESIS, "lone")
    patches = [lone, a, b, c]
    assert chain_tip(GENESIS.digest, patches, lambda p: True) == c
    # an unapproved link ends the chain before it; the rest waits, nothing is skipped over it
    assert chain_tip(GENESIS.digest, patches, lambda p: p != b) == lone
    assert chain_tip(GENESIS.digest, patches, lambda p: p not in (b, lone)) == a
    assert chain_tip(a_target.digest, patches, lambda p: True) == c
    assert chain_tip(GENESIS.digest, patches, lambda p: False) is None


def test_a_patch_proposed_on_an_old_stable_is_not_staged_on_the_new_one() -> None:
    a, a_target = on(GENESIS, "a")
    stranded, _ = on(GENESIS, "stranded")
    assert chain_tip(a_target.digest, [a, stranded], lambda p: True) is None
