"""The HTTP edge before a handler runs: strict JSON bodies, API tokens, a rate per identity.

Rules:

* Every route of the app (the console's too) is an :class:`EdgeRoute`: its request body is read
  with :func:`~.strict_json.loads_strict`, never with the lenient ``json.loads``.
* An endpoint marked ``@requires("proposer")`` or ``@requires("reporter")`` needs
  ``Authorization: Bearer <token>`` when the app has an :class:`ApiAuth`. The token is checked
  from the headers alone, before the body is read or validated: no token or an unknown one is
  :class:`Unauthenticated` (401), a token without the kind is :class:`Forbidden` (403), an
  identity over its rate is :class:`RateLimited` (429 with ``Retry-After``). The admitted
  :class:`~.tokens.Caller` is in the request scope (:func:`caller_of`).
* The rate is a token bucket per identity (the token's name): ``rate_per_s`` requests a second
  on average, ``burst`` at once.
* Without an :class:`ApiAuth` (``create_http_app(auth=None)``: tests, ``--insecure-no-auth``)
  nothing is checked and :func:`caller_of` is None.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http.errors import Forbidden, RateLimited, Unauthenticated
from alignment_flywheel.connectors.http.strict_json import loads_strict
from alignment_flywheel.connectors.http.tokens import Caller, TokenStore

Kind = Literal["proposer", "reporter"]
CALLER = "flywheel.caller"
_REQUIRES = "__flywheel_requires__"
F = TypeVar("F", bound=Callable[..., Any])

API_TOKEN = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token (`flywheel tokens new NAME --proposer ID` or `--reporter`). "
    "401 `unauthorized` without one or with an unknown one; 403 `forbidden` when the token "
    "lacks the endpoint's kind or names another proposer; 429 `rate_limited` (with "
    "`Retry-After`) over its identity's rate.",
)


def requires(kind: Kind) -> Callable[[F], F]:
    """Mark an endpoint as needing a token of ``kind``."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _REQUIRES, kind)
        return endpoint

    return mark


class RateLimiter:
    """A token bucket per identity. Thread-safe."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, now: float | None = None) -> None:
        """Spend one request of ``name``; RateLimited when none is left."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            tokens, since = self._buckets.get(name, (float(self.burst), moment))
            tokens = min(float(self.burst), tokens + (moment - since) * self.rate_per_s)
            if tokens < 1.0:
                self._buckets[name] = (tokens, moment)
                wait = math.ceil((1.0 - tokens) / self.rate_per_s)
                raise RateLimited(f"too many requests for {name!r}; retry in {wait} s", wait)
            self._buckets[name] = (tokens - 1.0, moment)


class ApiAuth:
    """The tokens and the rate limit of the ingest endpoints."""

    def __init__(self, store: TokenStore, *, rate_per_s: float, burst: int) -> None:
        self.store = store
        self.limiter = RateLimiter(rate_per_s, burst)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiAuth:
        """The settings' token store, read once now (ConfigError when there is none)."""
        store = TokenStore(settings.effective_http_tokens_path)
        store.load()
        return cls(store, rate_per_s=settings.http_rate_per_s, burst=settings.http_rate_burst)

    def admit(self, authorization: str | None, kind: Kind) -> Caller:
        """The caller of a request's ``Authorization`` header, allowed ``kind`` and under its
        rate; Unauthenticated, Forbidden or RateLimited otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("an API token is needed: Authorization: Bearer <token>")
        caller = self.store.caller(token.strip())
        if caller is None:
            raise Unauthenticated("unknown or revoked API token")
        if (kind == "proposer" and caller.proposer is None) or (
            kind == "reporter" and not caller.reporter
        ):
            raise Forbidden(f"the token {caller.name!r} is not a {kind} token", None)
        self.limiter.take(caller.name)
        return caller


def caller_of(request: Request) -> Caller | None:
    """The caller admitted for this request (None: the app checks no tokens)."""
    caller: Caller | None = request.scope.get(CALLER)
    return caller


class StrictJsonRequest(Request):
    """A request whose JSON body is read strictly."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_strict(await self.body())
        return self._json


class EdgeRoute(APIRoute):
    """A route with a strict JSON body, and the token check of :func:`requires` before it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        kind: Kind | None = getattr(self.endpoint, _REQUIRES, None)

        async def edge(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            auth: ApiAuth | None = getattr(request.app.state, "auth", None)
            if kind is not None and auth is not None:
                strict.scope[CALLER] = auth.admit(request.headers.get("authorization"), kind)
            return await handler(strict)

        return edge
