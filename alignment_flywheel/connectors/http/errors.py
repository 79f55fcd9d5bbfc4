"""Errors of the HTTP ingest endpoint and how each becomes an answer.

Rules (every error answer has the body ``{"error": {"type", "field", "message"}}``):

* 400 ``malformed_body``: the body is not JSON (or nests too deeply to be read at all), or not
  strict JSON (:mod:`.strict_json`: a duplicate key, a lone surrogate, NaN or Infinity, bytes
  that are not UTF-8); ``field`` names where, when it can.
* 401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``): no API token, or an unknown one.
* 403 ``forbidden``: the token lacks the endpoint's kind, or names another proposer.
* 429 ``rate_limited`` (with ``Retry-After`` in seconds): the token's identity is over its rate.
* 413 ``payload_too_large``: the body is larger than ``settings.max_event_bytes``, checked before it
  is parsed; or the proposal would be (:class:`OversizedProposalError`).
* 422 ``invalid_field``: a field is missing, of the wrong type or unknown (FastAPI's validation),
  or the SDK's edge validation refused it (:class:`InvalidProposalError`, ``field`` names it).
* 422 ``<snake_case of the class>``: any other :class:`InvalidInputError` the enforcer raises, e.g.
  ``unknown_tool`` for ``UnknownToolError`` (field ``tool``).
* 404 ``unknown_proposal``: an incident about a proposal not decided here recently.
* 503 ``buffer_full``: :class:`IngestBufferFull`, the fire-and-forget buffer is full (or the
  proposals topic's partition count is not known yet).
* Other HTTP errors (404, 405) keep their status with type ``http_error``. Anything else is a bug:
  500 ``internal_error``, logged with its traceback, never a silent answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alignment_flywheel.connectors.http.strict_json import StrictJsonError
from alignment_flywheel.connectors.sdk.errors import InvalidProposalError, OversizedProposalError
from alignment_flywheel.errors import InvalidInputError, TransportError, UntrustedError
from alignment_flywheel.oracle import UnknownToolError

log = logging.getLogger(__name__)


class UnknownProposalError(InvalidInputError):
    """An incident names a proposal this endpoint did not decide recently."""


_MAX_SHOWN_INPUT = 80


class IngestBufferFull(TransportError):
    """The fire-and-forget producer's local buffer stayed full for longer than the bound, or the
    cluster has not given the partition count a proposal is placed by."""


class Unauthenticated(UntrustedError):
    """No API token, or one the store does not know (revoked, mistyped)."""


class Forbidden(UntrustedError):
    """A known token used outside its kind or its proposer id; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


class RateLimited(TransportError):
    """The identity made more requests than its rate allows; retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def error_response(
    status: int,
    kind: str,
    field: str | None,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON answer of one error."""
    body = {"error": {"type": kind, "field": field, "message": message}}
    return JSONResponse(status_code=status, content=body, headers=headers)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Error")).lower()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[:_MAX_SHOWN_INPUT] + "..."


def validation_answer(exc: RequestValidationError) -> JSONResponse:
    """A FastAPI validation failure: 400 for a body that is not JSON, 422 naming the field."""
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        where = first["loc"][-1]
        problem = first.get("ctx", {}).get("error", "invalid JSON")
        return error_response(400, "malformed_body", None, f"not JSON: {problem} at {where}")
    loc = [str(part) for part in first["loc"][1:]]
    field = ".".join(loc) or "body"
    message = first["msg"]
    if first["type"] != "missing":
        message += f" (got {_shown(first.get('input'))})"
    return error_response(422, "invalid_field", field, message)


def input_answer(exc: InvalidInputError) -> JSONResponse:
    """An input refused by the SDK's validation or the enforcer."""
    if isinstance(exc, OversizedProposalError):
        return error_response(413, "payload_too_large", exc.field, exc.problem)
    if isinstance(exc, InvalidProposalError):
        return error_response(422, "invalid_field", exc.field, exc.problem)
    if isinstance(exc, UnknownProposalError):
        return error_response(404, "unknown_proposal", "proposal_id", str(exc))
    if isinstance(exc, UnknownToolError):
        return error_response(422, "unknown_tool", "tool", str(exc))
    return error_response(422, _snake(type(exc).__name__), getattr(exc, "field", None), str(exc))


def http_answer(exc: HTTPException) -> JSONResponse:
    """A Starlette HTTP error: 400 for a body FastAPI could not read, else its own status."""
    if exc.status_code == 400:
        cause = exc.__cause__
        if isinstance(cause, StrictJsonError):
            return error_response(400, "malformed_body", cause.field, cause.problem)
        why = "JSON nested too deeply" if isinstance(cause, RecursionError) else exc.detail
        return error_response(400, "malformed_body", None, f"unreadable body: {why}")
    return error_response(exc.status_code, "http_error", None, str(exc.detail))


def refusal_answer(exc: Exception) -> JSONResponse:
    """A request refused by the API tokens or the rate limit."""
    if isinstance(exc, Forbidden):
        return error_response(403, "forbidden", exc.field, str(exc))
    if isinstance(exc, RateLimited):
        retry = {"Retry-After": str(exc.retry_after_s)}
        return error_response(429, "rate_limited", None, str(exc), retry)
    challenge = {"WWW-Authenticate": "Bearer"}
    return error_response(401, "unauthorized", None, str(exc), challenge)


def install_handlers(app: FastAPI) -> None:
    """Register the answers above on ``app``."""

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_answer(exc)

    async def on_input(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidInputError)
        return input_answer(exc)

    async def on_buffer_full(_: Request, exc: Exception) -> JSONResponse:
        return error_response(503, "buffer_full", None, str(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return http_answer(exc)

    async def on_refused(_: Request, exc: Exception) -> JSONResponse:
        return refusal_answer(exc)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", None, f"{type(exc).__name__}: {exc}")

    for refusal in (Unauthenticated, Forbidden, RateLimited):
        app.add_exception_handler(refusal, on_refused)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(InvalidInputError, on_input)
    app.add_exception_handler(IngestBufferFull, on_buffer_full)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_bug)


class BodyLimit:
    """ASGI middleware: answers 413 to a body over ``limit`` bytes before anything parses it.

    Reads the whole body (at most ``limit`` bytes are kept) and hands it on in one message."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._too_large(scope, receive, send)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the body is larger than max_event_bytes ({self.limit} bytes)"
        answer = error_response(413, "payload_too_large", "body", message)
        await answer(scope, receive, send)
