"""The ledger worker's logic without a broker: resuming from the store, rebuilding, signing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.audit.ledger import Leaf, checkpoint_signed_by, leaf_of, signed_checkpoint
from alignment_flywheel.audit.ledger_core import LogHead
from alignment_flywheel.audit.merkle import MerkleLog
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event, LedgerCheckpoint
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.processors.ledger import LedgerResumeError, LedgerWorker

TOPIC, LOG = "flywheel.verdicts", "flywheel.verdicts/0"
KEY = Ed25519PrivateKey.generate()


@dataclass
class FakeMessage:
    """The few accessors of a confluent_kafka Message the worker reads."""

    at: int
    data: bytes | None

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def value(self) -> bytes | None:
        return self.data


class CapturingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    def send(self, topic: str, event: Event) -> None:
        self.sent.append((topic, event))

    def flush(self) -> None:
        return None


def values(count: int) -> list[bytes]:
    return [f"verdict-{i}".encode() for i in range(count)]


def head(leaves: list[Leaf], size: int) -> LedgerCheckpoint:
    worker_log = MerkleLog(leaf.digest for leaf in leaves)
    return signed_checkpoint(
        KEY,
        producer="t",
        log_id=LOG,
        tree_size=size,
        root=worker_log.root(size),
        first_offset=leaves[0].offset,
        last_offset=leaves[size - 1].offset,
    )


@pytest.fixture
def worker(settings_factory: Callable[..., Settings]) -> LedgerWorker:
    return LedgerWorker(settings_factory(), KEY, every=5, interval_ms=60_000)


def ingest(worker: LedgerWorker, first: int, data: list[bytes]) -> None:
    worker._ingest([FakeMessage(first + i, v) for i, v in enumerate(data)])  # type: ignore[list-item]


def test_batches_go_to_the_store_and_every_n_leaves_get_a_signed_checkpoint(
    worker: LedgerWorker,
) -> None:
    worker.heads[LOG] = LogHead(LOG)
    producer = CapturingProducer()
    ingest(worker, 10, values(4))
    worker._sign_due(producer)  # type: ignore[arg-type]
    assert producer.sent == []
    ingest(worker, 14, values(6)[4:])
    worker._sign_due(producer)  # type: ignore[arg-type]
    [(_, checkpoint)] = producer.sent
    assert isinstance(checkpoint, LedgerCheckpoint)
    expected = [leaf_of(10 + i, v) for i, v in enumerate(values(6))]
    assert (checkpoint.tree_size, checkpoint.first_offset, checkpoint.last_offset) == (6, 10, 15)
    assert checkpoint.root_hash == MerkleLog(leaf.digest for leaf in expected).root().hex()
    assert checkpoint_signed_by(checkpoint, {key_id(KEY.public_key()): KEY.public_key()})
    assert worker.store.load(LOG) == expected


def test_a_clean_stop_signs_what_is_left(worker: LedgerWorker) -> None:
    worker.heads[LOG] = LogHead(LOG)
    producer = CapturingProducer()
    ingest(worker, 0, values(2))
    worker._sign_due(producer)  # type: ignore[arg-type]
    assert producer.sent == []
    worker._sign_due(producer, final=True)  # type: ignore[arg-type]
    assert [c.tree_size for _, c in producer.sent if isinstance(c, LedgerCheckpoint)] == [2]


def test_a_redelivered_record_is_not_appended_twice(worker: LedgerWorker) -> None:
    worker.heads[LOG] = LogHead(LOG)
    ingest(worker, 0, values(3))
    ingest(worker, 1, values(3)[1:])
    assert worker.heads[LOG].size == 3


def test_resuming_continues_after_the_stored_leaves(worker: LedgerWorker) -> None:
    leaves = [leaf_of(i, v) for i, v in enumerate(values(7))]
    worker.store.append(LOG, leaves)
    worker.store.sync()
    state, start = worker._load(LOG, [head(leaves, 5)])
    assert (start, state.signed_size, state.size) == (7, 5, 7)


def test_a_store_that_does_not_reproduce_the_checkpoint_stops_the_worker(
    worker: LedgerWorker,
) -> None:
    leaves = [leaf_of(i, v) for i, v in enumerate(values(7))]
    worker.store.append(LOG, [*leaves[:2], leaf_of(2, b"forged"), *leaves[3:]])
    worker.store.sync()
    with pytest.raises(LedgerResumeError):
        worker._load(LOG, [head(leaves, 5)])


def test_a_lost_store_is_rebuilt_and_a_changed_topic_is_refused(worker: LedgerWorker) -> None:
    leaves = [leaf_of(i, v) for i, v in enumerate(values(7))]
    published: list[Any] = [head(leaves, 5), head(leaves, 7)]
    state, start = worker._load(LOG, published)
    assert (start, state.signed_size, [size for size, _ in state.expected]) == (0, 7, [5, 7])
    worker.heads[LOG] = state
    ingest(worker, 0, values(7))
    assert worker.heads[LOG].expected == ()

    again, _ = worker._load(LOG, published[:1])  # the store now holds all 7 leaves
    assert again.size == 7
    worker.store.reset(LOG)
    changed, _ = worker._load(LOG, published)
    worker.heads[LOG] = changed
    with pytest.raises(LedgerResumeError):
        ingest(worker, 0, [*values(3), b"forged", *values(5)[4:]])
