"""The replay engine: re-evaluate proposals under an oracle and diff against recorded verdicts.

Pure core, no Kafka: it works over iterables of :class:`Case` (a proposal, the decision recorded
for it, its revise depth and the session context it was decided in). Rules:

* :class:`Evaluator` decides through the enforcer (tier choice, oracle, risk policy, fail-closed
  rules), exactly as the gate does with ``revision_depth`` and ``session`` (the case's context,
  passed as ``session=`` when there is one; None decides as without a session: ``provenance`` is
  an empty map). A decision is a pure function of the oracle-relevant input: tool, arguments
  text, risk context and revise depth, plus the proposer, session, reasoning and parent when a
  rule of the oracle reads one of them, plus the provenance of the arguments in the case's
  context (:func:`~alignment_flywheel.oracle.provenance.provenance`, or "no context") when a rule
  reads ``provenance`` (both also when the oracle is not a rule oracle). Each distinct input is
  evaluated once per evaluator (memoised, bounded: the memo is cleared when it would exceed
  ``memo_size``).
* A verdict that failed closed only because the answer came after the policy's deadline (a slow
  host, not the oracle) is decided again, up to :data:`DEADLINE_RETRIES` times: replay judges the
  oracle, not the machine it runs on.
* With ``workers`` > 1 and a rule oracle, the distinct inputs of a batch are split: the calling
  process evaluates one share, ``workers - 1`` pool processes (each rebuilt from the oracle and
  policy documents, same digests; started by a fork server, so no client thread of the caller
  is forked) the others. Results are identical to evaluating in process. Cases with a session
  context are evaluated in the calling process (contexts are not sent to the pool) when a rule
  reads ``provenance``; otherwise the context cannot change the decision and is not passed.
* An input the enforcer refuses (:class:`~alignment_flywheel.errors.InvalidInputError`, e.g. a
  tool outside the oracle's catalog: the gate dead-letters it) is replayed as ``None`` with the
  reason, never an exception.
* The cases and the diff (:class:`Case`, :func:`flip_of`, :class:`Tally`, :class:`Diff`) are
  defined in :mod:`.cases` and re-exported here. The release controller (candidate against
  stable) and refinement's regression suite count with the same classes.

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
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, cast

from alignment_flywheel.enforcement.decider import Decider, SessionDecider
from alignment_flywheel.enforcement.policy import RiskPolicy, build_policy
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Decision, Proposal, RiskContext
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.expressions import SESSION_VARIABLES
from alignment_flywheel.oracle.provenance import SessionContext, provenance, requested
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.replay.cases import (
    EXAMPLES_PER_FLIP,
    MAX_IDS,
    Case,
    Diff,
    Example,
    Replayed,
    Tally,
    flip_of,
)

__all__ = [
    "EXAMPLES_PER_FLIP",
    "MAX_IDS",
    "Case",
    "Decider",
    "Diff",
    "Evaluator",
    "Example",
    "Replayed",
    "Tally",
    "flip_of",
    "replay_diff",
    "settle_heap",
]

MEMO_SIZE = 1_000_000
BATCH = 4096
MIN_POOL_BATCH = 256
DEADLINE_RETRIES = 3
IDENTITY_VARIABLES = frozenset({"proposer", "session", "reasoning", "parent"})
NO_CONTEXT = "no context"
Key = tuple[Any, ...]
Outcome = tuple[Decision | None, str | None]
Flat = tuple[Any, ...]


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
        self._provenance = _reads(oracle, SESSION_VARIABLES)
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

    def key(self, proposal: Proposal, depth: int, session: SessionContext | None = None) -> Key:
        """The oracle-relevant input of a decision (see the module rules)."""
        risk = proposal.risk
        base: Key = (
            proposal.tool,
            proposal.arguments,
            risk.origin,
            risk.blast_radius,
            risk.proposer_confidence,
            risk.environment,
            depth,
        )
        if self._provenance:
            base = (*base, _provenance_key(proposal, session))
        if not self._identity:
            return base
        parent = proposal.parent_proposal_id
        return (*base, proposal.proposer_id, proposal.session_id, proposal.reasoning, parent)

    def replay(self, cases: Iterable[Case]) -> Iterator[Replayed]:
        """Each case with its replayed decision, in order, evaluated in batches."""
        iterator = iter(cases)
        while batch := list(itertools.islice(iterator, BATCH)):
            yield from self._batch(batch)

    def decisions(
        self,
        proposals: Iterable[Proposal],
        sessions: Mapping[uuid.UUID, SessionContext] | None = None,
    ) -> list[Decision | None]:
        """The replayed decision of each proposal at depth 0, in its session context from
        ``sessions`` (by proposal id; a proposal not in it is decided without one)."""
        known = sessions or {}
        cases = (Case(p, None, session=known.get(p.proposal_id)) for p in proposals)
        return [r.decision for r in self.replay(cases)]

    def _batch(self, batch: Sequence[Case]) -> list[Replayed]:
        keys = [self.key(case.proposal, case.depth, case.session) for case in batch]
        memo = self._memo
        missing: dict[Key, Case] = {}
        for key, case in zip(keys, batch, strict=True):
            if key not in memo and key not in missing:
                unread = case.session is not None and not self._provenance
                missing[key] = replace(case, session=None) if unread else case
        self.misses += len(missing)
        self.hits += len(batch) - len(missing)
        if len(memo) + len(missing) > self._memo_size:
            memo.clear()
        memo.update(zip(missing, self._evaluate(list(missing.values())), strict=True))
        return [Replayed(case, *memo[key]) for key, case in zip(keys, batch, strict=True)]

    def _evaluate(self, cases: list[Case]) -> list[Outcome]:
        with_session = [c.session is not None for c in cases]
        if self._pool is None or len(cases) - sum(with_session) < MIN_POOL_BATCH:
            return [_decide(self.decider, c) for c in cases]
        pooled = [c for c, local in zip(cases, with_session, strict=True) if not local]
        outcomes = iter(self._pooled(pooled))
        return [
            _decide(self.decider, c) if local else next(outcomes)
            for c, local in zip(cases, with_session, strict=True)
        ]

    def _pooled(self, cases: list[Case]) -> list[Outcome]:
        """Cases without a session context: a share here, the others in the pool."""
        assert self._pool is not None
        size = -(-len(cases) // self._workers)
        futures = [
            self._pool.submit(_worker_decide, [_flat(c) for c in cases[i : i + size]])
            for i in range(size, len(cases), size)
        ]
        mine = [_decide(self.decider, c) for c in cases[:size]]
        return mine + [outcome for future in futures for outcome in future.result()]


def replay_diff(cases: Iterable[Case], evaluator: Evaluator) -> Diff:
    """The verdict diff of ``cases`` replayed with ``evaluator``: the engine's entry point."""
    diff = Diff()
    for item in evaluator.replay(cases):
        diff.add(item)
    return diff


def _decide(decider: Decider, case: Case) -> Outcome:
    """The decision, decided again when it failed closed only because the host was slow."""
    return _decide_one(decider, case.proposal, case.depth, case.session)


def _decide_one(
    decider: Decider, proposal: Proposal, depth: int, session: SessionContext | None = None
) -> Outcome:
    try:
        for _ in range(DEADLINE_RETRIES):
            if session is None:
                verdict = decider.decide(proposal, revision_depth=depth)
            else:
                in_session = cast(SessionDecider, decider)
                verdict = in_session.decide(proposal, revision_depth=depth, session=session)
            if verdict.error is None or "over the deadline" not in verdict.error:
                break
    except InvalidInputError as exc:
        return None, str(exc)
    return verdict.decision, None


def _identity_fields(oracle: Any) -> bool:
    """True when a decision may depend on proposer, session, reasoning or parent."""
    return _reads(oracle, IDENTITY_VARIABLES)


def _reads(oracle: Any, variables: frozenset[str]) -> bool:
    """True when a rule of the oracle reads one of ``variables`` (always, for an oracle that is
    not a rule oracle)."""
    if not isinstance(oracle, RuleOracle):
        return True
    return any(rule.expression.variables & variables for rule in oracle.artifact.rules)


def _provenance_key(proposal: Proposal, session: SessionContext | None) -> Any:
    """What the session variables are for the proposal in ``session`` (the provenance of its
    arguments and whether the request names its action), hashable (:data:`NO_CONTEXT` without)."""
    if session is None:
        return NO_CONTEXT
    found = provenance(session, proposal.arguments_object())
    asked = requested(session, proposal.tool)
    return (asked, *((key, tuple(sources)) for key, sources in sorted(found.items())))


# --- pool workers ---------------------------------------------------------------------------------

_WORKER: list[Decider] = []
_RISKS: dict[Flat, RiskContext] = {}


def _start_worker(artifact: dict[str, Any], policy: dict[str, Any]) -> None:
    from alignment_flywheel.enforcement.enforcer import Enforcer  # noqa: PLC0415

    _WORKER[:] = [Enforcer(RuleOracle(build_artifact(artifact)), build_policy(policy))]


def _worker_decide(chunk: list[Flat]) -> list[Outcome]:
    decider = _WORKER[0]
    return [_decide_one(decider, *_unflat(flat)) for flat in chunk]


def _flat(case: Case) -> Flat:
    """A case as plain values: much cheaper to send to a worker than the model."""
    p, risk = case.proposal, case.proposal.risk
    return (
        p.proposal_id,
        p.proposer_id,
        p.session_id,
        p.tool,
        p.arguments,
        p.reasoning,
        p.parent_proposal_id,
        risk.origin,
        risk.proposer_confidence,
        risk.blast_radius,
        risk.environment,
        case.depth,
    )


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
            origin=origin,
            proposer_confidence=confidence,
            blast_radius=radius,
            environment=environment,
        )
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
