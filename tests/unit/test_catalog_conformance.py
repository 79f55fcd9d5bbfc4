"""Named sets, effect classes and roles against tests/conformance/catalog/ (its own artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.oracle.artifact import load_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.conformance import decided

CATALOG_DIR = Path(__file__).parents[1] / "conformance" / "catalog"


def _cases() -> list[Any]:
    cases = yaml.safe_load((CATALOG_DIR / "cases.yaml").read_text())
    return [pytest.param(case, id=case["name"]) for case in cases]


@pytest.fixture(scope="module")
def enforcer() -> Enforcer:
    oracle = RuleOracle(load_artifact(CATALOG_DIR / "oracle.yaml"))
    return Enforcer(oracle, build_policy(read_document(DEFAULT_RISK_POLICY)))


def test_the_artifact_uses_every_new_form() -> None:
    spec = load_artifact(CATALOG_DIR / "oracle.yaml").spec
    assert spec.data and spec.tools and any(not isinstance(t, str) for t in spec.tools)
    text = "\n".join(rule.when for rule in spec.rules)
    assert all(name in text for name in ("data.", "effect", "roles"))


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict[str, Any], enforcer: Enforcer) -> None:
    decided(case, enforcer)
