"""The HTTP ingest endpoint: a FastAPI app for systems that are not Python.

Rules:

* ``POST /v1/decisions`` decides synchronously, in process, with the enforcer (like the SDK's
  ``Guard``) and answers with the verdict; the ProposalSubmitted, VerdictIssued (and for ESCALATE
  ReviewRequested) records are published in the background with ``flywheel-decided-by: http``.
  Kafka never delays the answer (see :mod:`alignment_flywheel.connectors.sdk.publisher`).
* ``POST /v1/proposals`` validates exactly like the decision endpoint, then hands a
  ProposalSubmitted without that header to Kafka for the gate to decide: 202, or 503 when the
  local buffer stays full (:mod:`.ingest`).
* ``GET /v1/health`` and ``GET /v1/oracle`` report the broker, the backlog, the journal and the
  oracle and policy versions.
* Errors: see :mod:`.errors`. The handlers are plain ``def``: FastAPI runs them in its thread
  pool, so a decision never blocks the event loop.
* The review console (:mod:`alignment_flywheel.console`) is mounted under ``/console``, outside
  the OpenAPI spec.
* :func:`create_http_app` has no side effect beyond building the guard (and its publisher thread
  when ``publish``); the app's shutdown publishes what is left (up to :data:`CLOSE_TIMEOUT_S`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from alignment_flywheel import __version__
from alignment_flywheel.config import Settings
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
)
from alignment_flywheel.connectors.http.service import HttpService
from alignment_flywheel.connectors.sdk.decision import Decider
from alignment_flywheel.connectors.sdk.guard import Guard
from alignment_flywheel.connectors.sdk.records import DECIDED_BY_HTTP, SdkTopics
from alignment_flywheel.console.routes import ConsoleOptions, console_router

CLOSE_TIMEOUT_S = 30.0
GUARD_PROPOSER = "http-endpoint"

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON."},
    413: {"model": ErrorBody, "description": "The body or the proposal is too large."},
    422: {"model": ErrorBody, "description": "A field is missing or invalid; `field` names it."},
}


def _default_enforcer(settings: Settings) -> Decider:
    from alignment_flywheel.enforcement.enforcer import build_enforcer  # noqa: PLC0415

    return build_enforcer(settings)


def service_of(request: Request) -> HttpService:
    """The service the app was built with."""
    service: HttpService = request.app.state.service
    return service


def create_http_app(
    settings: Settings,
    *,
    enforcer: Decider | None = None,
    publish: bool = True,
    topics: SdkTopics | None = None,
    console: ConsoleOptions | None = None,
) -> FastAPI:
    """The ingest app. ``enforcer`` defaults to ``build_enforcer(settings)``; ``publish=False``
    decides and validates without any Kafka client; ``topics`` default to the catalog's;
    ``console`` configures the review console (default: operators in the state directory)."""
    enforcer = enforcer if enforcer is not None else _default_enforcer(settings)
    guard = Guard(
        settings,
        enforcer=enforcer,
        publish=publish,
        proposer_id=GUARD_PROPOSER,
        topics=topics,
        decided_by=DECIDED_BY_HTTP,
    )
    service = HttpService.build(settings, enforcer, guard, publish)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close(CLOSE_TIMEOUT_S)

    app = FastAPI(
        title="Alignment Flywheel ingest",
        version=__version__,
        description="Submit agent tool calls for a safety decision. See docs/ingest.md.",
        lifespan=lifespan,
    )
    app.state.service = service
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_event_bytes)
    _routes(app)
    app.include_router(console_router(settings, console))
    return app


def _routes(app: FastAPI) -> None:
    @app.post("/v1/decisions", responses=_ERRORS)
    def decide(body: ProposalRequest, request: Request) -> DecisionResponse:
        """Decide on one tool call now; the decision is published to Kafka in the background."""
        return service_of(request).decide(body)

    @app.post(
        "/v1/proposals",
        status_code=202,
        responses={
            **_ERRORS,
            503: {"model": ErrorBody, "description": "The local buffer is full; retry later."},
        },
    )
    def propose(body: ProposalRequest, request: Request) -> AcceptedResponse:
        """Hand a tool call to the gate on Kafka (fire-and-forget); the verdict comes later on
        the verdicts topic."""
        return service_of(request).accept(body)

    @app.post(
        "/v1/incidents",
        status_code=202,
        responses={
            **_ERRORS,
            404: {"model": ErrorBody, "description": "The proposal was not decided here recently."},
        },
    )
    def incident(body: IncidentRequest, request: Request) -> IncidentResponse:
        """Report that a decision made here was wrong (harm, or a false positive); the incident
        carries the proposal and enters the governance pipeline."""
        return service_of(request).report(body)

    @app.get("/v1/health")
    def health(request: Request) -> HealthResponse:
        """Broker reachability, the publisher's backlog and the journal's size."""
        return service_of(request).health()

    @app.get("/v1/oracle")
    def oracle(request: Request) -> OracleResponse:
        """The version and digest of the oracle and the policy version decisions are made with."""
        return service_of(request).oracle()
