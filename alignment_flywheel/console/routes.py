"""The review console's routes, mounted on the HTTP app under ``/console``.

Rules:

* Login (``POST /console/login``) is limited per name, per client address and across names,
  and its password hashing runs on its own bounded executor (:mod:`.login`): a spray of logins
  never takes the threads that decide proposals. A login refused by a limit is answered after
  ``ConsoleOptions.refusal_delay_s`` (without holding a thread), so a spraying client slows down
  by itself; an address or server limit is 429 with ``Retry-After``. A form that repeats a field
  is 400.
* Pages (``GET /console``) need a session: without one they redirect (303) to
  ``/console/login``. API calls (``/console/api/...``) without a session answer 401; a POST
  without the session's CSRF token answers 403; a login form posted from another origin (its
  ``Origin`` header names another host, or is ``null``) answers 403. Errors have the ingest
  endpoint's body ``{"error": {"type", "field", "message"}}``: 400 for bad input (unknown review,
  empty reason, a stable rollback without the releaser's signature), 403 for a signature that
  does not verify, 503 when Kafka does not answer.
* What the page signs comes from the server: ``GET /api/patches/{id}/signing-request`` for an
  approval, ``POST /api/releases/rollback/signing-request`` (``{reason, stable}``) for a rollback;
  the page posts the signatures back with the body SHA-256 it showed (see :mod:`.signing`).
* The dashboard reads its three sections (reviews, patches, releases) in parallel; a section
  whose read fails (Kafka down, no oracle file) shows why, the others still render.
* Every decision is made in the name of the logged-in operator (see :mod:`.desk`).
* The routes stay out of the OpenAPI spec (``include_in_schema=False``): the spec describes the
  ingest API only. Handlers are plain ``def`` (they read Kafka) and run in the thread pool, except
  the login, which awaits its own executor. The app passes its route class (strict JSON bodies).
* Every answer carries a strict Content-Security-Policy (scripts only from ``/console/static``),
  ``X-Frame-Options: DENY``, ``no-store`` caching and no referrer to other sites (same-origin
  referrers keep the browser's ``Origin`` header on the login form).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import FormData

from alignment_flywheel.config import Settings
from alignment_flywheel.console import views
from alignment_flywheel.console.auth import (
    COOKIE,
    ConsoleAuthError,
    NameLocked,
    Operators,
    Session,
    Sessions,
    check_csrf,
    operators_path,
    session_key_path,
    session_secret,
)
from alignment_flywheel.console.charts import CHARTS, ChartUnavailableError, chart_png
from alignment_flywheel.console.desk import ConsoleDesk, ConsoleTopics, Unavailable
from alignment_flywheel.console.login import LoginLimited, LoginLimits, PasswordChecker
from alignment_flywheel.console.releases import release_routes
from alignment_flywheel.console.signing import signing_request
from alignment_flywheel.errors import FlywheelError, InvalidInputError, TransportError
from alignment_flywheel.events import ReviewOutcome
from alignment_flywheel.patches.model import patch_body

PREFIX = "/console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ConsoleOptions:
    """Where the operators are, which topics the console reads, how long a session lasts, how
    long a login refused by a limit waits for its answer."""

    operators: Path | None = None
    topics: ConsoleTopics = field(default_factory=ConsoleTopics)
    session_ttl_s: int = 8 * 3600
    refusal_delay_s: float = 1.0


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: ReviewOutcome
    reason: str


class ApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str
    body_sha256: str


def error_response(status: int, kind: str, field: str | None, message: str) -> JSONResponse:
    """An error answer shaped like the ingest endpoint's."""
    body = {"error": {"type": kind, "field": field, "message": message}}
    return JSONResponse(status_code=status, content=body, headers=HEADERS)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def _fail(exc: Exception) -> JSONResponse:
    if isinstance(exc, ConsoleAuthError):
        status = 403 if "CSRF" in str(exc) else 401
        return error_response(
            status, "unauthorized" if status == 401 else "forbidden", None, str(exc)
        )
    if isinstance(exc, InvalidInputError):
        return error_response(400, "invalid_input", None, str(exc))
    if isinstance(exc, TransportError):
        return error_response(503, "unavailable", None, str(exc))
    return error_response(403, "untrusted", None, str(exc))


def console_router(
    settings: Settings,
    options: ConsoleOptions | None = None,
    *,
    route_class: type[APIRoute] = APIRoute,
) -> APIRouter:
    """The console's routes for ``settings``."""
    options = options or ConsoleOptions()
    operators = Operators(options.operators or operators_path(settings))
    sessions = Sessions(
        secret=session_secret(session_key_path(settings)), ttl_s=options.session_ttl_s
    )
    desk = ConsoleDesk(settings, options.topics)
    router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=route_class)

    def session_of(request: Request) -> Session:
        return sessions.read(request.cookies.get(COOKIE))

    def api(request: Request, action: Callable[[Session], Any], *, post: bool = True) -> Response:
        try:
            session = session_of(request)
            if post:
                check_csrf(session, request.headers.get("X-CSRF-Token"))
            result = action(session)
        except FlywheelError as exc:
            return _fail(exc)
        return JSONResponse(result, headers=HEADERS)

    _login_routes(router, operators, sessions, options.refusal_delay_s)
    _page_routes(router, desk, session_of)
    _api_routes(router, desk, operators, api)
    release_routes(router, desk, operators, api)
    _asset_routes(router, settings, session_of)
    return router


def _login_routes(
    router: APIRouter, operators: Operators, sessions: Sessions, refusal_delay_s: float
) -> None:
    limits = LoginLimits()
    checker = PasswordChecker(operators)

    @router.get("/login")
    def login_form() -> Response:
        return _html(views.login_page())

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not _same_origin(request):
            return _html(views.login_page("cross-site login refused"), status=403)
        try:
            name, password = _credentials(await request.form())
        except InvalidInputError as exc:
            return _html(views.login_page(str(exc)), status=400)
        address = request.client.host if request.client is not None else "unknown"
        try:
            limits.check(name, address)
            operator = await checker.check(name, password)
        except (LoginLimited, NameLocked) as exc:
            await asyncio.sleep(refusal_delay_s)
            return _refused(exc)
        except ConsoleAuthError as exc:
            limits.failed(name, address)
            return _html(views.login_page(str(exc)), status=401)
        limits.succeeded(name)
        return _logged_in(request, sessions, operator)


def _credentials(form: FormData) -> tuple[str, str]:
    """The name and password of a login form; InvalidInputError when a field is repeated."""
    for key in form:
        if len(form.getlist(key)) > 1:
            raise InvalidInputError(f"the login form repeats the field {key!r}")
    name, password = form.get("name", ""), form.get("password", "")
    if not isinstance(name, str) or not isinstance(password, str):
        raise InvalidInputError("the login form has a file where text belongs")
    return name, password


def _refused(exc: ConsoleAuthError) -> Response:
    if not isinstance(exc, LoginLimited):
        return _html(views.login_page(str(exc)), status=401)
    response = _html(views.login_page(str(exc)), status=429)
    response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return response


def _logged_in(request: Request, sessions: Sessions, operator: str) -> Response:
    _, cookie = sessions.issue(operator)
    response = RedirectResponse(PREFIX, status_code=303, headers=HEADERS)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=sessions.ttl_s,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response


def _page_routes(
    router: APIRouter, desk: ConsoleDesk, session_of: Callable[[Request], Session]
) -> None:
    @router.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        try:
            check_csrf(session_of(request), csrf)
        except ConsoleAuthError as exc:
            return _fail(exc)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=HEADERS)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    @router.get("")
    def dashboard(request: Request) -> Response:
        try:
            session = session_of(request)
        except ConsoleAuthError:
            return RedirectResponse(f"{PREFIX}/login", status_code=303, headers=HEADERS)
        with ThreadPoolExecutor(max_workers=3) as pool:
            reviews = pool.submit(_read, desk.pending_reviews)
            patches = pool.submit(_read, desk.awaiting_patches)
            releases = pool.submit(_read, desk.releases)
            return _html(
                views.dashboard(
                    operator=session.operator,
                    csrf=session.csrf,
                    reviews=reviews.result(),
                    patches=patches.result(),
                    releases=releases.result(),
                )
            )


def _same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (login CSRF)."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _read(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except FlywheelError as exc:
        return Unavailable(str(exc))


def _api_routes(
    router: APIRouter, desk: ConsoleDesk, operators: Operators, api: Callable[..., Response]
) -> None:
    @router.post("/api/reviews/{review_id}")
    def decide(review_id: uuid.UUID, body: ReviewBody, request: Request) -> Response:
        def act(session: Session) -> dict[str, Any]:
            decided = desk.decide(
                review_id, body.outcome, operator=session.operator, reason=body.reason
            )
            return {
                "review_id": str(decided.review_id),
                "outcome": decided.outcome.value,
                "reviewer": decided.reviewer,
            }

        return api(request, act)

    @router.get("/api/patches/{patch_id}/signing-request")
    def to_sign(patch_id: uuid.UUID, request: Request) -> Response:
        return api(request, lambda _: signing_request(desk.patch(patch_id)[1]), post=False)

    @router.post("/api/patches/{patch_id}/approvals")
    def approve(patch_id: uuid.UUID, body: ApprovalBody, request: Request) -> Response:
        def act(session: Session) -> dict[str, Any]:
            _, patch = desk.patch(patch_id)
            if hashlib.sha256(patch_body(patch)).hexdigest() != body.body_sha256:
                raise InvalidInputError("the patch is not the one the page showed; reload")
            approval = desk.approve_patch(
                patch_id,
                body.signature,
                operator=session.operator,
                keys=operators.keys_of(session.operator),
            )
            return {
                "patch_id": str(approval.patch_id),
                "key_id": approval.key_id,
                "role": approval.role,
                "operator": session.operator,
            }

        return api(request, act)


def _asset_routes(
    router: APIRouter, settings: Settings, session_of: Callable[[Request], Session]
) -> None:
    script = resources.files(__package__).joinpath("static", "console.js").read_bytes()

    @router.get("/static/console.js")
    def console_js() -> Response:
        return Response(script, media_type="text/javascript", headers=HEADERS)

    @router.get("/charts/{name}.png")
    def chart(name: str, request: Request) -> Response:
        try:
            session_of(request)
        except ConsoleAuthError as exc:
            return _fail(exc)
        if name not in CHARTS:
            return error_response(404, "unknown_chart", "name", f"no chart {name!r}")
        try:
            png = chart_png(settings, name)
        except ChartUnavailableError as exc:
            return error_response(503, exc.kind, None, str(exc))
        return Response(png, media_type="image/png", headers=HEADERS)
