"""The gate's state on compacted Kafka topics: the revise budget and the session contexts.

Two internal topics, named after the gate's consumer group (``<group>-revise-spent``,
``<group>-sessions``; the group prefix is what the gate's principal may create, read and write),
compacted, created by the gate when missing with the proposals topic's partition count and the
replication of :class:`~alignment_flywheel.kafka.replication.ReplicationPolicy` (the settings',
else the cluster's size), then awaited until every partition has a leader. Both are written in
the gate's transactions, beside the verdicts and the input offsets, and read with
``read_committed``: what a restarted gate restores is exactly what the committed input offsets
have seen.

* **revise-spent** (:class:`ReviseSpent`): proposal id -> what its revise chain spent above the
  floor (decimal ASCII). Every gate reads every partition: a child proposal may reach a worker
  other than its parent's. It is read to its end before the gate decides anything, then polled
  between batches. A gate's own writes count at once and are kept apart until their transaction
  committed; a transaction that fails takes back its writes and those made since
  (:class:`SpentTable`), so only committed writes outlive a failure.
* **sessions** (:class:`SessionStore`): the two tables of the
  :class:`~alignment_flywheel.oracle.session_book.SessionBook` (``h`` + session name -> head, ``e``
  + event name -> event bytes; ``None`` deletes), each on the partition number of the proposals
  partition it belongs to. A gate restores the partitions it is assigned (read to the end) and
  forgets those it loses; the writes of a batch are sent in its transaction (:meth:`pending`) and
  dropped with it when it aborts (the store is then restored again).
"""

from __future__ import annotations

import logging
import time
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.kafka.clients import reader_group, wait_for_topics
from alignment_flywheel.kafka.consumer import consumer_config, watermarks
from alignment_flywheel.kafka.reader import Span, read_spans
from alignment_flywheel.kafka.replication import MIN_INSYNC, ReplicationPolicy

log = logging.getLogger(__name__)
READ_TIMEOUT_S = 30.0
COMPACTED = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
HEAD, EVENT = "h", "e"


def state_topics(group: str) -> tuple[str, str]:
    """The names of the revise-spent and sessions topics of the gate group ``group``."""
    return f"{group}-revise-spent", f"{group}-sessions"


def ensure_topics(
    admin: AdminClient, names: Iterable[str], partitions: int, policy: ReplicationPolicy
) -> None:
    """Create the compacted state topics that do not exist yet, replicated as the policy says for
    the cluster, and wait until every partition of each has a leader."""
    metadata = admin.list_topics(timeout=READ_TIMEOUT_S)
    wanted = policy.for_cluster(len(metadata.brokers))
    config = {**COMPACTED, MIN_INSYNC: str(wanted.min_insync)}
    names = list(names)
    new = [
        NewTopic(name, num_partitions=partitions, replication_factor=wanted.factor, config=config)
        for name in names
        if name not in metadata.topics
    ]
    if new:
        for name, future in admin.create_topics(new, request_timeout=READ_TIMEOUT_S).items():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise KafkaTransportError(
                        f"cannot create the gate's topic {name}: {exc}"
                    ) from exc
    wait_for_topics(admin, names, READ_TIMEOUT_S, partitions=dict.fromkeys(names, partitions))


def state_reader(settings: Settings) -> Consumer:
    """A consumer that assigns partitions itself, reads committed records and commits nothing."""
    overrides = {"enable.auto.commit": False, "isolation.level": "read_committed"}
    return Consumer(consumer_config(settings, reader_group("gate-state"), overrides))


def read_to_end(
    consumer: Consumer, topic: str, partitions: Iterable[int]
) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(partition, key, value) of every committed record of ``partitions`` up to their ends."""
    spans = []
    for p in partitions:
        low, high = watermarks(consumer, TopicPartition(topic, p), READ_TIMEOUT_S)
        spans.append(Span(p, low, high))
    for msg in read_spans(consumer, topic, spans, timeout_s=READ_TIMEOUT_S):
        key = msg.key()
        if key is not None:
            yield int(msg.partition() or 0), key, msg.value()


class SpentTable:
    """The revise-spent table of one gate: committed values (read from the topic, or written in a
    transaction that committed) under the gate's own writes not yet committed. Lookups
    (:attr:`spent`) see the newest: the writes since the last transaction was submitted, then
    those of the transaction being committed, then the committed values."""

    def __init__(self) -> None:
        self.committed: dict[str, int] = {}
        self._open: dict[str, int] = {}
        self._sent: dict[str, int] = {}
        self.spent: Mapping[str, int] = ChainMap(self._open, self._sent, self.committed)

    def load(self, key: str, value: int | None) -> None:
        """A committed value (``None``: the key was deleted)."""
        if value is None:
            self.committed.pop(key, None)
        else:
            self.committed[key] = value

    def record(self, writes: Mapping[str, int]) -> list[tuple[bytes, bytes]]:
        """Count a decision's writes at once; the records to send in its transaction."""
        self._open.update(writes)
        return [(k.encode(), str(v).encode()) for k, v in writes.items()]

    def submitted(self) -> None:
        """The writes so far went into the transaction now committing."""
        self._sent.update(self._open)
        self._open.clear()

    def settled(self, committed: bool) -> None:
        """The transaction committing returned: its writes are committed, or (it failed) they and
        the writes made since are taken back."""
        if committed:
            self.committed.update(self._sent)
        else:
            self._open.clear()
        self._sent.clear()


class ReviseSpent(SpentTable):
    """The revise-spent table, as every gate reads it (see the module rules)."""

    def __init__(self, settings: Settings, topic: str, partitions: int) -> None:
        super().__init__()
        self.topic = topic
        self._consumer = state_reader(settings)
        self._partitions = range(partitions)
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in self._partitions]
        )

    def catch_up(self) -> None:
        """Read every partition up to its end as of now (before the first decision)."""
        asked = [TopicPartition(self.topic, p) for p in self._partitions]
        ends = {tp.partition: watermarks(self._consumer, tp, READ_TIMEOUT_S)[1] for tp in asked}
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            self.poll(0.2)
            positions = self._consumer.position(asked)
            if all(tp.offset >= ends[tp.partition] for tp in positions if ends[tp.partition]):
                return
            if time.monotonic() > deadline:
                raise KafkaTransportError(f"{self.topic} was not read to its end")

    def _apply(self, key: bytes, value: bytes | None) -> None:
        self.load(key.decode(), None if value is None else int(value))

    def poll(self, wait_s: float = 0.0) -> None:
        """Take in what other gates committed since the last call."""
        for msg in self._consumer.consume(1000, wait_s):
            key = msg.key()
            if msg.error() is None and key is not None:
                self._apply(key, msg.value())

    def close(self) -> None:
        self._consumer.close()


class _Table(MutableMapping[str, bytes]):
    """One of the session book's tables: a dict that notes every write with its partition."""

    def __init__(self, prefix: str, store: SessionStore) -> None:
        self._prefix, self._store = prefix, store
        self.data: dict[str, bytes] = {}
        self.owner: dict[str, int] = {}

    def __getitem__(self, key: str) -> bytes:
        return self.data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.data[key] = value
        self.owner[key] = self._store.partition
        self._store.note(self._prefix + key, value)

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.owner.pop(key, None)
        self._store.note(self._prefix + key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def load(self, key: str, value: bytes | None, partition: int) -> None:
        if value is None:
            self.data.pop(key, None)
            self.owner.pop(key, None)
        else:
            self.data[key], self.owner[key] = value, partition

    def forget(self, partitions: set[int]) -> None:
        for key in [k for k, p in self.owner.items() if p in partitions]:
            self.data.pop(key, None)
            del self.owner[key]


class SessionStore:
    """The session book's tables over the sessions topic (see the module rules)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.partition = 0
        self.heads, self.events = _Table(HEAD, self), _Table(EVENT, self)
        self._pending: list[tuple[int, bytes, bytes | None]] = []
        self._settings = settings

    def note(self, key: str, value: bytes | None) -> None:
        self._pending.append((self.partition, key.encode(), value))

    def pending(self) -> list[tuple[int, bytes, bytes | None]]:
        """The writes since the last call: (partition, key, value) to send in the transaction."""
        taken, self._pending = self._pending, []
        return taken

    def restore(self, partitions: Iterable[int]) -> None:
        """Read the partitions' sessions from the topic (replacing what is held of them)."""
        wanted = set(partitions)
        self.forget(wanted)
        consumer = state_reader(self._settings)
        try:
            for partition, key, value in read_to_end(consumer, self.topic, sorted(wanted)):
                table = self.heads if key[:1] == HEAD.encode() else self.events
                table.load(key[1:].decode(), value, partition)
        finally:
            consumer.close()

    def forget(self, partitions: set[int]) -> None:
        """Drop what is held of ``partitions`` (revoked, or about to be restored)."""
        self.heads.forget(partitions)
        self.events.forget(partitions)
        self._pending = [p for p in self._pending if p[0] not in partitions]
