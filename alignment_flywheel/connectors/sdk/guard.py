"""The in-process guard: decide on an agent's tool call before it runs, publish the decision later.

Rules:

* :meth:`Guard.check` validates the proposal at the edge (:mod:`.validation`), asks the local
  enforcer (``build_enforcer(settings)`` unless one is given) and returns a :class:`GuardDecision`.
  It never waits on Kafka: the decision's records go to the background
  :class:`~alignment_flywheel.connectors.sdk.publisher.Publisher` (see there for outages).
* Revise chains: ``check(..., parent_proposal_id=p)`` links a resubmission to ``p``; the guard
  passes the enforcer the ``revision_depth`` of :mod:`alignment_flywheel.enforcement.revise`, from
  what the proposals it decided spent (the last :data:`MAX_TRACKED_PROPOSALS` it keeps).
* :meth:`Guard.enforce` / :meth:`Guard.resolve` turn a decision into the arguments to run with, or
  an exception: ALLOW returns the arguments; BLOCK raises :class:`ActionBlocked`; REVISE, when
  ``auto_apply_revisions``, resubmits the revised arguments as a child proposal (at most
  ``max_revisions`` times) and returns them once allowed, otherwise raises
  :class:`ActionNeedsRevision`; ESCALATE waits for a ``ReviewDecided`` (up to
  ``settings.review_timeout_s`` or the per-call ``review_timeout_s``): APPROVE returns the
  arguments, DENY raises :class:`ActionEscalated`, no answer raises :class:`ReviewTimeout` and
  records an automatic DENY when ``settings.deny_on_review_timeout`` (the default; otherwise an
  automatic APPROVE is recorded, a warning logged and the arguments returned).
* One guard for many proposers: :meth:`Guard.check_as` decides for the proposer and session it is
  given instead of the guard's own (the HTTP endpoint serves every proposer with one guard).
  ``decided_by`` names the deciding component in the records' header (``sdk`` by default).
* Hot reload: :meth:`Guard.swap_oracle` swaps the enforcer's oracle atomically. Following oracle
  releases on Kafka is issue #4; a release follower plugs in as an :class:`OracleSource`.
* Session context (:mod:`.sessions`): :meth:`Guard.start_session` records the user's request that
  starts the session (``SessionStarted``), :meth:`Guard.observe` a tool output the agent saw
  (``ToolResultObserved``); both are folded into the guard's in-process context of that session
  and published in the background. Every check of a session with a context decides in it (rules
  read ``provenance``), passing ``session=`` to the enforcer when its ``decide`` takes it (a
  decider without the keyword decides as before). ``guard.sessions`` does the same for any
  proposer and session.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import validation
from alignment_flywheel.connectors.sdk.decision import GuardDecision, OracleSource, SwappableDecider
from alignment_flywheel.connectors.sdk.decorate import guarded
from alignment_flywheel.connectors.sdk.errors import (
    ActionBlocked,
    ActionNeedsRevision,
    InvalidProposalError,
)
from alignment_flywheel.connectors.sdk.journal import Journal, JournalRecord, adopt_orphans
from alignment_flywheel.connectors.sdk.openai import parse_tool_call
from alignment_flywheel.connectors.sdk.publisher import Publisher
from alignment_flywheel.connectors.sdk.records import (
    DECIDED_BY_SDK,
    RecordBuilder,
    SdkTopics,
)
from alignment_flywheel.connectors.sdk.records import decided_by as decided_by_headers
from alignment_flywheel.connectors.sdk.review_wait import ReviewAwait, describe
from alignment_flywheel.connectors.sdk.reviews import ReviewWaiter
from alignment_flywheel.connectors.sdk.sessions import (
    MAX_SESSIONS,
    SESSION_TTL_S,
    SessionRecorder,
    SessionStore,
    takes_keyword,
)
from alignment_flywheel.enforcement.revise import ReviseChains
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.events import (
    Decision,
    IncidentKind,
    Origin,
    Proposal,
    RiskContext,
    Severity,
    ToolResultObserved,
)
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.oracle import Oracle
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.roles import topic_for

log = logging.getLogger(__name__)

MAX_TRACKED_PROPOSALS = 100_000
DEFAULT_RISK = RiskContext(origin=Origin.AUTOMATED, proposer_confidence=0.5, environment="default")
F = TypeVar("F", bound=Callable[..., Any])


def _default_enforcer(settings: Settings) -> SwappableDecider:
    from alignment_flywheel.enforcement.enforcer import build_enforcer  # noqa: PLC0415

    return build_enforcer(settings)


class Guard:
    """Guards one proposer's tool calls in process. Thread-safe; close it when done."""

    def __init__(
        self,
        settings: Settings,
        *,
        enforcer: SwappableDecider | None = None,
        publish: bool = True,
        proposer_id: str,
        session_id: str | None = None,
        topics: SdkTopics | None = None,
        default_risk: RiskContext = DEFAULT_RISK,
        auto_apply_revisions: bool = True,
        max_revisions: int = 3,
        delivery_timeout_s: float = 10.0,
        retry_interval_s: float = 5.0,
        decided_by: bytes = DECIDED_BY_SDK,
        max_sessions: int = MAX_SESSIONS,
        session_ttl_s: float = SESSION_TTL_S,
    ) -> None:
        if not proposer_id:
            raise InvalidProposalError("proposer_id", "must not be empty")
        self.settings = settings
        self.proposer_id = proposer_id
        self.session_id = session_id if session_id is not None else uuid.uuid4().hex
        self.auto_apply_revisions = auto_apply_revisions
        self.max_revisions = max_revisions
        self._default_risk = default_risk
        self._enforcer = enforcer if enforcer is not None else _default_enforcer(settings)
        self._codec = EventCodec.from_settings(settings)
        self._builder = RecordBuilder(
            self._codec,
            topics or SdkTopics.from_catalog(),
            settings.identity,
            decided_by_headers(decided_by),
        )
        self._spent: OrderedDict[str, int] = OrderedDict()
        self._chains = ReviseChains(self._spent)
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None
        if publish:
            journal = Journal(settings.journal_dir)
            adopt_orphans(journal)
            self._publisher = Publisher(
                settings,
                journal,
                delivery_timeout_s=delivery_timeout_s,
                retry_interval_s=retry_interval_s,
            )
        self._reviews = ReviewAwait(settings, self._codec, self._builder, self._publish)
        store = SessionStore(max_sessions, session_ttl_s)
        self.sessions = SessionRecorder(store, self._builder, settings.identity, self._publish)
        decide = getattr(self._enforcer, "decide_staged", self._enforcer.decide)
        self._takes_session = takes_keyword(decide, "session")

    @property
    def enforcer(self) -> SwappableDecider:
        return self._enforcer

    @property
    def publisher(self) -> Publisher | None:
        return self._publisher

    @property
    def topics(self) -> SdkTopics:
        return self._builder.topics

    # --- session context -------------------------------------------------------------------------

    def start_session(self, request: str, *, session_id: str | None = None) -> str:
        """Start (or restart) the guard's session with the user's request (switching to
        ``session_id`` first when given); returns the session id."""
        if session_id is not None:
            self.session_id = session_id
        self.sessions.start(self.proposer_id, self.session_id, request)
        return self.session_id

    def observe(
        self, tool: str, output: str, *, proposal_id: uuid.UUID | None = None
    ) -> ToolResultObserved:
        """Record a tool output the agent saw in the guard's session (``proposal_id``: the call
        that produced it, when known); later checks judge argument values against it."""
        return self.sessions.observe(self.proposer_id, self.session_id, tool, output, proposal_id)

    # --- deciding --------------------------------------------------------------------------------

    def check(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        reasoning: str | None = None,
        risk: RiskContext | Mapping[str, Any] | None = None,
        parent_proposal_id: uuid.UUID | None = None,
    ) -> GuardDecision:
        """Decide on one tool call; the decision is published in the background."""
        return self.check_as(
            self.proposer_id,
            self.session_id,
            tool,
            arguments,
            reasoning=reasoning,
            risk=risk,
            parent_proposal_id=parent_proposal_id,
        )

    def check_as(
        self,
        proposer_id: str,
        session_id: str,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        reasoning: str | None = None,
        risk: RiskContext | Mapping[str, Any] | None = None,
        parent_proposal_id: uuid.UUID | None = None,
    ) -> GuardDecision:
        """:meth:`check` on behalf of another proposer and session."""
        who = (proposer_id, session_id)
        result, records = self._decide(
            who,
            tool,
            arguments,
            reasoning=reasoning,
            risk=risk,
            parent_proposal_id=parent_proposal_id,
        )
        self._publish(records)
        return result

    def check_tool_call(self, call: object, **options: Any) -> GuardDecision:
        """Decide on one OpenAI-style tool call (dict or object form)."""
        parsed = parse_tool_call(call)
        return self.check(parsed.name, parsed.arguments, **options)

    def check_tool_calls(self, calls: Iterable[object], **options: Any) -> list[GuardDecision]:
        """Decide on each tool call of one model message, in order."""
        return [self.check_tool_call(call, **options) for call in calls]

    def _decide(
        self,
        who: tuple[str, str],
        tool: str,
        arguments: Mapping[str, Any],
        *,
        reasoning: str | None,
        risk: RiskContext | Mapping[str, Any] | None,
        parent_proposal_id: uuid.UUID | None,
    ) -> tuple[GuardDecision, list[JournalRecord]]:
        proposal, plain = validation.build_proposal(
            proposer_id=who[0],
            session_id=who[1],
            tool=tool,
            arguments=arguments,
            reasoning=reasoning,
            risk=risk,
            parent_proposal_id=parent_proposal_id,
            default_risk=self._default_risk,
            max_bytes=self.settings.max_event_bytes,
        )
        trace_id = uuid.uuid4().hex
        records = [validation.encoded(lambda: self._builder.proposal(proposal, trace_id))]
        depth = self._depth(parent_proposal_id)
        verdict, shadow = self._verdicts(proposal, depth, self.sessions.context(*who))
        self._spend(proposal.proposal_id, depth, verdict.decision)
        if shadow is not None:
            records.append(self._builder.shadow(shadow, proposal, trace_id))
        revised = None
        if verdict.decision is Decision.REVISE and verdict.amendment is not None:
            revised = verdict.amendment.apply(plain)
        review_id = uuid.uuid4() if verdict.decision is Decision.ESCALATE else None
        decision_id = uuid.uuid4()
        records += self._builder.verdict(
            verdict,
            proposal,
            trace_id,
            review_id=review_id or uuid.uuid4(),
            review_timeout_s=self.settings.review_timeout_s,
            decision_id=decision_id,
        )
        result = GuardDecision(
            proposal, verdict, plain, depth, revised, review_id, decision_id=decision_id
        )
        return result, records

    def _verdicts(
        self, proposal: Proposal, depth: int, session: SessionContext | None
    ) -> tuple[Verdict, Verdict | None]:
        """The enforced verdict and, during a rollout, the shadow verdict beside it."""
        options: dict[str, Any] = {"revision_depth": depth}
        if session is not None and self._takes_session:
            options["session"] = session
        staged = getattr(self._enforcer, "decide_staged", None)
        if staged is None:
            return self._enforcer.decide(proposal, **options), None
        both = staged(proposal, **options)
        return both.enforced, both.shadow

    def _depth(self, parent: uuid.UUID | None) -> int:
        with self._lock:
            return self._chains.depth_under(parent)

    def _spend(self, proposal_id: uuid.UUID, depth: int, decision: Decision) -> None:
        with self._lock:
            kept = self._chains.record(proposal_id, depth, decision)
            if kept and len(self._spent) > MAX_TRACKED_PROPOSALS:
                self._spent.popitem(last=False)

    def _publish(self, records: list[JournalRecord]) -> None:
        if self._publisher is not None:
            self._publisher.submit(records)

    # --- enforcing -------------------------------------------------------------------------------

    def enforce(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        reasoning: str | None = None,
        risk: RiskContext | Mapping[str, Any] | None = None,
        review_timeout_s: float | None = None,
        auto_apply_revisions: bool | None = None,
    ) -> dict[str, Any]:
        """The arguments the call may run with, or ActionDenied (see the module docstring)."""
        who = (self.proposer_id, self.session_id)
        result, records = self._decide(
            who, tool, arguments, reasoning=reasoning, risk=risk, parent_proposal_id=None
        )
        waiter = None
        if result.decision is Decision.ESCALATE:
            waiter = self._reviews.waiter_at_end(review_timeout_s)
        self._publish(records)
        return self.resolve(
            result,
            review_timeout_s=review_timeout_s,
            auto_apply_revisions=auto_apply_revisions,
            _waiter=waiter,
        )

    def resolve(
        self,
        result: GuardDecision,
        *,
        review_timeout_s: float | None = None,
        auto_apply_revisions: bool | None = None,
        _waiter: ReviewWaiter | KafkaTransportError | None = None,
    ) -> dict[str, Any]:
        """Turn a decision from :meth:`check` into the arguments to run with, or raise."""
        auto = self.auto_apply_revisions if auto_apply_revisions is None else auto_apply_revisions
        timeout = self.settings.review_timeout_s if review_timeout_s is None else review_timeout_s
        for _ in range(self.max_revisions + 1):
            if result.decision is Decision.ALLOW:
                return dict(result.arguments)
            if result.decision is Decision.BLOCK:
                raise ActionBlocked(describe(result, "blocked"), result)
            if result.decision is Decision.ESCALATE:
                return self._reviews.await_review(result, timeout, _waiter)
            if not auto or result.revised_arguments is None:
                break
            result = self.check(
                result.proposal.tool,
                result.revised_arguments,
                reasoning=result.proposal.reasoning,
                risk=result.proposal.risk,
                parent_proposal_id=result.proposal_id,
            )
            _waiter = None
        raise ActionNeedsRevision(describe(result, "needs revision"), result)

    # --- decorating ------------------------------------------------------------------------------

    def tool(self, name: str, **options: Any) -> Callable[[F], F]:
        """Decorate a tool function (sync or async) so it only runs when the guard allows it.

        ``options`` are those of :meth:`enforce` (``risk``, ``review_timeout_s``,
        ``auto_apply_revisions``); see :mod:`.decorate`."""
        validation.check_tool(name)

        def decorate(function: F) -> F:
            return guarded(self, name, function, options)

        return decorate

    # --- lifecycle -------------------------------------------------------------------------------

    def swap_oracle(self, oracle: Oracle) -> None:
        """Swap the enforcer's oracle atomically; calls in flight finish with the old one."""
        self._enforcer.swap_oracle(oracle)

    def follow(self, source: OracleSource) -> None:
        """Swap in every oracle ``source`` delivers; a release follower (``attach_deployment``)
        also brings the candidate, so this guard decides canary traffic and records shadow
        verdicts as the gates do."""
        deploy = getattr(self._enforcer, "deploy", None)
        attach = getattr(source, "attach_deployment", None)
        if deploy is not None and attach is not None:
            attach(deploy)
        else:
            source.attach(self.swap_oracle)

    def report_incident(
        self,
        decision: GuardDecision,
        *,
        kind: IncidentKind,
        severity: Severity,
        description: str,
        topic: str = topic_for("IncidentReported"),
    ) -> uuid.UUID:
        """Report that a decision was wrong (harm, or a false positive); returns the incident id.
        The incident carries the proposal and is published in the background like a decision."""
        incident = incident_report(
            decision.proposal,
            kind=kind,
            severity=severity,
            description=description,
            reporter=self.proposer_id,
        )
        self._publish([self._builder.record(topic, incident)])
        return incident.incident_id

    def close(self, timeout: float = 30.0) -> bool:
        """Publish what is left within ``timeout``; True if nothing had to stay in the journal."""
        if self._publisher is None:
            return True
        return self._publisher.close(timeout)

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
