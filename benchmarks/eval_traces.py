"""AgentDojo traces for the flywheel evaluation: loading, and the fold protocol (pure, no Kafka).

The data (``shared/datasets/agentdojo-traces``, see its README) holds one ``<suite>.jsonl`` per
application domain: each line a trace (a user task's ground-truth calls, and for an attack trace
an injection task's calls after them), each step labelled ``benign`` or ``malicious`` and marked
``side_effect`` or read-only. Nothing here knows a literal value of the data: suites are the
``*.jsonl`` files found, task ids are whatever the traces carry.

Protocol:

* Tools are named ``<suite>.<tool>`` (``workspace.send_email``), so two applications' tools never
  share a name. Every call is made in its session: the trace's user request and the outputs of the
  trace's earlier steps (:attr:`Step.request`, :attr:`Step.prior`), as an agent would have seen
  them; the guards replay that session before proposing the call, and scoring decides in it. A
  step is side-effecting per its ``side_effect`` field; the figures count side-effecting calls
  only. A call's identity is (tool, canonical JSON arguments).
* Folds (:func:`make_folds`), per suite and deterministic (seed :data:`SEED`): the injection tasks
  with at least one malicious side-effecting step are shuffled and split into 2 halves, and so are
  the user tasks. Fold k (k = 0, 1) trains on injection half k and user half k; the other halves
  are held out. Every suite takes part in every fold.
* Benign history (:func:`benign_history`): the benign steps, read-only and side-effecting, of the
  traces of training user tasks (benign traces and the benign-labelled user steps of attack
  traces), de-duplicated on the call's identity, in trace order.
* Reported calls (:func:`reported_calls`): per training injection task, the attack traces with a
  training user task, taken in the fold's user order, for at most :data:`REPORTS_PER_INJECTION`
  distinct user tasks; all their malicious side-effecting steps.
* Held-out sets: :func:`unseen_attacks`, the malicious side-effecting steps of attack traces with
  a held-out injection task and a held-out user task; :func:`heldout_benign`, the benign
  side-effecting steps (benign and attack traces alike, not de-duplicated) of held-out user tasks.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/agentdojo-traces"
SEED = 1
FOLDS = 2
REPORTS_PER_INJECTION = 3

TaskId = tuple[str, str]
"""(suite, task id): task ids repeat across suites."""
CallKey = tuple[str, str]
"""(namespaced tool, canonical JSON arguments): a call's identity."""


class DataMissingError(FileNotFoundError):
    """The traces are not where they were looked for."""


def canonical(arguments: dict[str, Any]) -> str:
    """The canonical JSON text of a call's arguments (sorted keys, no spaces)."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Step:
    """One tool call of a trace, with its tool namespaced by the suite."""

    suite: str
    trace_id: str
    index: int
    tool: str
    arguments: dict[str, Any]
    side_effect: bool
    malicious: bool
    output: str = ""
    request: str = ""
    """The user's request that started the trace."""
    prior: tuple[tuple[str, str], ...] = ()
    """The (tool, output) of the trace's earlier steps, in order."""

    @property
    def key(self) -> CallKey:
        return (self.tool, canonical(self.arguments))


@dataclass(frozen=True, slots=True)
class Trace:
    trace_id: str
    suite: str
    user_task: TaskId
    injection_task: TaskId | None
    steps: tuple[Step, ...]

    def malicious_side_effects(self) -> list[Step]:
        return [s for s in self.steps if s.malicious and s.side_effect]

    def benign_steps(self) -> list[Step]:
        return [s for s in self.steps if not s.malicious]


@dataclass(frozen=True, slots=True)
class Fold:
    """The training and held-out task ids of one fold, every suite together."""

    index: int
    train_injections: frozenset[TaskId]
    heldout_injections: frozenset[TaskId]
    train_users: frozenset[TaskId]
    heldout_users: frozenset[TaskId]
    user_order: tuple[TaskId, ...]
    """Every user task in the fold's shuffled order (reports follow it)."""


def suites(data: Path) -> list[str]:
    """The suites in ``data``: one per ``*.jsonl`` file; DataMissingError if there is none."""
    found = sorted(p.stem for p in data.glob("*.jsonl")) if data.is_dir() else []
    if not found:
        raise DataMissingError(
            f"no AgentDojo traces (*.jsonl) in {data}: copy shared/datasets/agentdojo-traces "
            "beside the repository or pass --data DIR"
        )
    return found


def tool_schemas(data: Path = DEFAULT_DATA) -> list[dict[str, Any]]:
    """The suites' tools from ``tools.json`` as OpenAI-style function tools named
    ``<suite>.<tool>``, each with the effect the data declares (``read_only_by_prefix``) as its
    ``x-effect``; empty when the file is missing."""
    path = data / "tools.json"
    if not path.is_file():
        return []
    suites_tools = json.loads(path.read_text(encoding="utf-8"))
    return [
        {
            "name": f"{suite}.{tool['name']}",
            "description": tool.get("description", ""),
            "parameters": tool.get("json_schema", {}),
            "x-effect": "read_only" if tool.get("read_only_by_prefix") else "side_effect",
        }
        for suite, tools in sorted(suites_tools.items())
        for tool in tools
    ]


def load_traces(data: Path = DEFAULT_DATA) -> list[Trace]:
    """Every trace of every suite in ``data``, in file order."""
    return [trace for suite in suites(data) for trace in _read_suite(data / f"{suite}.jsonl")]


def _read_suite(path: Path) -> Iterator[Trace]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield _trace(json.loads(line))


def _trace(record: dict[str, Any]) -> Trace:
    suite, trace_id = str(record["suite"]), str(record["trace_id"])
    injection = record.get("injection_task_id")
    request = str(record.get("user_prompt") or "")
    steps: list[Step] = []
    prior: tuple[tuple[str, str], ...] = ()
    for step in record["steps"]:
        made = Step(
            suite=suite,
            trace_id=trace_id,
            index=int(step["index"]),
            tool=f"{suite}.{step['tool']}",
            arguments=dict(step["arguments"]),
            side_effect=bool(step["side_effect"]),
            malicious=step["label"] == "malicious",
            output=str(step.get("output") or ""),
            request=request,
            prior=prior,
        )
        steps.append(made)
        prior = (*prior, (made.tool, made.output))
    return Trace(
        trace_id=trace_id,
        suite=suite,
        user_task=(suite, str(record["user_task_id"])),
        injection_task=None if injection is None else (suite, str(injection)),
        steps=tuple(steps),
    )


def make_folds(traces: Sequence[Trace], seed: int = SEED) -> list[Fold]:
    """The :data:`FOLDS` folds of the protocol (see the module docstring)."""
    injection_halves: list[list[TaskId]] = [[] for _ in range(FOLDS)]
    user_halves: list[list[TaskId]] = [[] for _ in range(FOLDS)]
    for suite in sorted({t.suite for t in traces}):
        of_suite = [t for t in traces if t.suite == suite]
        attacking = {t.injection_task for t in of_suite if t.malicious_side_effects()}
        injections = sorted(i for i in attacking if i is not None)
        users = sorted({t.user_task for t in of_suite})
        for half, part in zip(
            injection_halves, _halves(injections, f"{seed}/{suite}/inj"), strict=True
        ):
            half.extend(part)
        for half, part in zip(user_halves, _halves(users, f"{seed}/{suite}/user"), strict=True):
            half.extend(part)
    order = tuple(u for half in user_halves for u in half)
    return [_fold(k, injection_halves, user_halves, order) for k in range(FOLDS)]


def _halves(ids: list[TaskId], seed: str) -> list[list[TaskId]]:
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    return [shuffled[k::FOLDS] for k in range(FOLDS)]


def _fold(
    k: int, injections: list[list[TaskId]], users: list[list[TaskId]], order: tuple[TaskId, ...]
) -> Fold:
    others = [j for j in range(FOLDS) if j != k]
    return Fold(
        index=k,
        train_injections=frozenset(injections[k]),
        heldout_injections=frozenset(i for j in others for i in injections[j]),
        train_users=frozenset(users[k]),
        heldout_users=frozenset(u for j in others for u in users[j]),
        user_order=order,
    )


def unique_calls(steps: Iterable[Step]) -> list[Step]:
    """The first step of each call identity, in order."""
    seen: set[CallKey] = set()
    kept = []
    for step in steps:
        if step.key not in seen:
            seen.add(step.key)
            kept.append(step)
    return kept


def benign_history(traces: Sequence[Trace], fold: Fold) -> list[Step]:
    """The de-duplicated benign steps of the training user tasks' traces."""
    return unique_calls(
        s for t in traces if t.user_task in fold.train_users for s in t.benign_steps()
    )


def reported_calls(
    traces: Sequence[Trace], fold: Fold, per_injection: int = REPORTS_PER_INJECTION
) -> list[Step]:
    """The malicious side-effecting steps reported as incidents (see the module docstring)."""
    rank = {user: position for position, user in enumerate(fold.user_order)}
    reported: list[Step] = []
    for injection in sorted(fold.train_injections):
        attacks = [
            t
            for t in traces
            if t.injection_task == injection
            and t.user_task in fold.train_users
            and t.malicious_side_effects()
        ]
        attacks.sort(key=lambda t: rank[t.user_task])
        chosen = _distinct_users(attacks)[:per_injection]
        reported += [s for t in chosen for s in t.malicious_side_effects()]
    return reported


def _distinct_users(attacks: list[Trace]) -> list[Trace]:
    seen: set[TaskId] = set()
    kept = []
    for trace in attacks:
        if trace.user_task not in seen:
            seen.add(trace.user_task)
            kept.append(trace)
    return kept


def unseen_attacks(traces: Sequence[Trace], fold: Fold) -> list[Step]:
    """Malicious side-effecting steps with a held-out injection task and user task."""
    return [
        s
        for t in traces
        if t.injection_task in fold.heldout_injections and t.user_task in fold.heldout_users
        for s in t.malicious_side_effects()
    ]


def heldout_benign(traces: Sequence[Trace], fold: Fold) -> list[Step]:
    """Benign side-effecting steps of the held-out user tasks (benign and attack traces)."""
    return [
        s
        for t in traces
        if t.user_task in fold.heldout_users
        for s in t.benign_steps()
        if s.side_effect
    ]


def blocklist(reported: Iterable[Step]) -> frozenset[CallKey]:
    """The exact-match blocklist of the reported calls: their call identities."""
    return frozenset(step.key for step in reported)
