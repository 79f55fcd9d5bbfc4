"""The enforcement layer: oracle signals through the risk policy to a verdict, failing closed.

Rules (see :mod:`alignment_flywheel.enforcement.policy` for how a tier decides):

* :meth:`Enforcer.decide` never returns ALLOW (or REVISE) unless the oracle answered in time:
  an :class:`~alignment_flywheel.oracle.OracleError` (or any other exception from the oracle)
  gives the policy's ``on_oracle_error`` (BLOCK or ESCALATE); an
  :class:`~alignment_flywheel.oracle.OracleTimeoutError`, or an answer whose evaluation took more
  than ``oracle_timeout_ms`` of the deciding thread's CPU time, gives ``on_oracle_timeout``. The
  verdict's ``error`` says what failed. CPU time, not wall-clock time: a loaded host's scheduling
  delays are not the oracle's, so the same proposal gets the same decision in process, in the
  gate and in replay however busy the machine; an oracle that can block (a remote service) is
  bounded in wall-clock time by :class:`TimeoutOracle`.
* Bad input is not an oracle failure: an :class:`~alignment_flywheel.errors.InvalidInputError`
  propagates to the edge, which refuses the proposal. An unknown tool (outside the artifact's
  tool catalog) gets the policy's ``on_unknown_tool``: a BLOCK or ESCALATE verdict naming the
  tool, or REFUSE, which propagates like other bad input.
* Every verdict records the oracle version and digest, the policy version, the tier, the reasons
  (the deciding one first, then each matching or failing rule), the evidence and the latency.
* :meth:`Enforcer.swap_oracle` replaces the oracle atomically: a decision in flight finishes with
  the oracle it started with. This is the hot-reload seam for oracle releases.
* :class:`TimeoutOracle` bounds an oracle that can hang (a remote service) by running it on a
  worker thread; the in-process rule oracle does not need it (its deadline is checked after).
* ``decide(proposal, session=context)`` decides in the proposal's session context (the user's
  request and the tool outputs seen, :mod:`alignment_flywheel.oracle.provenance`), passed to the
  oracle when it takes one (:func:`~alignment_flywheel.oracle.contract.evaluate_oracle`); without
  it (the default) rules see an empty ``provenance``.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.policy import RiskPolicy, Tier, TierChoice, load_policy
from alignment_flywheel.enforcement.verdict import Verdict, judged_verdict
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Decision, EvidenceKind, Proposal
from alignment_flywheel.oracle.artifact import TierOverride
from alignment_flywheel.oracle.contract import (
    Amendment,
    Oracle,
    OracleError,
    OracleSignal,
    OracleTimeoutError,
    UnknownToolError,
    evaluate_oracle,
)
from alignment_flywheel.oracle.loader import load_oracle, risk_policy_path
from alignment_flywheel.oracle.provenance import SessionContext

if TYPE_CHECKING:
    from alignment_flywheel.enforcement.staged import StagedEnforcer

log = logging.getLogger(__name__)
MAX_JUDGED = 4096
Judged = tuple[Decision, tuple[str, ...], Amendment | None]


@dataclass(slots=True)
class _Caches:
    """What an enforcer remembers for one (oracle, policy): each tier with the oracle's
    overrides, and the judgement of each reused signal."""

    oracle: Oracle
    policy: RiskPolicy
    tiers: dict[str, TierChoice] = field(default_factory=dict)
    version: str = field(init=False)
    deadline_ns: float = field(init=False)
    judged: dict[tuple[int, str, int], tuple[OracleSignal, Judged]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.version = self.policy.version
        self.deadline_ns = self.policy.timeout_s * 1e9


class Enforcer:
    """Decides on proposals with one oracle and one risk policy. Thread-safe."""

    def __init__(self, oracle: Oracle, policy: RiskPolicy) -> None:
        self._oracle = oracle
        self.policy = policy
        self._caches = _Caches(oracle, policy)

    @property
    def oracle(self) -> Oracle:
        return self._oracle

    def swap_oracle(self, oracle: Oracle) -> None:
        self._oracle = oracle

    def _tier(self, caches: _Caches, proposal: Proposal) -> TierChoice:
        """The policy's tier with the oracle's overrides, built once per tier and (oracle, policy)
        (``caches``, replaced whole when either changes)."""
        choice = caches.policy.tier_for(proposal)
        if choice.note is not None:
            return with_overrides(choice, caches.oracle)
        found = caches.tiers.get(choice.tier.name)
        if found is None:
            found = caches.tiers[choice.tier.name] = with_overrides(choice, caches.oracle)
        return found

    def _cache(self, oracle: Oracle, policy: RiskPolicy) -> _Caches:
        caches = self._caches
        if caches.oracle is not oracle or caches.policy is not policy:
            caches = self._caches = _Caches(oracle, policy)
        return caches

    def _judged(self, caches: _Caches, signal: OracleSignal, tier: Tier, depth: int) -> Judged:
        """:func:`judge`, remembered for the signals the oracle reuses (the same object for the
        same matching rules, :mod:`alignment_flywheel.oracle.rules`)."""
        judged = caches.judged
        key = (id(signal), tier.name, depth)
        found = judged.get(key)
        if found is not None and found[0] is signal:
            return found[1]
        result = judge(signal, tier, depth, caches.policy)
        if len(judged) >= MAX_JUDGED:
            judged.clear()
        judged[key] = (signal, result)
        return result

    def decide(
        self,
        proposal: Proposal,
        *,
        revision_depth: int = 0,
        session: SessionContext | None = None,
    ) -> Verdict:
        started = time.perf_counter_ns()
        computing = time.thread_time_ns()
        oracle, policy = self._oracle, self.policy
        caches = self._cache(oracle, policy)
        choice = self._tier(caches, proposal)
        try:
            if session is None:
                signal = oracle.evaluate(proposal)
            else:
                signal = evaluate_oracle(oracle, proposal, session)
        except UnknownToolError as exc:
            return self._unknown_tool(oracle, choice, started, exc)
        except InvalidInputError:
            raise
        except OracleTimeoutError as exc:
            return self._failed(oracle, choice, started, f"oracle timed out: {exc}", timeout=True)
        except Exception as exc:
            log.warning("oracle failed on proposal %s: %r", proposal.proposal_id, exc)
            kind = "oracle failed" if isinstance(exc, OracleError) else "oracle crashed"
            return self._failed(oracle, choice, started, f"{kind}: {exc!r}", timeout=False)
        deadline_ns = caches.deadline_ns
        # A thread's CPU time never runs ahead of the wall clock: read it only when it may be over.
        if time.perf_counter_ns() - started > deadline_ns:
            spent_ns = time.thread_time_ns() - computing
            if spent_ns > deadline_ns:
                error = f"oracle computed for {spent_ns / 1e6:.1f} ms of CPU, over the deadline"
                return self._failed(oracle, choice, started, error, timeout=True, signal=signal)
        decision, reasons, amendment = self._judged(caches, signal, choice.tier, revision_depth)
        if choice.note is not None:
            reasons = (*reasons, choice.note)
        latency_us = (time.perf_counter_ns() - started) // 1000
        tier = choice.tier.name
        return judged_verdict(
            decision,
            tier,
            reasons,
            policy_version=caches.version,
            latency_us=latency_us,
            signal=signal,
            amendment=amendment,
        )

    def _unknown_tool(
        self, oracle: Oracle, choice: TierChoice, started: int, exc: UnknownToolError
    ) -> Verdict:
        action = self.policy.spec.on_unknown_tool
        if action == "REFUSE":
            raise exc
        why = f"tool {exc.tool!r} is not in the oracle's tool catalog (on_unknown_tool: {action})"
        return self._unjudged(oracle, choice, started, action, why)

    def _failed(
        self,
        oracle: Oracle,
        choice: TierChoice,
        started: int,
        error: str,
        *,
        timeout: bool,
        signal: OracleSignal | None = None,
    ) -> Verdict:
        policy = self.policy
        action = policy.spec.on_oracle_timeout if timeout else policy.spec.on_oracle_error
        rule = "on_oracle_timeout" if timeout else "on_oracle_error"
        why = f"fail closed ({rule}: {action}): {error}"
        return self._unjudged(oracle, choice, started, action, why, error=error, signal=signal)

    def _unjudged(
        self,
        oracle: Oracle,
        choice: TierChoice,
        started: int,
        action: str,
        why: str,
        *,
        error: str | None = None,
        signal: OracleSignal | None = None,
    ) -> Verdict:
        """A verdict the policy gives without judging a signal (unknown tool, failed oracle)."""
        version, digest = _identity(oracle)
        return Verdict(
            decision=Decision(action),
            tier=choice.tier.name,
            reasons=(why,),
            policy_version=self.policy.version,
            latency_us=(time.perf_counter_ns() - started) // 1000,
            signal=signal,
            error=error,
            oracle_version=version,
            oracle_digest=digest,
        )


def with_overrides(choice: TierChoice, oracle: Oracle) -> TierChoice:
    """The tier with the thresholds the oracle's artifact sets for it, if any."""
    overrides: Mapping[str, TierOverride] = getattr(oracle, "tier_overrides", None) or {}
    override = overrides.get(choice.tier.name)
    if override is None:
        return choice
    return TierChoice(_overridden(choice.tier, override), choice.note)


@functools.lru_cache(maxsize=1024)
def _overridden(tier: Tier, override: TierOverride) -> Tier:
    values = override.model_dump(exclude_none=True)
    budget = values.pop("revise_budget", tier.revise_budget)
    return Tier(tier.spec.model_copy(update=values), tier.expression, budget)


def judge(
    signal: OracleSignal, tier: Tier, depth: int, policy: RiskPolicy
) -> tuple[Decision, tuple[str, ...], Amendment | None]:
    """The decision of one tier on one signal, its deciding reason first, and the amendment."""
    spec = tier.spec
    details = _rule_reasons(signal)
    if signal.safety_score < spec.block_below:
        score = signal.safety_score
        why = f"safety score {score:.3f} is under {spec.block_below} (tier {tier.name})"
        return Decision.BLOCK, (why, *details), None
    if signal.uncertainty >= spec.escalate_uncertainty:
        why = (
            f"uncertainty {signal.uncertainty:.3f} reaches {spec.escalate_uncertainty}"
            f" (tier {tier.name})"
        )
        return Decision.ESCALATE, (why, *details), None
    reviewers = [s.rule_id or "?" for s in signal.evidence if s.requires_review]
    if reviewers:
        return Decision.ESCALATE, (f"review demanded by {', '.join(reviewers)}", *details), None
    amendments = signal.amendments
    if not amendments:
        return Decision.ALLOW, (f"no threshold of tier {tier.name} reached", *details), None
    if depth < tier.revise_budget:
        why = f"revise (depth {depth} of budget {tier.revise_budget})"
        return Decision.REVISE, (why, *details), merge_amendments(amendments)
    action = policy.spec.on_revise_exhausted
    why = f"revise budget {tier.revise_budget} spent at depth {depth}: {action}"
    return Decision(action), (why, *details), None


def merge_amendments(amendments: Sequence[Amendment]) -> Amendment:
    """One amendment: set_arguments in order (first wins), removals and constraints united."""
    values: dict[str, object] = {}
    removed: list[str] = []
    constraints: list[str] = []
    for amendment in amendments:
        for key, value in amendment.set_arguments.items():
            values.setdefault(key, value)
        removed += [k for k in amendment.remove_arguments if k not in removed]
        constraints += [c for c in amendment.constraints if c not in constraints]
    return Amendment(values, tuple(k for k in removed if k not in values), tuple(constraints))


def _rule_reasons(signal: OracleSignal) -> tuple[str, ...]:
    reasons = []
    for item in signal.evidence:
        if item.kind is EvidenceKind.RULE_MATCH:
            reasons.append(f"rule {item.rule_id}: {item.message}")
        elif item.kind in (EvidenceKind.RULE_ERROR, EvidenceKind.ORACLE_ERROR):
            reasons.append(f"error in {item.rule_id or 'oracle'}: {item.message}")
    return tuple(reasons)


def _identity(oracle: Oracle) -> tuple[int, str]:
    try:
        return int(oracle.version), str(oracle.digest)
    except Exception:
        return 0, "0" * 64


class TimeoutOracle:
    """Bounds another oracle's ``evaluate`` by ``timeout_s`` (raises OracleTimeoutError)."""

    def __init__(self, inner: Oracle, timeout_s: float, workers: int = 8) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "oracle")

    @property
    def version(self) -> int:
        return self.inner.version

    @property
    def digest(self) -> str:
        return self.inner.digest

    def evaluate(self, proposal: Proposal, session: SessionContext | None = None) -> OracleSignal:
        future = self._pool.submit(evaluate_oracle, self.inner, proposal, session)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise OracleTimeoutError(f"no answer within {self.timeout_s * 1000:.0f} ms") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def build_enforcer(settings: Settings) -> StagedEnforcer:
    """The enforcer of the settings: ``oracle_path`` and ``risk_policy_path`` (or the defaults),
    ready to take a rollout's deployment (:mod:`.staged`)."""
    from alignment_flywheel.enforcement.staged import StagedEnforcer  # noqa: PLC0415

    return StagedEnforcer(load_oracle(settings), load_policy(risk_policy_path(settings)))
