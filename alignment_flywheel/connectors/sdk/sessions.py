"""Session context in process: the user's request and the tool outputs an agent saw, per session.

Rules:

* :class:`SessionStore` keeps one :class:`~alignment_flywheel.oracle.provenance.SessionContext`
  per (proposer id, session id), folded with :func:`~alignment_flywheel.oracle.provenance.step`
  from the session events produced here, in the order they are produced. Keying by the proposer
  too means a proposer can never feed or read the context of another proposer's session.
* Bounds: at most ``max_sessions`` contexts holding at most ``max_chars`` characters of requests
  and outputs together (the least recently used context is dropped first; one context holds at
  most about 300,000, see :mod:`~alignment_flywheel.oracle.provenance`), and a context not used (by
  an event or a decision) for ``ttl_s`` seconds is dropped. A session without a context (never
  started, dropped) is decided in the empty context, as the gate decides a session it has no
  event of: every value that is not trivial has no source (``["none"]``). Stricter, never looser.
* :class:`SessionRecorder` turns calls into events, folds them into the store and hands their
  records to the publisher: ``start`` gives a ``SessionStarted`` (the request cut to
  :data:`~alignment_flywheel.events.MAX_REQUEST_CHARS` characters: values only in the cut part then
  have no ``user`` source), ``observe`` a ``ToolResultObserved`` (the output cut to
  :data:`~alignment_flywheel.events.MAX_OUTPUT_CHARS` characters, ``truncated`` set). The tool name
  is checked like a proposal's. Both are keyed by the session id and go to the proposals topic
  without the ``flywheel-decided-by`` header (they are not decisions), on the partition of the
  session (:mod:`alignment_flywheel.kafka.placement`), where its proposals go too: the gate
  folds them into the same context for the proposals it decides.
"""

from __future__ import annotations

import inspect
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from alignment_flywheel.connectors.sdk import validation
from alignment_flywheel.connectors.sdk.errors import InvalidProposalError
from alignment_flywheel.connectors.sdk.journal import JournalRecord
from alignment_flywheel.connectors.sdk.records import RecordBuilder
from alignment_flywheel.errors import CodecError
from alignment_flywheel.events import (
    MAX_OUTPUT_CHARS,
    MAX_REQUEST_CHARS,
    SessionStarted,
    ToolResultObserved,
    new_envelope,
)
from alignment_flywheel.oracle.provenance import EMPTY, SessionContext, SessionEvent, step

MAX_SESSIONS = 10_000
MAX_STORED_CHARS = 32 * 2**20
SESSION_TTL_S = 3600.0
SessionKey = tuple[str, str]
"""(proposer id, session id)."""
E = TypeVar("E", SessionStarted, ToolResultObserved)


class SessionStore:
    """Session contexts by (proposer, session), bounded as the module docstring says.
    Thread-safe."""

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        ttl_s: float = SESSION_TTL_S,
        max_chars: int = MAX_STORED_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or ttl_s <= 0 or max_chars < 1:
            raise ValueError("a session store needs max_sessions, ttl_s and max_chars over 0")
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self.max_chars = max_chars
        self._clock = clock
        self._contexts: OrderedDict[SessionKey, tuple[SessionContext, float]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._contexts)

    def get(self, key: SessionKey) -> SessionContext | None:
        """The session's context (its use renewed), or None when there is none."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            found = self._contexts.get(key)
            if found is None:
                return None
            self._put(key, found[0], now)
            return found[0]

    def apply(self, key: SessionKey, event: SessionEvent) -> SessionContext:
        """Fold one event of the session into its context; the new context."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            found = self._contexts.get(key)
            context = step(EMPTY if found is None else found[0], event)
            self._put(key, context, now)
            return context

    @property
    def chars(self) -> int:
        """Characters of requests and outputs held, over every context."""
        return self._chars

    def _put(self, key: SessionKey, context: SessionContext, now: float) -> None:
        old = self._contexts.get(key)
        self._chars += context.size - (0 if old is None else old[0].size)
        self._contexts[key] = (context, now)
        self._contexts.move_to_end(key)
        while len(self._contexts) > 1 and (
            len(self._contexts) > self.max_sessions or self._chars > self.max_chars
        ):
            self._drop_oldest()

    def _expire(self, now: float) -> None:
        while self._contexts:
            _, (_, used) = next(iter(self._contexts.items()))
            if now - used < self.ttl_s:
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, (context, _) = self._contexts.popitem(last=False)
        self._chars -= context.size


class SessionRecorder:
    """Session events: built, folded into the store, their records handed to ``publish``."""

    def __init__(
        self,
        store: SessionStore,
        builder: RecordBuilder,
        producer: str,
        publish: Callable[[list[JournalRecord]], None],
    ) -> None:
        self.store = store
        self._builder = builder
        self._producer = producer
        self._publish = publish

    def context(self, proposer_id: str, session_id: str) -> SessionContext:
        """The context the session's next proposal is decided in (the empty one: none kept)."""
        return self.store.get((proposer_id, session_id)) or EMPTY

    def start(self, proposer_id: str, session_id: str, request: str) -> SessionStarted:
        """Start (or restart) the session with the user's request."""
        if not isinstance(request, str):
            raise InvalidProposalError("request", f"must be a string, got {type(request).__name__}")
        event = SessionStarted(
            envelope=new_envelope(self._producer, session_id),
            session_id=session_id,
            proposer_id=_proposer(proposer_id),
            request=request[:MAX_REQUEST_CHARS],
        )
        return self._record(proposer_id, event, "request")

    def observe(
        self,
        proposer_id: str,
        session_id: str,
        tool: str,
        output: str,
        proposal_id: uuid.UUID | None = None,
    ) -> ToolResultObserved:
        """Record that the agent saw ``output`` from ``tool`` in the session."""
        validation.check_tool(tool)
        if not isinstance(output, str):
            raise InvalidProposalError("output", f"must be a string, got {type(output).__name__}")
        event = ToolResultObserved(
            envelope=new_envelope(self._producer, session_id),
            session_id=session_id,
            proposer_id=_proposer(proposer_id),
            proposal_id=proposal_id,
            tool=tool,
            output=output[:MAX_OUTPUT_CHARS],
            truncated=len(output) > MAX_OUTPUT_CHARS,
        )
        return self._record(proposer_id, event, "output")

    def _record(self, proposer_id: str, event: E, field: str) -> E:
        topic = self._builder.topics.proposals
        try:
            record = self._builder.record(topic, event, headers=())
        except CodecError as exc:
            raise InvalidProposalError(field, f"the event cannot be published: {exc}") from None
        self.store.apply((proposer_id, event.session_id), event)
        self._publish([record])
        return event


def _proposer(proposer_id: str) -> str:
    if not proposer_id:
        raise InvalidProposalError("proposer_id", "must not be empty")
    return proposer_id


def takes_keyword(function: Callable[..., Any], name: str) -> bool:
    """True when ``function`` has a parameter ``name`` (a decider's ``session``)."""
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
