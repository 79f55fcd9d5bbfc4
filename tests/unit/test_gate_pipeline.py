"""The gate's loop commits while it decides what comes next (group commit): what was handled
during a commit goes into the next transaction once it returned; a failed commit drops what was
handled meanwhile unsent, rewinds to the committed offsets and decides both again (no broker:
fake clients)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as TP

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.events import Proposal, ProposalSubmitted, VerdictIssued, new_envelope
from alignment_flywheel.oracle.session_book import SessionBook, session_event
from alignment_flywheel.processors import gate as gate_module
from alignment_flywheel.processors.gate import Gate, GateTopics
from alignment_flywheel.processors.gate_events import Placement
from alignment_flywheel.processors.gate_state import SessionStore, SpentTable
from alignment_flywheel.processors.gate_txn import Health, Pending, Send
from tests.support.doubles import ScriptedDecider
from tests.support.oracles import proposal

SETTINGS = load_settings()
CODEC = EventCodec.from_settings(SETTINGS)
TOPICS = GateTopics("p", "v", "r", "d", 1)


class Message:
    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def error(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return 1, 1_700_000_000_000 + self._offset

    def topic(self) -> str:
        return TOPICS.proposals

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return str(self._offset).encode()

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None


class Consumer:
    """A partition of proposals; ``poll`` hands one batch (two records) per call."""

    def __init__(self, values: Sequence[bytes]) -> None:
        self.log = [Message(i, v) for i, v in enumerate(values)]
        self.position, self.committed_offset, self.seeks = 0, 0, []

    def poll(self, _timeout: float) -> Message | None:
        if self.position >= len(self.log):
            return None
        self.position += 1
        return self.log[self.position - 1]

    def consume(self, _count: int, _timeout: float) -> list[Message]:
        taken = self.log[self.position : self.position + 1]
        self.position += len(taken)
        return taken

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def assignment(self) -> list[TP]:
        return [TP(TOPICS.proposals, 0)]

    def committed(self, _asked: list[TP], _timeout: float) -> list[TP]:
        return [TP(TOPICS.proposals, 0, self.committed_offset)]

    def seek(self, tp: TP) -> None:
        self.seeks.append(tp.offset)
        self.position = tp.offset


class Transactions:
    """Commits are settled by the test: the first fails (abortable), the others succeed."""

    def __init__(self, consumer: Consumer) -> None:
        self.health, self.consumer = Health(), consumer
        self.submitted: list[tuple[list[Send], list[TP]]] = []
        self.futures: list[Future[None]] = []
        self.aborted = 0

    def submit(self, sends: Sequence[Send], offsets: list[TP], _metadata: Any) -> Pending:
        self.submitted.append((list(sends), offsets))
        future: Future[None] = Future()
        if len(self.submitted) == 1:
            future.set_exception(KafkaException(KafkaError(KafkaError._TIMED_OUT, "lost")))
        else:
            self.consumer.committed_offset = offsets[0].offset
            future.set_result(None)
        return Pending(future)

    def abort(self, _cause: KafkaException) -> None:
        self.aborted += 1


class Revise(SpentTable):
    """The gate's revise-spent table without its topic."""

    def poll(self, _wait_s: float = 0.0) -> None:
        return None


def _gate(consumer: Consumer) -> tuple[Gate, Transactions, list[list[int]]]:
    gate = Gate(SETTINGS, ScriptedDecider(), app_id="g", topics=TOPICS)
    txn, restored = Transactions(consumer), []
    store = SessionStore(SETTINGS, "sessions")
    store.restore = restored.append  # type: ignore[method-assign]
    book = SessionBook(store.heads, store.events, lambda raw: session_event(CODEC, raw))
    parts: dict[str, Any] = {"_consumer": consumer, "_txn": txn, "_revise": Revise()}
    parts |= {"_store": store, "_book": book, "_placement": Placement(1, 1, 1)}
    for name, value in parts.items():
        setattr(gate, name, value)
    return gate, txn, restored


def _verdict_ids(sends: Sequence[Send]) -> list[str]:
    found = [CODEC.decode(value) for topic, _k, value, _p in sends if topic == TOPICS.verdicts]
    return [str(v.proposal_id) for v in found if isinstance(v, VerdictIssued)]


def _encoded(items: Sequence[Proposal]) -> list[bytes]:
    """Each proposal as the ``ProposalSubmitted`` record its proposer writes."""
    return [
        CODEC.encode(ProposalSubmitted(envelope=new_envelope("t", str(i.proposal_id)), proposal=i))
        for i in items
    ]


def _values(count: int) -> tuple[list[str], list[bytes]]:
    """``count`` allowed proposals: their ids and their records."""
    items = [proposal("fs.read") for _ in range(count)]
    return [str(i.proposal_id) for i in items], _encoded(items)


def test_a_failed_commit_drops_the_next_batch_unsent_and_decides_both_again() -> None:
    ids, values = _values(4)
    consumer = Consumer(values)
    gate, txn, restored = _gate(consumer)
    for _ in range(6):
        gate._step()
    gate._settle()
    assert txn.aborted == 1 and consumer.seeks == [0] and restored == [[0]]
    batches = [
        (_verdict_ids(sends), [tp.offset for tp in offsets]) for sends, offsets in txn.submitted
    ]
    # the first batch failed; the second, decided meanwhile, was never submitted; both again
    assert batches == [(ids[:2], [2]), (ids[:2], [2]), (ids[2:], [4])]
    assert consumer.committed_offset == 4


class HeldTransactions(Transactions):
    """Commits stay pending until the test settles them (``release``)."""

    def submit(self, sends: Sequence[Send], offsets: list[TP], _metadata: Any) -> Pending:
        self.submitted.append((list(sends), offsets))
        future: Future[None] = Future()
        self.futures.append(future)
        return Pending(future)

    def release(self) -> None:
        for future in self.futures:
            if not future.done():
                future.set_result(None)


def test_what_is_handled_during_a_commit_is_committed_together_once_it_returned() -> None:
    ids, values = _values(6)
    consumer = Consumer(values)
    gate, _txn, _restored = _gate(consumer)
    txn = HeldTransactions(consumer)
    gate._txn = txn  # type: ignore[assignment]
    for _ in range(3):  # the first two records are submitted, the next four handled and held
        gate._step()
    assert [(_verdict_ids(s), [tp.offset for tp in o]) for s, o in txn.submitted] == [
        (ids[:2], [2])
    ]
    txn.release()
    gate._step()  # nothing more to read: the commit returned, so the held records are submitted
    txn.release()
    gate._settle()
    batches = [(_verdict_ids(s), [tp.offset for tp in o]) for s, o in txn.submitted]
    assert batches == [(ids[:2], [2]), (ids[2:], [6])]


def test_the_worker_waits_for_the_commit_when_too_many_records_are_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gate_module, "MAX_HELD", 2)
    ids, values = _values(4)
    consumer = Consumer(values)
    gate, _txn, _restored = _gate(consumer)
    txn = HeldTransactions(consumer)
    gate._txn = txn  # type: ignore[assignment]
    gate._step()  # submits the first two
    timer = threading.Timer(0.2, txn.release)
    timer.start()
    started = time.monotonic()
    gate._step()  # two more held: that is the most, so it waits for the first commit
    assert time.monotonic() - started >= 0.15
    assert [_verdict_ids(s) for s, _o in txn.submitted] == [ids[:2], ids[2:]]
    txn.release()
    gate._settle()


def test_a_failed_commit_takes_back_the_revise_budget_its_decisions_spent() -> None:
    parent = proposal("sql.query")
    child = proposal("sql.query").model_copy(update={"parent_proposal_id": parent.proposal_id})
    # the child is decided at depth 1: a REVISE that spends 2
    consumer = Consumer(_encoded([child, proposal("fs.read")]))
    gate, txn, _restored = _gate(consumer)
    revise = gate._revise
    gate._step()  # both decided and submitted; this commit fails (the fake's first)
    assert revise.spent.get(str(child.proposal_id)) == 2  # counts at once, before the commit
    gate._settle()
    assert txn.aborted == 1
    assert str(child.proposal_id) not in revise.spent  # what the aborted commit wrote is gone
    gate._step()  # decided again, committed
    gate._settle()
    assert revise.spent.get(str(child.proposal_id)) == 2
    assert revise.committed == {str(child.proposal_id): 2}
