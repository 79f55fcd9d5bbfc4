"""The audit ledger's pure core (:mod:`~alignment_flywheel.governance.step`): records in, leaves
appended, signed checkpoints out.

The step takes a :class:`Record` (one record of an audited partition: its log id, offset and value
bytes) or a :class:`Tick` (the end of a batch, with the time) and reads two tables:

* ``leaves`` (:data:`LEAVES`), the durable leaf store: key ``"<log id>#<index>"``, value the
  :class:`~.ledger.Leaf` (offset, leaf hash). The shell appends a log's new entries in index order
  and fsyncs them before the next :class:`Tick` (a value of ``None`` forgets the log's entries:
  the store is reset).
* ``heads`` (:data:`HEADS`), the process's view of each log (:class:`LogHead`: the Merkle
  frontier, the offsets, what is signed, the roots a rebuilt log must reproduce). A memory table:
  it is derived again from the store and the published checkpoints on every start.

Rules:

* **Leaves.** A record whose offset is past the log's last leaf is appended (its data the value
  bytes as stored, a tombstone the empty string); a record at or before it is a duplicate
  (a redelivery after a restart) and changes nothing. Duplicates are recognised by offset alone.
* **Checkpoints.** Only a :class:`Tick` emits, after the store holds every leaf it covers: a log
  with unsigned leaves gets one signed ``LedgerCheckpoint`` when ``every`` leaves were added since
  its last one, or ``interval_s`` passed since then, or the tick is ``final`` (a clean stop). A
  log being rebuilt signs nothing until it has reproduced every checkpoint it passes.
* **Resume** (:func:`resume`, on a log's first record, or by the shell at its start). The store
  must reproduce the root and ``first_offset`` of the log's last checkpoint signed by the
  worker's key, else :class:`LedgerResumeError`. A store shorter than that checkpoint is reset
  and the log rebuilt from the checkpoint's ``first_offset`` (the shell seeks there); each
  checkpoint the rebuilt log passes must have the root it had, else :class:`LedgerResumeError`:
  a changed topic is reported, never signed over.

Restart rules (the shell fsyncs the new leaves before it publishes a checkpoint over them, and
its position is the store's end, not a committed offset):

* A crash before the leaves are stored loses them and nothing else: the records are read again
  from the store's end and appended as if for the first time.
* A crash after the leaves are stored but before the checkpoint is published: the redelivered
  records are duplicates, and a checkpoint over at least those leaves is published at the next
  tick that finds the log due.
* A crash after the checkpoint is published: the store reproduces it and it counts as signed;
  the log continues from the store's end and the next checkpoint is over more leaves.
* A restarted worker signs only past the last checkpoint on the topic, so one that landed is not
  signed again, and one lost in flight is replaced by one over at least its leaves. Two
  checkpoints of a log with the same tree size have the same root and offsets, so the same signed
  body (Ed25519 is deterministic): duplicates are recognised by (log id, tree size).
* The store losing leaves that a published checkpoint covers (which the fsync-before-publish
  order rules out, short of losing the disk) is the rebuild above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from alignment_flywheel.audit.ledger import Leaf, checkpoint_signed_by, leaf_of, signed_checkpoint
from alignment_flywheel.audit.merkle import EMPTY_ROOT, node_hash
from alignment_flywheel.errors import UntrustedError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.patches.signing import key_id

LEAVES, HEADS = "leaves", "heads"


class LedgerResumeError(UntrustedError):
    """The stored or re-read leaves do not reproduce a checkpoint already published."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record of an audited partition."""

    log_id: str
    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Tick:
    """The end of a batch at monotonic time ``now``; ``final`` on a clean stop."""

    now: float
    final: bool = False


@dataclass(frozen=True, slots=True)
class LogHead:
    """A log as the worker holds it: the roots of its complete subtrees (O(log n)), its offsets,
    what is signed, and the roots (by tree size) a rebuilt log must reproduce."""

    log_id: str
    size: int = 0
    nodes: tuple[bytes, ...] = ()
    first_offset: int | None = None
    last_offset: int = -1
    signed_size: int = 0
    signed_at: float | None = None
    expected: tuple[tuple[int, str], ...] = ()

    def append(self, leaf: Leaf) -> LogHead:
        nodes, node, size = list(self.nodes), leaf.digest, self.size
        while size & 1:
            node = node_hash(nodes.pop(), node)
            size >>= 1
        nodes.append(node)
        first = leaf.offset if self.first_offset is None else self.first_offset
        return replace(
            self,
            size=self.size + 1,
            nodes=tuple(nodes),
            first_offset=first,
            last_offset=leaf.offset,
        )

    def root(self) -> bytes:
        """``MTH`` of every leaf of the log."""
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root


@dataclass(frozen=True, slots=True)
class Resumed:
    """A log at a start: its head, the offset to read from, whether its store must be reset."""

    head: LogHead
    start: int | None
    rebuild: bool = False


def leaf_key(log_id: str, index: int) -> str:
    return f"{log_id}#{index}"


def resume(
    log_id: str,
    leaves: Iterable[Leaf],
    published: Sequence[LedgerCheckpoint],
    trusted: Mapping[str, Ed25519PublicKey],
    now: float | None = None,
) -> Resumed:
    """The head of ``log_id`` from its stored leaves and the checkpoints on the ledger topic
    (``start`` None: from the partition's beginning); see the module rules."""
    mine = [c for c in published if c.log_id == log_id and checkpoint_signed_by(c, trusted)]
    last = max(mine, key=lambda c: c.tree_size) if mine else None
    head, root_at_last = LogHead(log_id, signed_at=now), None
    for leaf in leaves:
        head = head.append(leaf)
        if last is not None and head.size == last.tree_size:
            root_at_last = head.root().hex()
    start = head.last_offset + 1 if head.size else None
    if last is None:
        return Resumed(head, start)
    if head.size < last.tree_size:
        expected = tuple(sorted({c.tree_size: c.root_hash for c in mine}.items()))
        rebuilt = LogHead(log_id, signed_size=last.tree_size, signed_at=now, expected=expected)
        return Resumed(rebuilt, last.first_offset, rebuild=True)
    if root_at_last != last.root_hash or head.first_offset != last.first_offset:
        raise LedgerResumeError(
            f"the leaf store of {log_id} does not reproduce its checkpoint of size "
            f"{last.tree_size}; run `flywheel audit verify`"
        )
    return Resumed(replace(head, signed_size=last.tree_size), start)


class LedgerCore:
    """The ledger's step (see the module rules). ``published`` is what the ledger topic held when
    the worker started (read on a log's first record)."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        producer: str,
        *,
        every: int,
        interval_s: float,
        published: Sequence[LedgerCheckpoint] = (),
    ) -> None:
        self.every, self.interval_s = max(1, every), interval_s
        self.published = tuple(published)
        self._key, self._producer = key, producer
        self.trusted = {key_id(key.public_key()): key.public_key()}

    def __call__(self, tables: Tables, event: Record | Tick) -> Stepped[LedgerCheckpoint]:
        if isinstance(event, Tick):
            return self.tick(tables, event)
        return self.record(tables, event)

    def record(self, tables: Tables, record: Record) -> Stepped[LedgerCheckpoint]:
        """Append the record's leaf unless the log already holds its offset."""
        head: LogHead | None = tables[HEADS].get(record.log_id)
        leaves: dict[str, Leaf | None] = {}
        if head is None:
            head, leaves = self._load(tables, record.log_id)
        if record.offset > head.last_offset:
            leaf = leaf_of(record.offset, record.value)
            head = head.append(leaf)
            _check_expected(head)
            head = replace(head, expected=tuple(e for e in head.expected if e[0] != head.size))
            leaves[leaf_key(head.log_id, head.size - 1)] = leaf
        return Stepped({LEAVES: leaves, HEADS: {head.log_id: head}})

    def tick(self, tables: Tables, tick: Tick) -> Stepped[LedgerCheckpoint]:
        """The checkpoints due at ``tick`` (every unsigned log on a final one), in log order."""
        heads: dict[str, LogHead] = {}
        emitted: list[LedgerCheckpoint] = []
        for log_id, head in tables[HEADS].items():
            if head.signed_at is None:
                heads[log_id] = replace(head, signed_at=tick.now)
            unsigned = head.size - head.signed_size
            if unsigned <= 0 or head.expected:
                continue
            elapsed = 0.0 if head.signed_at is None else tick.now - head.signed_at
            if tick.final or unsigned >= self.every or elapsed >= self.interval_s:
                emitted.append(self.checkpoint(head))
                heads[log_id] = replace(head, signed_size=head.size, signed_at=tick.now)
        return Stepped({HEADS: heads}, tuple(emitted))

    def checkpoint(self, head: LogHead) -> LedgerCheckpoint:
        assert head.first_offset is not None
        return signed_checkpoint(
            self._key,
            producer=self._producer,
            log_id=head.log_id,
            tree_size=head.size,
            root=head.root(),
            first_offset=head.first_offset,
            last_offset=head.last_offset,
        )

    def _load(self, tables: Tables, log_id: str) -> tuple[LogHead, dict[str, Leaf | None]]:
        """Resume ``log_id`` from the leaves table (the keys of a reset log deleted)."""
        stored = sorted(
            ((int(key.rpartition("#")[2]), key) for key in tables[LEAVES] if _of(key, log_id)),
        )
        resumed = resume(
            log_id, (tables[LEAVES][key] for _, key in stored), self.published, self.trusted
        )
        return resumed.head, {key: None for _, key in stored} if resumed.rebuild else {}


def _of(key: str, log_id: str) -> bool:
    return key.rpartition("#")[0] == log_id


def _check_expected(head: LogHead) -> None:
    root = dict(head.expected).get(head.size)
    if root is not None and head.root().hex() != root:
        raise LedgerResumeError(
            f"{head.log_id}: the records no longer reproduce the checkpoint of size "
            f"{head.size}; the topic was changed. Run `flywheel audit verify`."
        )
