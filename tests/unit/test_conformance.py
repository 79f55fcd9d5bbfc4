"""The shipped oracle and risk policy against the conformance cases in tests/conformance/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from alignment_flywheel.enforcement import Enforcer, build_enforcer
from alignment_flywheel.events import Decision
from tests.support.conformance import decided

CASES_DIR = Path(__file__).parents[1] / "conformance"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


@pytest.fixture(scope="module")
def enforcer(settings_factory: Any) -> Enforcer:
    return build_enforcer(settings_factory())


@pytest.fixture(scope="module")
def settings_factory(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from alignment_flywheel.config import load_settings  # noqa: PLC0415

    return lambda: load_settings(state_dir=tmp_path_factory.mktemp("state"))


def test_there_are_cases_for_every_decision_and_tier() -> None:
    cases = [param.values[0] for param in _cases()]
    assert {c["decision"] for c in cases} == {d.value for d in Decision}
    assert {c["tier"] for c in cases if "tier" in c} == {
        "critical",
        "elevated",
        "sandbox",
        "standard",
    }


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict[str, Any], enforcer: Enforcer) -> None:
    verdict = decided(case, enforcer)
    assert verdict.oracle_digest == enforcer.oracle.digest
    assert verdict.policy_version == enforcer.policy.version
