"""The replay engine: re-evaluate proposals under an oracle and diff against recorded verdicts.

Pure core, no Kafka: it works over iterables of :class:`Case` (a proposal, the decision recorded
for it, and its revise depth). Rules:

* :class:`Evaluator` decides through the enforcer (tier choice, oracle, risk policy, fail-closed
  rules), exactly as the gate does with ``revision_depth``. A decision is a pure function of the
  oracle-relevant input: tool, arguments text, risk context and revise depth, plus the proposer,
  session, reasoning and parent when a rule of the oracle reads one of them (or the oracle is not
  a rule oracle). Each distinct input is evaluated once per evaluator (memoised, bounded: the
  memo is cleared when it would exceed ``memo_size``).
* A verdict that failed closed only because the answer came after the policy's deadline (a slow
  host, not the oracle) is decided again, up to :data:`DEADLINE_RETRIES` times: replay judges the
  oracle, not the machine it runs on.
* With ``workers`` > 1 and a rule oracle, the distinct inputs of a batch are split: the calling
  process evaluates one share, ``workers - 1`` pool processes (each rebuilt from the oracle and
  policy documents, same digests; started by a fork server, so no client thread of the caller
  is forked) the others. Results are identical to evaluating in process.
* An input the enforcer refuses (:class:`~alignment_flywheel.errors.InvalidInputError`, e.g. a
  tool outside the oracle's catalog: the gate dead-letters it) is replayed as ``None`` with the
  reason, never an exception.
* :func:`flip_of` names a change: ``->escalate`` (any decision that becomes ESCALATE),
  ``allow->block``, ``block->allow``, or ``<before>-><after>`` for other changes; equal decisions
  are no flip.
* :class:`Tally` counts (baseline, replayed) decision pairs; :class:`Diff` adds flips by kind, by
  tool and by proposer, and a few examples of each kind. Both merge. The release controller
  (candidate against stable) and refinement's regression suite count with the same classes.

Speed: a replay allocates a few short-lived objects per record, and CPython's collector rescans
every live object at each full collection, so a large heap built before the replay (the oracle
log, the recorded verdicts) slows each record down. :func:`settle_heap`, called by
``flywheel replay`` once its set-up is done, moves what exists into the permanent generation
(``gc.freeze``), which the collector skips; the replay's own objects are collected as usual.
"""

from __future__ import annotations

import gc
import itertools
import json
import multiprocessing
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from alignment_flywheel.enforcement.policy import RiskPolicy, build_policy
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Decision, Proposal, RiskContext
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.rules import RuleOracle

MEMO_SIZE = 1_000_000
BATCH = 4096
MIN_POOL_BATCH = 256
EXAMPLES_PER_FLIP = 5
MAX_IDS = 100
DEADLINE_RETRIES = 3
IDENTITY_VARIABLES = frozenset({"proposer", "session", "reasoning", "parent"})
Key = tuple[Any, ...]
Outcome = tuple[Decision | None, str | None]
Flat = tuple[Any, ...]


class Decider(Protocol):
    """What the engine decides with: the enforcer (or anything deciding like it)."""

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict: ...


@dataclass(frozen=True, slots=True)
class Case:
    """A historical proposal, the decision recorded for it (None: none found), its revise depth."""

    proposal: Proposal
    recorded: Decision | None
    depth: int = 0


@dataclass(frozen=True, slots=True)
class Replayed:
    """The replayed decision of a case (None: the input was refused, ``refusal`` says why)."""

    case: Case
    decision: Decision | None
    refusal: str | None = None


def flip_of(before: Decision, after: Decision) -> str | None:
    """The name of a change of decision, or None when there is none."""
    if before is after:
        return None
    if after is Decision.ESCALATE:
        return "->escalate"
    return f"{before.value.lower()}->{after.value.lower()}"


@dataclass
class Tally:
    """Counts of (baseline, replayed) decision pairs."""

    pairs: Counter[tuple[Decision, Decision]] = field(default_factory=Counter)

    def add(self, before: Decision, after: Decision) -> None:
        self.pairs[(before, after)] += 1

    def merge(self, other: Tally) -> None:
        self.pairs.update(other.pairs)

    @property
    def total(self) -> int:
        return sum(self.pairs.values())

    @property
    def changed(self) -> int:
        return sum(n for (before, after), n in self.pairs.items() if before is not after)

    def before(self, decision: Decision) -> int:
        return sum(n for (b, _), n in self.pairs.items() if b is decision)

    def after(self, decision: Decision) -> int:
        return sum(n for (_, a), n in self.pairs.items() if a is decision)


@dataclass(frozen=True, slots=True)
class Example:
    proposal_id: str
    tool: str
    proposer: str
    before: str
    after: str


@dataclass
class Diff:
    """The verdict diff of a replay: the tally, flips by kind, tool and proposer, examples."""

    tally: Tally = field(default_factory=Tally)
    unrecorded: int = 0
    unrecorded_ids: list[str] = field(default_factory=list)
    """The ids of the first :data:`MAX_IDS` proposals without a recorded verdict."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    flips: Counter[str] = field(default_factory=Counter)
    by_tool: dict[str, Counter[str]] = field(default_factory=dict)
    by_proposer: dict[str, Counter[str]] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)

    @property
    def replayed(self) -> int:
        return self.tally.total + self.unrecorded + len(self.refused)

    def add(self, item: Replayed) -> None:
        before, after, proposal = item.case.recorded, item.decision, item.case.proposal
        if after is None:
            self.refused.append((str(proposal.proposal_id), item.refusal or "refused"))
            return
        if before is None:
            self.unrecorded += 1
            if len(self.unrecorded_ids) < MAX_IDS:
                self.unrecorded_ids.append(str(proposal.proposal_id))
            return
        self.tally.add(before, after)
        kind = flip_of(before, after)
        if kind is None:
            return
        self.flips[kind] += 1
        self.by_tool.setdefault(proposal.tool, Counter())[kind] += 1
        self.by_proposer.setdefault(proposal.proposer_id, Counter())[kind] += 1
        found = self.examples.setdefault(kind, [])
        if len(found) < EXAMPLES_PER_FLIP:
            pid = str(proposal.proposal_id)
            found.append(Example(pid, proposal.tool, proposal.proposer_id, before, after))

    def merge(self, other: Diff) -> None:
        self.tally.merge(other.tally)
        self.unrecorded += other.unrecorded
        self.unrecorded_ids += other.unrecorded_ids[: max(0, MAX_IDS - len(self.unrecorded_ids))]
        self.refused += other.refused
        self.flips.update(other.flips)
        for mine, theirs in ((self.by_tool, other.by_tool), (self.by_proposer, other.by_proposer)):
            for name, counts in theirs.items():
                mine.setdefault(name, Counter()).update(counts)
        for kind, examples in other.examples.items():
            found = self.examples.setdefault(kind, [])
            found += examples[: max(0, EXAMPLES_PER_FLIP - len(found))]


class Evaluator:
    """Memoised decisions of one decider (see the module rules). Not thread-safe."""

    def __init__(
        self,
        decider: Decider,
        *,
        oracle: Any = None,
        policy: RiskPolicy | None = None,
        workers: int = 1,
        memo_size: int = MEMO_SIZE,
    ) -> None:
        self.decider = decider
        oracle = oracle if oracle is not None else getattr(decider, "oracle", None)
        policy = policy if policy is not None else getattr(decider, "policy", None)
        self._identity = _identity_fields(oracle)
        self._memo: dict[Key, Outcome] = {}
        self._memo_size = memo_size
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self.hits = 0
        self.misses = 0
        if workers > 1 and isinstance(oracle, RuleOracle) and isinstance(policy, RiskPolicy):
            documents = (
                oracle.artifact.spec.model_dump(mode="json"),
                policy.spec.model_dump(mode="json"),
            )
            self._pool = ProcessPoolExecutor(
                workers - 1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker,
                initargs=documents,
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def forget(self) -> None:
        """Drop the memo."""
        self._memo.clear()

    def key(self, proposal: Proposal, depth: int) -> Key:
        """The oracle-relevant input of a decision (see the module rules)."""
        risk = proposal.risk
        base = (proposal.tool, proposal.arguments, risk.origin, risk.blast_radius,
                risk.proposer_confidence, risk.environment, depth)  # fmt: skip
        if not self._identity:
            return base
        parent = proposal.parent_proposal_id
        return (*base, proposal.proposer_id, proposal.session_id, proposal.reasoning, parent)

    def replay(self, cases: Iterable[Case]) -> Iterator[Replayed]:
        """Each case with its replayed decision, in order, evaluated in batches."""
        iterator = iter(cases)
        while batch := list(itertools.islice(iterator, BATCH)):
            yield from self._batch(batch)

    def decisions(self, proposals: Iterable[Proposal]) -> list[Decision | None]:
        """The replayed decision of each proposal at depth 0."""
        return [r.decision for r in self.replay(Case(p, None) for p in proposals)]

    def _batch(self, batch: Sequence[Case]) -> list[Replayed]:
        keys = [self.key(case.proposal, case.depth) for case in batch]
        memo = self._memo
        missing: dict[Key, Case] = {}
        for key, case in zip(keys, batch, strict=True):
            if key not in memo and key not in missing:
                missing[key] = case
        self.misses += len(missing)
        self.hits += len(batch) - len(missing)
        if len(memo) + len(missing) > self._memo_size:
            memo.clear()
        memo.update(zip(missing, self._evaluate(list(missing.values())), strict=True))
        return [Replayed(case, *memo[key]) for key, case in zip(keys, batch, strict=True)]

    def _evaluate(self, cases: list[Case]) -> list[Outcome]:
        if self._pool is None or len(cases) < MIN_POOL_BATCH:
            return [_decide(self.decider, c.proposal, c.depth) for c in cases]
        size = -(-len(cases) // self._workers)
        futures = [
            self._pool.submit(_worker_decide, [_flat(c) for c in cases[i : i + size]])
            for i in range(size, len(cases), size)
        ]
        mine = [_decide(self.decider, c.proposal, c.depth) for c in cases[:size]]
        return mine + [outcome for future in futures for outcome in future.result()]


def replay_diff(cases: Iterable[Case], evaluator: Evaluator) -> Diff:
    """The verdict diff of ``cases`` replayed with ``evaluator``: the engine's entry point."""
    diff = Diff()
    for item in evaluator.replay(cases):
        diff.add(item)
    return diff


def _decide(decider: Decider, proposal: Proposal, depth: int) -> Outcome:
    """The decision, decided again when it failed closed only because the host was slow."""
    try:
        for _ in range(DEADLINE_RETRIES):
            verdict = decider.decide(proposal, revision_depth=depth)
            if verdict.error is None or "over the deadline" not in verdict.error:
                break
    except InvalidInputError as exc:
        return None, str(exc)
    return verdict.decision, None


def _identity_fields(oracle: Any) -> bool:
    """True when a decision may depend on proposer, session, reasoning or parent."""
    if not isinstance(oracle, RuleOracle):
        return True
    return any(rule.expression.variables & IDENTITY_VARIABLES for rule in oracle.artifact.rules)


# --- pool workers ---------------------------------------------------------------------------------

_WORKER: list[Decider] = []
_RISKS: dict[Flat, RiskContext] = {}


def _start_worker(artifact: dict[str, Any], policy: dict[str, Any]) -> None:
    from alignment_flywheel.enforcement.enforcer import Enforcer  # noqa: PLC0415

    _WORKER[:] = [Enforcer(RuleOracle(build_artifact(artifact)), build_policy(policy))]


def _worker_decide(chunk: list[Flat]) -> list[Outcome]:
    decider = _WORKER[0]
    return [_decide(decider, *_unflat(flat)) for flat in chunk]


def _flat(case: Case) -> Flat:
    """A case as plain values: much cheaper to send to a worker than the model."""
    p, risk = case.proposal, case.proposal.risk
    return (p.proposal_id, p.proposer_id, p.session_id, p.tool, p.arguments, p.reasoning,
            p.parent_proposal_id, risk.origin, risk.proposer_confidence, risk.blast_radius,
            risk.environment, case.depth)  # fmt: skip


def _unflat(flat: Flat) -> tuple[Proposal, int]:
    """The proposal of :func:`_flat` as a read-only stand-in with the attributes the enforcer
    reads (the values were validated when the model was first built); the risk context, which
    repeats, is a real model, built once per worker."""
    pid, proposer, session, tool, arguments, reasoning, parent, *risk, depth = flat
    key = tuple(risk)
    context = _RISKS.get(key)
    if context is None:
        origin, confidence, radius, environment = risk
        context = _RISKS[key] = RiskContext(
            origin=origin, proposer_confidence=confidence, blast_radius=radius,
            environment=environment,
        )  # fmt: skip
    lite = _Lite(pid, proposer, session, tool, arguments, reasoning, parent, context)
    return cast(Proposal, lite), depth


@dataclass(frozen=True, slots=True)
class _Lite:
    proposal_id: Any
    proposer_id: str
    session_id: str
    tool: str
    arguments: str
    reasoning: str | None
    parent_proposal_id: Any
    risk: RiskContext

    def arguments_object(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.arguments)
        return value


def settle_heap() -> None:
    """Collect once, then keep everything alive now out of later collections (``gc.freeze``).
    For one-shot processes after their set-up (the replay CLI, benchmarks), not for workers."""
    gc.collect()
    gc.freeze()
