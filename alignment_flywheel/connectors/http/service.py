"""What the HTTP endpoints do, apart from HTTP: decide, accept, report health and the oracle.

Rules:

* Decisions are the SDK's: one :class:`~alignment_flywheel.connectors.sdk.Guard` serves every
  proposer (:meth:`Guard.check_as`), so validation, revise-chain depths, publishing, the journal and
  its replay are exactly the SDK's. Its records carry ``flywheel-decided-by: http``.
* A request without ``session_id`` gets a fresh one (``http-<hex>``).
* Session context: ``start_session`` and ``observe`` record the user's request and the tool outputs
  of a session through the guard (:mod:`alignment_flywheel.connectors.sdk.sessions`: the store is
  in process, keyed by proposer and session, bounded by count, size and idle time); a decision of
  the same proposer and session is judged in that context. The proposer is the token's, as for
  decisions, so a proposer can neither feed nor use another proposer's session.
* Identity (when the app checks API tokens, :mod:`.auth`): a proposal's ``proposer_id`` is the
  token's proposer id (given, it must be that one: :class:`Forbidden` otherwise); an incident's
  ``reporter`` is the token's name. Without tokens the body's ``proposer_id`` is required and
  incidents are reported as ``http-endpoint``.
* Fire-and-forget proposals go through the same validation (:func:`validation.build_proposal`) and
  encoding, then to :class:`~alignment_flywheel.connectors.http.ingest.ProposalIngest`.
* Health is ``ok`` when the broker answers, no decision record waits in the journal and the
  release follower (if any) is not degraded, otherwise ``degraded``; the broker is asked with a
  short timeout (:data:`BROKER_CHECK_TIMEOUT_S`).
* ``oracle()`` reports the stable oracle the enforcer holds; while releases are followed
  (:mod:`.releases`) also the candidate and the follower's state.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http.errors import Forbidden, UnknownProposalError
from alignment_flywheel.connectors.http.ingest import ProposalIngest
from alignment_flywheel.connectors.http.models import (
    AcceptedResponse,
    AmendmentOut,
    BrokerHealth,
    DecisionResponse,
    EvidenceOut,
    HealthResponse,
    IncidentRequest,
    IncidentResponse,
    OracleResponse,
    ProposalRequest,
    PublisherHealth,
    SessionRequest,
    SessionResponse,
    ToolResultRequest,
    ToolResultResponse,
)
from alignment_flywheel.connectors.http.releases import ReleaseFollowing, candidate_of
from alignment_flywheel.connectors.http.tokens import Caller
from alignment_flywheel.connectors.sdk import validation
from alignment_flywheel.connectors.sdk.decision import GuardDecision, SwappableDecider
from alignment_flywheel.connectors.sdk.errors import InvalidProposalError
from alignment_flywheel.connectors.sdk.guard import DEFAULT_RISK, Guard
from alignment_flywheel.connectors.sdk.records import RecordBuilder
from alignment_flywheel.events import MAX_REQUEST_CHARS
from alignment_flywheel.governance.intake import incident_report
from alignment_flywheel.kafka.clients import quiet_admin_client
from alignment_flywheel.roles import topic_for

MAX_RECENT_DECISIONS = 10_000
INCIDENTS_TOPIC = topic_for("IncidentReported")
ANONYMOUS_REPORTER = "http-endpoint"


BROKER_CHECK_TIMEOUT_S = 1.0


def _session(request: ProposalRequest | SessionRequest) -> str:
    return request.session_id if request.session_id is not None else f"http-{uuid.uuid4().hex}"


def proposer_of(
    request: ProposalRequest | SessionRequest | ToolResultRequest, caller: Caller | None
) -> str:
    """The proposer id a request proposes as (see the module docstring)."""
    if caller is None or caller.proposer is None:
        if request.proposer_id is None:
            raise InvalidProposalError("proposer_id", "Field required (no API token names one)")
        return request.proposer_id
    if request.proposer_id is not None and request.proposer_id != caller.proposer:
        raise Forbidden(
            f"this token proposes as {caller.proposer!r}, not as {request.proposer_id!r}",
            "proposer_id",
        )
    return caller.proposer


def decision_response(result: GuardDecision) -> DecisionResponse:
    """The JSON answer for one decision."""
    verdict = result.verdict
    signal = verdict.signal
    amendment = None
    if verdict.amendment is not None:
        amendment = AmendmentOut.model_validate(json.loads(verdict.amendment.to_json()))
    evidence = [] if signal is None else signal.evidence
    return DecisionResponse(
        proposal_id=result.proposal_id,
        decision_id=result.decision_id,
        decision=verdict.decision,
        tier=verdict.tier,
        reasons=list(verdict.reasons),
        safety_score=0.0 if signal is None else signal.safety_score,
        uncertainty=1.0 if signal is None else signal.uncertainty,
        oracle_version=verdict.oracle_version,
        oracle_digest=verdict.oracle_digest,
        policy_version=verdict.policy_version,
        amendment=amendment,
        revised_arguments=result.revised_arguments,
        review_id=result.review_id,
        latency_us=verdict.latency_us,
        evidence=[
            EvidenceOut(
                kind=item.kind,
                message=item.message,
                rule_id=item.rule_id,
                norm_refs=list(item.norm_refs),
            )
            for item in evidence
        ],
        error=verdict.error,
    )


@dataclass
class HttpService:
    """The guard, the fire-and-forget ingest and what they need; close it when done."""

    settings: Settings
    guard: Guard
    ingest: ProposalIngest
    builder: RecordBuilder
    enforcer: SwappableDecider
    publish: bool
    following: ReleaseFollowing | None = None
    _admin: AdminClient | None = None
    _recent: OrderedDict[uuid.UUID, GuardDecision] = field(default_factory=OrderedDict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        enforcer: SwappableDecider,
        guard: Guard,
        publish: bool,
        following: ReleaseFollowing | None = None,
    ) -> HttpService:
        builder = RecordBuilder(
            EventCodec.from_settings(settings), guard.topics, settings.identity, headers=()
        )
        ingest = ProposalIngest(settings, publish=publish)
        return cls(settings, guard, ingest, builder, enforcer, publish, following)

    def decide(self, request: ProposalRequest, caller: Caller | None = None) -> DecisionResponse:
        result = self.guard.check_as(
            proposer_of(request, caller),
            _session(request),
            request.tool,
            request.arguments,
            reasoning=request.reasoning,
            risk=request.risk_fields(),
            parent_proposal_id=request.parent_proposal_id,
        )
        self._recent[result.proposal_id] = result
        while len(self._recent) > MAX_RECENT_DECISIONS:
            self._recent.popitem(last=False)
        return decision_response(result)

    def start_session(
        self, request: SessionRequest, caller: Caller | None = None
    ) -> SessionResponse:
        """Start (or restart) a session with the user's request."""
        proposer, session = proposer_of(request, caller), _session(request)
        event = self.guard.sessions.start(proposer, session, request.request)
        truncated = len(request.request) > MAX_REQUEST_CHARS
        return SessionResponse(
            session_id=session,
            proposer_id=proposer,
            event_id=event.envelope.event_id,
            truncated=truncated,
        )

    def observe(
        self, session_id: str, request: ToolResultRequest, caller: Caller | None = None
    ) -> ToolResultResponse:
        """Record a tool output the agent saw in the session."""
        proposer = proposer_of(request, caller)
        sessions = self.guard.sessions
        event = sessions.observe(
            proposer, session_id, request.tool, request.output, request.proposal_id
        )
        context = sessions.context(proposer, session_id)
        return ToolResultResponse(
            session_id=session_id,
            event_id=event.envelope.event_id,
            truncated=event.truncated,
            outputs=len(context.outputs),
        )

    def report(self, request: IncidentRequest, caller: Caller | None = None) -> IncidentResponse:
        """An incident about a proposal this endpoint decided (the last ones are kept), reported
        in the caller's name."""
        decided = self._recent.get(request.proposal_id)
        if decided is None:
            raise UnknownProposalError(
                f"proposal {request.proposal_id} was not decided here recently; report it "
                "with `flywheel incident report` (which finds it on the proposals topic)"
            )
        incident = incident_report(
            decided.proposal,
            kind=request.kind,
            severity=request.severity,
            description=request.description,
            reporter=ANONYMOUS_REPORTER if caller is None else caller.name,
        )
        publisher = self.guard.publisher
        if publisher is not None:
            publisher.submit([self.builder.record(INCIDENTS_TOPIC, incident)])
        return IncidentResponse(incident_id=incident.incident_id, proposal_id=request.proposal_id)

    def accept(self, request: ProposalRequest, caller: Caller | None = None) -> AcceptedResponse:
        proposal, _ = validation.build_proposal(
            proposer_id=proposer_of(request, caller),
            session_id=_session(request),
            tool=request.tool,
            arguments=request.arguments,
            reasoning=request.reasoning,
            risk=request.risk_fields(),
            parent_proposal_id=request.parent_proposal_id,
            default_risk=DEFAULT_RISK,
            max_bytes=self.settings.max_event_bytes,
        )
        trace_id = uuid.uuid4().hex
        record = validation.encoded(lambda: self.builder.proposal(proposal, trace_id))
        self.ingest.submit(record)
        return AcceptedResponse(proposal_id=proposal.proposal_id, topic=record.topic)

    def oracle(self) -> OracleResponse:
        oracle = self.enforcer.oracle
        policy = getattr(self.enforcer, "policy", None)
        following = {}
        if self.following is not None:
            following = {
                "candidate": candidate_of(self.enforcer),
                "releases": self.following.report(),
            }
        return OracleResponse(
            oracle_version=oracle.version,
            oracle_digest=oracle.digest,
            policy_version=None if policy is None else str(policy.version),
            **following,
        )

    def health(self) -> HealthResponse:
        broker = self._broker_health()
        publisher = self.guard.publisher
        stats = None if publisher is None else publisher.stats
        journal_bytes = 0 if publisher is None else publisher.journal.size
        report = PublisherHealth(
            enabled=publisher is not None,
            backlog=0 if publisher is None else publisher.pending,
            journal_bytes=journal_bytes,
            published=0 if stats is None else stats.published,
            journaled=0 if stats is None else stats.journaled,
            ingest_queued=self.ingest.queued,
            ingest_failed=self.ingest.failed,
        )
        following = self.following is None or not self.following.degraded
        healthy = broker.reachable is not False and journal_bytes == 0 and following
        return HealthResponse(
            status="ok" if healthy else "degraded", broker=broker, publisher=report
        )

    def _broker_health(self) -> BrokerHealth:
        servers = self.settings.effective_bootstrap_servers
        if not self.publish:
            return BrokerHealth(checked=False, reachable=None, bootstrap_servers=servers)
        if self._admin is None:
            self._admin = quiet_admin_client(self.settings)
        try:
            self._admin.list_topics(timeout=BROKER_CHECK_TIMEOUT_S)
        except KafkaException as exc:
            return BrokerHealth(
                checked=True, reachable=False, bootstrap_servers=servers, error=str(exc)
            )
        return BrokerHealth(checked=True, reachable=True, bootstrap_servers=servers)

    def close(self, timeout: float = 30.0) -> bool:
        """Deliver what is left (decisions and proposals); True if nothing stayed behind."""
        ingested = self.ingest.close(timeout)
        return self.guard.close(timeout) and ingested
