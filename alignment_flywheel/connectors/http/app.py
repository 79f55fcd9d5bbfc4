"""The HTTP ingest endpoint: a FastAPI app for systems that are not Python.

Rules:

* ``POST /v1/decisions`` decides synchronously, in process, with the enforcer (like the SDK's
  ``Guard``) and answers with the verdict; the ProposalSubmitted, VerdictIssued (and for ESCALATE
  ReviewRequested) records are published in the background with ``flywheel-decided-by: http``.
  Kafka never delays the answer (see :mod:`alignment_flywheel.connectors.sdk.publisher`).
* ``POST /v1/proposals`` validates exactly like the decision endpoint, then hands a
  ProposalSubmitted without that header to Kafka for the gate to decide, on its session's
  partition: 202, or 503 when the local buffer stays full or the partition count is not known
  yet (:mod:`.ingest`).
* ``POST /v1/sessions`` starts a session with the user's request and
  ``POST /v1/sessions/{session_id}/results`` records a tool output the agent saw; a decision of
  the same proposer and session is judged in that context (rules read ``provenance``). Both
  publish their event (SessionStarted, ToolResultObserved) in the background, like decisions.
* ``GET /v1/health`` and ``GET /v1/oracle`` report the broker, the backlog, the journal and the
  oracle and policy versions.
* Errors: see :mod:`.errors`. The handlers are plain ``def``: FastAPI runs them in its thread
  pool, so a decision never blocks the event loop.
* Every body is read as strict JSON, and the POST endpoints need an API token of their kind
  (proposer: decisions, proposals and sessions; reporter: incidents) when the app has an ``auth``,
  checked before the body is read (:mod:`.auth`, :mod:`.tokens`). ``GET /v1/health`` and
  ``GET /v1/oracle`` need none. ``auth=None`` checks nothing: for tests, and for
  ``flywheel serve --insecure-no-auth`` in development.
* With ``follow`` (release topics) the endpoint follows oracle releases like the gate
  (:mod:`.releases`): the newest verified stable, and the candidate per the rollout.
* The review console (:mod:`alignment_flywheel.console`) is mounted under ``/console``, outside
  the OpenAPI spec.
* :func:`create_http_app` has no side effect beyond building the guard (and its publisher thread
  when ``publish``); the app's start reads the release topics (when ``follow``), its shutdown
  stops the follower and publishes what is left (up to :data:`CLOSE_TIMEOUT_S`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request, Security

from alignment_flywheel import __version__
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http.auth import (
    API_TOKEN,
    ApiAuth,
    EdgeRoute,
    caller_of,
    requires,
)
from alignment_flywheel.connectors.http.errors import BodyLimit, install_handlers
from alignment_flywheel.connectors.http.models import (
    AcceptedResponse,
    DecisionResponse,
    ErrorBody,
    HealthResponse,
    IncidentRequest,
    IncidentResponse,
    OracleResponse,
    ProposalRequest,
    SessionRequest,
    SessionResponse,
    ToolResultRequest,
    ToolResultResponse,
)
from alignment_flywheel.connectors.http.releases import ReleaseFollowing
from alignment_flywheel.connectors.http.service import HttpService
from alignment_flywheel.connectors.sdk.decision import SwappableDecider
from alignment_flywheel.connectors.sdk.guard import Guard
from alignment_flywheel.connectors.sdk.records import DECIDED_BY_HTTP, SdkTopics
from alignment_flywheel.console.routes import ConsoleOptions, console_router
from alignment_flywheel.release.follower import ReleaseTopics

CLOSE_TIMEOUT_S = 30.0
UNAVAILABLE = (
    "The local buffer is full, or the cluster has not yet given the partition count of the "
    "proposals topic (a proposal goes to its session's partition); retry later."
)
GUARD_PROPOSER = "http-endpoint"

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not (strict) JSON."},
    413: {"model": ErrorBody, "description": "The body or the proposal is too large."},
    422: {"model": ErrorBody, "description": "A field is missing or invalid; `field` names it."},
}


def _default_enforcer(settings: Settings) -> SwappableDecider:
    from alignment_flywheel.enforcement.enforcer import build_enforcer  # noqa: PLC0415

    return build_enforcer(settings)


def service_of(request: Request) -> HttpService:
    """The service the app was built with."""
    service: HttpService = request.app.state.service
    return service


def create_http_app(
    settings: Settings,
    *,
    enforcer: SwappableDecider | None = None,
    publish: bool = True,
    topics: SdkTopics | None = None,
    console: ConsoleOptions | None = None,
    auth: ApiAuth | None = None,
    follow: ReleaseTopics | None = None,
) -> FastAPI:
    """The ingest app. ``enforcer`` defaults to ``build_enforcer(settings)``; ``publish=False``
    decides and validates without any Kafka client; ``topics`` default to the catalog's;
    ``console`` configures the review console (default: operators in the state directory);
    ``auth`` the API tokens (None: none needed); ``follow`` the release topics to follow (None:
    the enforcer keeps its oracle)."""
    enforcer = enforcer if enforcer is not None else _default_enforcer(settings)
    guard = Guard(
        settings,
        enforcer=enforcer,
        publish=publish,
        proposer_id=GUARD_PROPOSER,
        topics=topics,
        decided_by=DECIDED_BY_HTTP,
    )
    following = None if follow is None else ReleaseFollowing(settings, follow)
    service = HttpService.build(settings, enforcer, guard, publish, following)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            if following is not None:
                await anyio.to_thread.run_sync(following.start, guard)
            yield
        finally:
            if following is not None:
                following.stop()
            service.close(CLOSE_TIMEOUT_S)

    app = FastAPI(
        title="Alignment Flywheel ingest",
        version=__version__,
        description="Submit agent tool calls for a safety decision. See docs/ingest.md.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.auth = auth
    app.router.route_class = EdgeRoute
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_event_bytes)
    _routes(app)
    app.include_router(console_router(settings, console, route_class=EdgeRoute))
    return app


_TOKEN = [Security(API_TOKEN)]


def _routes(app: FastAPI) -> None:
    @app.post("/v1/decisions", responses=_ERRORS, dependencies=_TOKEN)
    @requires("proposer")
    def decide(body: ProposalRequest, request: Request) -> DecisionResponse:
        """Decide on one tool call now; the decision is published to Kafka in the background.
        Needs a proposer token (see the `apiToken` security scheme)."""
        return service_of(request).decide(body, caller_of(request))

    @app.post(
        "/v1/proposals",
        status_code=202,
        responses={
            **_ERRORS,
            503: {"model": ErrorBody, "description": UNAVAILABLE},
        },
        dependencies=_TOKEN,
    )
    @requires("proposer")
    def propose(body: ProposalRequest, request: Request) -> AcceptedResponse:
        """Hand a tool call to the gate on Kafka (fire-and-forget); the verdict comes later on
        the verdicts topic. Needs a proposer token."""
        return service_of(request).accept(body, caller_of(request))

    @app.post("/v1/sessions", status_code=201, responses=_ERRORS, dependencies=_TOKEN)
    @requires("proposer")
    def start_session(body: SessionRequest, request: Request) -> SessionResponse:
        """Start (or restart) an agent session with the user's request; decisions of this
        proposer with the session id are then judged in its context (where each argument value
        came from). Needs a proposer token."""
        return service_of(request).start_session(body, caller_of(request))

    @app.post("/v1/sessions/{session_id}/results", responses=_ERRORS, dependencies=_TOKEN)
    @requires("proposer")
    def observe(session_id: str, body: ToolResultRequest, request: Request) -> ToolResultResponse:
        """Record the output of a tool the agent ran in the session; later decisions see which
        argument values it holds. Needs a proposer token."""
        return service_of(request).observe(session_id, body, caller_of(request))

    @app.post(
        "/v1/incidents",
        status_code=202,
        responses={
            **_ERRORS,
            404: {"model": ErrorBody, "description": "The proposal was not decided here recently."},
        },
        dependencies=_TOKEN,
    )
    @requires("reporter")
    def incident(body: IncidentRequest, request: Request) -> IncidentResponse:
        """Report that a decision made here was wrong (harm, or a false positive); the incident
        carries the proposal, names the token as its reporter and enters the governance
        pipeline. Needs a reporter token."""
        return service_of(request).report(body, caller_of(request))

    @app.get("/v1/health")
    def health(request: Request) -> HealthResponse:
        """Broker reachability, the publisher's backlog and the journal's size."""
        return service_of(request).health()

    @app.get("/v1/oracle", response_model_exclude_unset=True)
    def oracle(request: Request) -> OracleResponse:
        """The version and digest of the stable oracle and the policy version decisions are made
        with; while releases are followed, also the rollout's candidate and the follower."""
        return service_of(request).oracle()
