"""The fast path against the CEL engine: on every conformance case, and on generated proposals
(hypothesis, derandomized: 200 examples of 50 proposals, so at least 10,000 proposals per rule
shape, each proposal evaluated against every shape at once). The first difference fails the test
and is printed: the rule, its ``when``, the proposal and both answers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cel
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact, load_artifact
from alignment_flywheel.oracle.contract import UnknownToolError
from alignment_flywheel.oracle.fastpath import plain_arguments
from alignment_flywheel.oracle.loader import DEFAULT_ORACLE
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.conformance import proposal_of
from tests.support.fastpath_shapes import (
    CONFORMANCE,
    cel_context,
    cel_status,
    proposals,
    shapes_document,
    vocabulary,
)

BATCH = 50
MIN_FAST_SHARE = 0.1
EXAMPLES = int(os.environ.get("FLYWHEEL_FASTPATH_EXAMPLES", "200"))
CATALOG = CONFORMANCE / "catalog" / "oracle.yaml"


def _same(
    artifact: OracleArtifact,
    fast: RuleOracle,
    slow: RuleOracle,
    proposal: Proposal,
    session: SessionContext | None,
) -> tuple[int, int]:
    """Fast and CEL oracles give the same signal, and each rule agrees with CEL alone. Returns
    how many of the rules the fast path decided itself, and how many there were."""
    if not _known(slow, proposal):
        with pytest.raises(UnknownToolError):
            fast.evaluate(proposal, session)
        return 0, 0
    got, want = fast.evaluate(proposal, session), slow.evaluate(proposal, session)
    where = f"tool {proposal.tool} arguments {proposal.arguments} session {session}"
    if got != want:
        ours, theirs = set(got.evidence), set(want.evidence)
        pytest.fail(f"fast path {ours - theirs} != CEL {theirs - ours} on {where}")
    outcome = {s.rule_id: s.kind.value for s in got.evidence}
    tool_rules = fast.tool_rules(proposal.tool)
    context = cel_context(proposal, dict(tool_rules.fixed), session)
    for rule in tool_rules.rules:
        expected = cel_status(_pure(rule.spec.when), context)
        seen = outcome.get(rule.spec.id)
        fast_status = {"RULE_MATCH": True, "RULE_ERROR": "error", None: False}[seen]
        assert fast_status == expected, (
            f"rule {rule.spec.id} ({rule.spec.when}): fast path {fast_status}, CEL {expected}"
            f" on {where}"
        )
    return _decided_fast(fast, proposal, session), len(tool_rules.rules)


def _decided_fast(fast: RuleOracle, proposal: Proposal, session: SessionContext | None) -> int:
    compiled = fast.tool_rules(proposal.tool).compiled
    arguments = plain_arguments(proposal.arguments)
    if compiled is None or arguments is None:
        return 0
    hits = compiled.function(proposal, arguments, session)
    return len(fast.tool_rules(proposal.tool).rules) - sum(h < 0 for h in hits)


def _known(oracle: RuleOracle, proposal: Proposal) -> bool:
    try:
        oracle.evaluate(proposal)
    except UnknownToolError:
        return False
    return True


_PROGRAMS: dict[str, cel.Program] = {}


def _pure(source: str) -> cel.Program:
    program = _PROGRAMS.get(source)
    if program is None:
        program = _PROGRAMS[source] = cel.compile(source)
    return program


def _oracles(artifact: OracleArtifact) -> tuple[RuleOracle, RuleOracle]:
    return RuleOracle(artifact), RuleOracle(artifact, fast=False)


def _conformance_cases() -> list[Any]:
    cases = []
    for path in sorted(CONFORMANCE.glob("*.yaml")):
        cases += [
            pytest.param(DEFAULT_ORACLE, c, id=c["name"]) for c in yaml.safe_load(path.read_text())
        ]
    catalog = yaml.safe_load((CONFORMANCE / "catalog" / "cases.yaml").read_text())
    cases += [pytest.param(CATALOG, c, id=f"catalog: {c['name']}") for c in catalog]
    return cases


@pytest.mark.parametrize(("source", "case"), _conformance_cases())
def test_conformance_case(source: Path, case: dict[str, Any]) -> None:
    artifact = load_artifact(source)
    fast, slow = _oracles(artifact)
    _same(artifact, fast, slow, proposal_of(case), None)


SHAPES = build_artifact(shapes_document())
SHAPES_ORACLES = _oracles(SHAPES)
KEYS, LITERALS = vocabulary(shapes_document())
CATALOG_ARTIFACT = load_artifact(CATALOG)
CATALOG_ORACLES = _oracles(CATALOG_ARTIFACT)
CATALOG_TOOLS = sorted(
    {
        (item if isinstance(item, str) else item.name).replace("*", "x")
        for item in CATALOG_ARTIFACT.spec.tools or ()
    }
    | {"calendar.create"}
)


DIFFERENTIAL = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate],
)
"""Every generated differential test: reproducible, no deadline, no example database."""


def _batches(proposal: st.SearchStrategy[tuple[Proposal, Any]]) -> st.SearchStrategy[Any]:
    """Lists of exactly :data:`BATCH` generated proposals (each example checks a batch)."""
    return st.lists(proposal, min_size=BATCH, max_size=BATCH)


def test_every_shape_is_there_and_most_run_on_the_fast_path() -> None:
    compiled = SHAPES_ORACLES[0].tool_rules("shell.exec").compiled
    assert compiled is not None
    assert len(SHAPES.rules) >= 60
    assert len(compiled.on_cel) <= len(SHAPES.rules) // 8, compiled.reasons


@DIFFERENTIAL
@given(_batches(proposals(KEYS, LITERALS, ["shell.exec", "sql.query", "svc1.call"])))
def test_generated_proposals_on_every_shape(batch: list[tuple[Proposal, Any]]) -> None:
    fast, slow = SHAPES_ORACLES
    counts = [_same(SHAPES, fast, slow, proposal, session) for proposal, session in batch]
    _reaches_the_fast_path(counts)


def _reaches_the_fast_path(counts: list[tuple[int, int]]) -> None:
    """The generated inputs exercise the translation, not only the fallback (about 40% of the
    rule evaluations are decided by the fast path; the rest miss a key or a type)."""
    decided, total = (sum(c[i] for c in counts) for i in (0, 1))
    assert decided >= MIN_FAST_SHARE * total, f"fast path decided {decided} of {total}"


@DIFFERENTIAL
@given(_batches(proposals([*KEYS, "iban", "id", "reason", "url"], LITERALS, CATALOG_TOOLS)))
def test_generated_proposals_on_the_catalog_artifact(batch: list[tuple[Proposal, Any]]) -> None:
    fast, slow = CATALOG_ORACLES
    counts = [_same(CATALOG_ARTIFACT, fast, slow, p, session) for p, session in batch]
    _reaches_the_fast_path(counts)
