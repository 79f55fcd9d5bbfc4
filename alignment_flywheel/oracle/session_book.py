"""Session contexts as the gate keeps them: each session's events, folded on their partition.

A pure state machine over two mappings (faust tables in the gate, dicts in replay).

The proposals topic carries the session events (``SessionStarted``, ``ToolResultObserved``) beside
the proposals, every record of one session on one partition (producers place them by the session
key, :mod:`alignment_flywheel.kafka.placement`). Rules:

* A session is tracked **per partition**: :class:`SessionBook` keys it by (proposer id, session
  id, partition) and folds, with :func:`~alignment_flywheel.oracle.provenance.step`, the events
  read on that partition, in offset order. A proposal is decided in the context of its session on
  its own partition (:meth:`SessionBook.context`), or else in the empty context
  (:data:`~alignment_flywheel.oracle.provenance.EMPTY`: every value that is not trivial has the
  source ``none``) when that partition holds no event of the session: never started, expired,
  or its events placed elsewhere by a producer that does not follow the placement rule. Missing
  events make the gate stricter, never looser.
* Storage (two tables, changelog-backed, written only while the gate handles a record of the
  key's partition, so each key's changelog records stay on that partition): ``heads`` maps the
  session to a small JSON head (the last applied offset, the last use in stream time, the ids of
  the events its context is folded from, the ids of the last :data:`MAX_SEEN` events applied);
  ``events`` maps (session, event id) to the event's record bytes, as read. Only the events the
  context still holds are kept: a ``SessionStarted`` deletes the earlier ones, and the outputs the
  fold's bounds drop (the last 64 outputs, 256 Ki characters) are deleted with them. The context
  itself is derived: rebuilt by folding the kept events (the same context, since they are within
  the bounds) and cached in memory (:data:`MAX_CACHED` contexts, :data:`MAX_CACHED_CHARS`
  characters; least recently used first out), the cache checked against the head's offset.
* Idempotent: an event at or before the head's last applied offset (a record redelivered after a
  crash or rebalance) is skipped, and so is an event whose id is among the last :data:`MAX_SEEN`
  applied (a duplicate a producer sent twice, e.g. the SDK replaying its journal).
* Expiry: a session not used for :data:`SESSION_IDLE_MS` of stream time (the newest record
  timestamp the worker has seen on the partition; downtime expires nothing) is deleted, by a sweep
  of that partition at most every :data:`SWEEP_EVERY_S` seconds while a record of it is handled.
  An event uses the session, and so does a proposal decided in it (its head rewritten at most
  every :data:`RENEW_EVERY_MS` of stream time).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import CodecError
from alignment_flywheel.events import SessionStarted, ToolResultObserved
from alignment_flywheel.oracle.provenance import EMPTY, SessionContext, SessionEvent, fold, step

SESSION_EVENTS = frozenset({"SessionStarted", "ToolResultObserved"})
"""The event types of a session, beside the proposals on their topic."""


def session_event(codec: EventCodec, raw: bytes) -> SessionEvent:
    """A session event's model; CodecError when the bytes hold another event."""
    return session_model(codec.decode(raw))


def session_model(event: Any) -> SessionEvent:
    """``event`` as a session event; CodecError when it is another event."""
    if not isinstance(event, SessionStarted | ToolResultObserved):
        raise CodecError(f"{type(event).__name__} is not a session event")
    return event


SESSION_IDLE_MS = 3_600_000
RENEW_EVERY_MS = 60_000
SWEEP_EVERY_S = 60.0
MAX_SEEN = 128
MAX_CACHED = 10_000
MAX_CACHED_CHARS = 32 * 2**20
MAX_NAMES = 8192
Decode = Callable[[bytes], SessionEvent]


def stamp_ms(message: Any) -> int:
    """A faust record's timestamp (seconds, a float) in milliseconds."""
    return int((message.timestamp or 0.0) * 1000)


@lru_cache(maxsize=MAX_NAMES)
def session_name(proposer_id: str, session_id: str, partition: int) -> str:
    """The table key of a session on a partition (the last :data:`MAX_NAMES` remembered: the
    gate asks for it once per proposal)."""
    return json.dumps(
        [proposer_id, session_id, partition], ensure_ascii=False, separators=(",", ":")
    )


def _event_name(session: str, event_id: str) -> str:
    return f"{session}#{event_id}"


@dataclass
class Head:
    """What the ``heads`` table holds per session (see the module rules)."""

    partition: int
    offset: int
    used_ms: int
    started: str | None = None
    outputs: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def held(self) -> list[str]:
        """The ids of the events the context is folded from, in order."""
        return ([] if self.started is None else [self.started]) + self.outputs

    def dump(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def load(cls, raw: bytes) -> Head:
        return cls(**json.loads(raw))


class ContextCache:
    """Derived contexts by session, with the offset they were folded to; bounded LRU."""

    def __init__(self, max_items: int = MAX_CACHED, max_chars: int = MAX_CACHED_CHARS) -> None:
        self.max_items, self.max_chars = max_items, max_chars
        self._items: OrderedDict[str, tuple[int, SessionContext]] = OrderedDict()
        self._chars = 0

    def get(self, name: str, offset: int) -> SessionContext | None:
        found = self._items.get(name)
        if found is None or found[0] != offset:
            return None
        self._items.move_to_end(name)
        return found[1]

    def put(self, name: str, offset: int, context: SessionContext) -> None:
        self.drop(name)
        self._items[name] = (offset, context)
        self._chars += context.size
        while len(self._items) > 1 and (
            len(self._items) > self.max_items or self._chars > self.max_chars
        ):
            self.drop(next(iter(self._items)))

    def drop(self, name: str) -> None:
        found = self._items.pop(name, None)
        if found is not None:
            self._chars -= found[1].size


class SessionBook:
    """Session contexts over two tables (any mutable mappings; the gate gives faust tables)."""

    def __init__(
        self,
        heads: MutableMapping[str, bytes],
        events: MutableMapping[str, bytes],
        decode: Decode,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.heads, self.events = heads, events
        self._decode = decode
        self._clock = clock
        self._cache = ContextCache()
        self._stream_ms: dict[int, int] = {}
        self._swept: dict[int, float] = {}

    def apply(
        self, event: SessionEvent, raw: bytes, partition: int, offset: int, timestamp_ms: int
    ) -> bool:
        """Fold one session event read at (partition, offset); False when it was skipped."""
        self._tick(partition, timestamp_ms)
        name = session_name(event.proposer_id, event.session_id, partition)
        head = self._head(name)
        event_id = str(event.envelope.event_id)
        if head is not None and (offset <= head.offset or event_id in head.seen):
            return False
        started = isinstance(event, SessionStarted)
        context = EMPTY if head is None or started else self._context(name, head)
        if head is None:
            head = Head(partition, offset, timestamp_ms)
        after = step(context, event)
        self._keep(name, head, event_id, raw, after=after, started=started)
        head.offset, head.used_ms = offset, max(head.used_ms, timestamp_ms)
        head.seen = [*head.seen, event_id][-MAX_SEEN:]
        self.heads[name] = head.dump()
        self._cache.put(name, offset, after)
        return True

    def context(
        self, proposer_id: str, session_id: str, partition: int, timestamp_ms: int
    ) -> SessionContext | None:
        """The context of the session on ``partition`` (renewing its use); None when the partition
        holds no event of it (the gate then decides in :data:`EMPTY`)."""
        self._tick(partition, timestamp_ms)
        name = session_name(proposer_id, session_id, partition)
        head = self._head(name)
        if head is None:
            return None
        if timestamp_ms - head.used_ms >= RENEW_EVERY_MS:
            head.used_ms = timestamp_ms
            self.heads[name] = head.dump()
        return self._context(name, head)

    def sweep(self, partition: int) -> int:
        """Delete the partition's idle sessions (at most every :data:`SWEEP_EVERY_S`); how many.
        Call it only while handling a record of ``partition``."""
        now = self._clock()
        last = self._swept.get(partition)
        if last is not None and now - last < SWEEP_EVERY_S:
            return 0
        self._swept[partition] = now
        horizon = self._stream_ms.get(partition, 0) - SESSION_IDLE_MS
        idle = []
        mine = f",{partition}]"
        for name, raw in list(self.heads.items()):
            if not name.endswith(mine):
                continue
            head = Head.load(raw)
            if head.partition == partition and head.used_ms < horizon:
                idle.append((name, head))
        for name, head in idle:
            self._forget(name, head.held())
            del self.heads[name]
            self._cache.drop(name)
        return len(idle)

    def _tick(self, partition: int, timestamp_ms: int) -> None:
        if timestamp_ms > self._stream_ms.get(partition, 0):
            self._stream_ms[partition] = timestamp_ms

    def _head(self, name: str) -> Head | None:
        raw = self.heads.get(name)
        return None if raw is None else Head.load(raw)

    def _context(self, name: str, head: Head) -> SessionContext:
        cached = self._cache.get(name, head.offset)
        if cached is not None:
            return cached
        kept = {i: self.events.get(_event_name(name, i)) for i in head.held()}
        if head.started is not None and kept[head.started] is None:
            head.started = None  # never expected (same partition, ordered): held ids stay true
        head.outputs = [i for i in head.outputs if kept[i] is not None]
        context = fold(self._decode(raw) for raw in kept.values() if raw is not None)
        self._cache.put(name, head.offset, context)
        return context

    def _keep(
        self,
        name: str,
        head: Head,
        event_id: str,
        raw: bytes,
        *,
        after: SessionContext,
        started: bool,
    ) -> None:
        """Store the event and delete the ones the new context no longer holds."""
        if started:
            self._forget(name, head.held())
            head.started, head.outputs = event_id, []
        else:
            outputs = [*head.outputs, event_id]
            dropped = len(outputs) - len(after.outputs)
            self._forget(name, outputs[:dropped])
            head.outputs = outputs[dropped:]
        self.events[_event_name(name, event_id)] = raw

    def _forget(self, name: str, event_ids: list[str]) -> None:
        for event_id in event_ids:
            key = _event_name(name, event_id)
            if key in self.events:
                del self.events[key]
