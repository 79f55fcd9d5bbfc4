"""The gate's session book over plain dicts: folding per partition, idempotence, bounds, expiry,
rebuilding from the tables; and where the gate sends a verdict."""

from __future__ import annotations

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.codec import default_repository
from alignment_flywheel.events import SessionStarted, ToolResultObserved, new_envelope
from alignment_flywheel.kafka.placement import partition_for, session_key
from alignment_flywheel.oracle.provenance import MAX_OUTPUTS, SessionEvent, fold, provenance
from alignment_flywheel.oracle.session_book import (
    SESSION_IDLE_MS,
    SWEEP_EVERY_S,
    SessionBook,
    session_event,
    session_name,
)
from alignment_flywheel.processors.gate_events import Placement, Route
from tests.support.samples import sample_proposal

PROPOSER, SESSION = "agent-1", "s-1"


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec(default_repository())


def started(request: str, session: str = SESSION) -> SessionStarted:
    return SessionStarted(
        envelope=new_envelope("test", session),
        session_id=session,
        proposer_id=PROPOSER,
        request=request,
    )


def observed(tool: str, output: str, session: str = SESSION) -> ToolResultObserved:
    return ToolResultObserved(
        envelope=new_envelope("test", session),
        session_id=session,
        proposer_id=PROPOSER,
        tool=tool,
        output=output,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Feed:
    """A book and the offsets of one partition, fed like the gate feeds it."""

    def __init__(self, codec: EventCodec, partition: int = 0) -> None:
        self.codec = codec
        self.heads: dict[str, bytes] = {}
        self.events: dict[str, bytes] = {}
        self.clock = Clock()
        self.book = self.new_book()
        self.partition = partition
        self.offset = 0
        self.time_ms = 1_000

    def new_book(self) -> SessionBook:
        decode = lambda raw: session_event(self.codec, raw)  # noqa: E731
        return SessionBook(self.heads, self.events, decode, clock=self.clock)

    def apply(self, event: SessionEvent, *, offset: int | None = None) -> bool:
        if offset is None:
            self.offset += 1
        at = self.offset if offset is None else offset
        raw = self.codec.encode(event)
        return self.book.apply(event, raw, self.partition, at, self.time_ms)

    def context(self, partition: int | None = None) -> object:
        where = self.partition if partition is None else partition
        return self.book.context(PROPOSER, SESSION, where, self.time_ms)


def test_a_proposal_sees_the_fold_of_its_session_on_its_partition(codec: EventCodec) -> None:
    feed = Feed(codec, partition=2)
    events: list[SessionEvent] = [started("Pay rent to DE89 3704"), observed("mail.read", "x 999")]
    for event in events:
        assert feed.apply(event)
    assert feed.context() == fold(events)
    assert feed.context(partition=3) is None
    assert feed.book.context(PROPOSER, "other", 2, feed.time_ms) is None
    found = provenance(fold(events), {"iban": "DE89 3704", "n": "999"})
    assert found == {"iban": ["user"], "n": ["text:mail.read"]}


def test_a_redelivered_or_duplicated_event_is_not_applied_twice(codec: EventCodec) -> None:
    feed = Feed(codec)
    first, output = started("hello there"), observed("mail.read", "body one")
    restart = started("a new request")
    for event in (first, output, restart):
        feed.apply(event)
    after = feed.context()
    assert not feed.apply(first, offset=1)  # redelivered after a crash: at or before the head
    assert not feed.apply(output, offset=2)
    assert not feed.apply(output)  # the same event again at a later offset (producer duplicate)
    assert feed.context() == after == fold([restart])


def test_a_restart_deletes_the_events_it_forgets(codec: EventCodec) -> None:
    feed = Feed(codec)
    feed.apply(started("one"))
    feed.apply(observed("mail.read", "two"))
    assert len(feed.events) == 2
    feed.apply(started("three"))
    assert len(feed.events) == 1 and len(feed.heads) == 1


def test_outputs_the_fold_drops_are_deleted_and_the_context_rebuilds(codec: EventCodec) -> None:
    feed = Feed(codec)
    events: list[SessionEvent] = [started("request")]
    events += [observed("t.read", f"output number {i}") for i in range(MAX_OUTPUTS + 5)]
    for event in events:
        feed.apply(event)
    assert len(feed.events) == 1 + MAX_OUTPUTS
    expected = fold(events)
    assert feed.context() == expected
    rebuilt = feed.new_book()  # a restarted worker: the tables, no cache
    assert rebuilt.context(PROPOSER, SESSION, 0, feed.time_ms) == expected


def test_a_lost_event_entry_is_left_out_of_the_rebuilt_context(codec: EventCodec) -> None:
    feed = Feed(codec)
    first, lost, kept = (observed("t.read", f"output {i}") for i in range(3))
    for event in (started("request"), first, lost, kept):
        feed.apply(event)
    del feed.events[next(key for key in feed.events if str(lost.envelope.event_id) in key)]
    feed.book = feed.new_book()
    last = observed("t.read", "output 3")
    feed.apply(last)
    assert feed.context() == fold([started("request"), first, kept, last])
    assert len(feed.events) == 4


def test_sessions_are_kept_per_partition(codec: EventCodec) -> None:
    left, right = Feed(codec, partition=0), Feed(codec, partition=1)
    right.heads, right.events = left.heads, left.events
    right.book = right.new_book()
    left.apply(started("left request"))
    right.apply(started("right request"))
    assert left.context() == fold([started("left request")])
    assert right.context() == fold([started("right request")])
    assert len(left.heads) == 2
    assert session_name(PROPOSER, SESSION, 0) in left.heads


def test_idle_sessions_expire_in_stream_time_by_a_sweep_of_their_partition(
    codec: EventCodec,
) -> None:
    feed = Feed(codec)
    feed.apply(started("old"))
    assert feed.book.sweep(0) == 0
    feed.time_ms += SESSION_IDLE_MS // 2
    assert feed.context() is not None  # a decision renews the session's use
    feed.time_ms += SESSION_IDLE_MS
    feed.apply(started("another", session="s-2"))
    feed.clock.now += SWEEP_EVERY_S
    assert feed.book.sweep(0) == 0  # idle for exactly SESSION_IDLE_MS: kept
    feed.time_ms += 1
    feed.apply(observed("t.read", "keeps s-2 in use", session="s-2"))
    assert feed.book.sweep(0) == 0  # at most one sweep every SWEEP_EVERY_S
    feed.clock.now += SWEEP_EVERY_S
    assert feed.book.sweep(1) == 0  # another partition's sweep leaves it
    assert feed.book.sweep(0) == 1
    assert feed.context() is None
    assert all('"s-1"' not in key for key in (*feed.heads, *feed.events))
    assert feed.book.context(PROPOSER, "s-2", 0, feed.time_ms) is not None


def test_a_verdict_goes_to_its_proposal_s_partition_number_or_by_its_session() -> None:
    key = session_key(PROPOSER, SESSION)
    ids = {"proposer_id": PROPOSER, "session_id": SESSION}
    proposal = sample_proposal(1).model_copy(update=ids)
    same = Route(Placement(proposals=6, verdicts=6, reviews=3), 4, proposal)
    assert (same.verdicts, same.reviews) == (4, partition_for(key, 3))
    other = Route(Placement(proposals=6, verdicts=4, reviews=6), 5, proposal)
    assert (other.verdicts, other.reviews) == (partition_for(key, 4), 5)
