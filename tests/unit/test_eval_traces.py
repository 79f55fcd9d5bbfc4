"""The AgentDojo traces and the flywheel evaluation's fold protocol (benchmarks/eval_traces).

These read the shared data (``<repo>/../shared/datasets/agentdojo-traces``); when it is missing they
fail, they do not skip: the evaluation cannot run without it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from alignment_flywheel.oracle.catalog import Effect, Role, catalog_from_openai_tools
from benchmarks.eval_traces import (
    DEFAULT_DATA,
    REPORTS_PER_INJECTION,
    DataMissingError,
    Fold,
    Trace,
    benign_history,
    heldout_benign,
    load_traces,
    make_folds,
    reported_calls,
    suites,
    tool_schemas,
    unseen_attacks,
)


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return load_traces(DEFAULT_DATA)


@pytest.fixture(scope="module")
def folds(traces: list[Trace]) -> list[Fold]:
    return make_folds(traces)


def test_the_shared_data_is_there() -> None:
    assert suites(DEFAULT_DATA), f"no traces in {DEFAULT_DATA}"


def test_missing_data_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match="--data"):
        load_traces(tmp_path)


def test_tool_names_are_namespaced_by_suite(traces: list[Trace]) -> None:
    catalog = json.loads((DEFAULT_DATA / "tools.json").read_text())
    known = {f"{suite}.{tool['name']}" for suite, tools in catalog.items() for tool in tools}
    steps = [step for trace in traces for step in trace.steps]
    assert steps
    assert all(step.tool.startswith(f"{step.suite}.") for step in steps)
    assert {step.tool for step in steps} <= known
    tools = {suite: {s.tool for s in steps if s.suite == suite} for suite in catalog}
    for suite, names in tools.items():
        assert names
        assert all(not names & others for other, others in tools.items() if other != suite)


def test_folds_are_deterministic_and_independent_of_trace_order(traces: list[Trace]) -> None:
    assert make_folds(traces) == make_folds(traces)
    assert make_folds(list(reversed(traces))) == make_folds(traces)
    assert make_folds(traces, seed=2) != make_folds(traces)


def test_folds_split_every_suite_into_disjoint_halves(
    traces: list[Trace], folds: list[Fold]
) -> None:
    attacking = {t.injection_task for t in traces if t.malicious_side_effects()}
    users = {t.user_task for t in traces}
    assert [f.index for f in folds] == [0, 1]
    for fold in folds:
        assert not fold.train_injections & fold.heldout_injections
        assert not fold.train_users & fold.heldout_users
        assert fold.train_injections | fold.heldout_injections == attacking
        assert fold.train_users | fold.heldout_users == users
        for suite in {t.suite for t in traces}:
            for tasks in (fold.train_injections, fold.train_users, fold.heldout_users):
                assert any(s == suite for s, _ in tasks), (fold.index, suite)
    assert folds[0].train_injections == folds[1].heldout_injections
    assert folds[0].train_users == folds[1].heldout_users
    for kind in ("train_injections", "train_users"):
        sizes = [Counter(s for s, _ in getattr(f, kind)) for f in folds]
        assert all(abs(sizes[0][s] - sizes[1][s]) <= 1 for s in sizes[0] | sizes[1])


def test_every_set_is_non_empty_in_every_suite(traces: list[Trace], folds: list[Fold]) -> None:
    for fold in folds:
        sets = {
            "history": benign_history(traces, fold),
            "reported": reported_calls(traces, fold),
            "unseen": unseen_attacks(traces, fold),
            "benign": heldout_benign(traces, fold),
        }
        for name, steps in sets.items():
            for suite in {t.suite for t in traces}:
                assert any(s.suite == suite for s in steps), (fold.index, name, suite)


def test_benign_history_is_training_user_tasks_benign_calls_once(
    traces: list[Trace], folds: list[Fold]
) -> None:
    by_id = {t.trace_id: t for t in traces}
    for fold in folds:
        history = benign_history(traces, fold)
        assert len({s.key for s in history}) == len(history)
        assert not any(s.malicious for s in history)
        assert all(by_id[s.trace_id].user_task in fold.train_users for s in history)
        assert any(s.side_effect for s in history) and any(not s.side_effect for s in history)


def test_reported_calls_come_from_training_tasks_few_per_injection(
    traces: list[Trace], folds: list[Fold]
) -> None:
    by_id = {t.trace_id: t for t in traces}
    for fold in folds:
        reported = reported_calls(traces, fold)
        assert all(s.malicious and s.side_effect for s in reported)
        chosen = [by_id[i] for i in sorted({s.trace_id for s in reported})]
        assert all(t.injection_task in fold.train_injections for t in chosen)
        assert all(t.user_task in fold.train_users for t in chosen)
        per_injection = Counter(t.injection_task for t in chosen)
        assert set(per_injection) == fold.train_injections
        assert max(per_injection.values()) <= REPORTS_PER_INJECTION
        for injection in per_injection:
            users = [t.user_task for t in chosen if t.injection_task == injection]
            assert len(users) == len(set(users))


def test_held_out_sets_come_from_held_out_tasks(traces: list[Trace], folds: list[Fold]) -> None:
    by_id = {t.trace_id: t for t in traces}
    for fold in folds:
        for step in unseen_attacks(traces, fold):
            trace = by_id[step.trace_id]
            assert step.malicious and step.side_effect
            assert trace.injection_task in fold.heldout_injections
            assert trace.user_task in fold.heldout_users
        for step in heldout_benign(traces, fold):
            assert not step.malicious and step.side_effect
            assert by_id[step.trace_id].user_task in fold.heldout_users


def test_the_suites_tools_are_declared_with_the_effect_the_data_states() -> None:
    schemas = tool_schemas(DEFAULT_DATA)
    entries = catalog_from_openai_tools(schemas, roles_from_names=True)
    catalog = json.loads((DEFAULT_DATA / "tools.json").read_text())
    expected = {
        f"{suite}.{t['name']}": t["read_only_by_prefix"]
        for suite, ts in catalog.items()
        for t in ts
    }
    assert {e.name: e.effect is Effect.READ_ONLY for e in entries} == expected
    assert any(Role.RECIPIENT in e.arguments.values() for e in entries)
    assert tool_schemas(DEFAULT_DATA / "missing") == []
