"""Verifying an audit log: signed checkpoints, the leaf store, and the records on the topic.

:func:`verify_log` is a pure function over the records of one partition (``(offset, value)`` in
offset order), the checkpoints read from the ledger topic, the trusted public keys and, optionally,
the leaf store. It runs these checks in this order and never skips one:

1. **Signatures.** Every checkpoint of the log must carry a trusted key id and a valid Ed25519
   signature over its fields; otherwise :class:`CheckpointSignatureError`. A log without any
   checkpoint is :class:`NoCheckpointError`. (Both are security failures; reading the topics is a
   transport failure, :class:`~alignment_flywheel.errors.KafkaTransportError`, raised elsewhere.)
2. **Checkpoint chain.** All checkpoints share ``first_offset``; equal sizes carry equal roots and
   last offsets; a larger tree ends at a larger offset. Otherwise :class:`CheckpointForkError`.
3. **Leaf store.** When given, the stored leaves must reproduce every checkpoint's root and last
   offset they reach. The store is trusted up to the largest checkpoint it reproduces; a
   checkpoint it fails to reproduce makes it a *corrupt ledger*, reported with the position of the
   bad entry (found by comparing it with the topic when the topic does reproduce the checkpoint).
4. **Topic.** The leaves recomputed from the records must reproduce every checkpoint (only when
   the range starts at the log's first offset; a later start is compared with the store only).
5. **Localisation.** When step 4 fails, the recomputed leaves are compared with the trusted leaves
   (:func:`compare_leaves`): each ``altered``, ``deleted``, ``inserted`` or ``reordered`` record is
   reported with its position (leaf index) and offsets. Without trusted leaves the finding is a
   ``mismatch`` over the positions between the last good and the first bad checkpoint.

Records after the last checkpoint are counted as ``unchecked``: they are not yet signed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alignment_flywheel.audit.ledger import Leaf, checkpoint_signed_by, leaf_of
from alignment_flywheel.audit.merkle import MerkleLog
from alignment_flywheel.errors import InvalidInputError, UntrustedError
from alignment_flywheel.events import LedgerCheckpoint

Record = tuple[int, bytes | None]


class LedgerVerificationError(UntrustedError):
    """The ledger itself cannot be believed."""


class CheckpointSignatureError(LedgerVerificationError):
    """A checkpoint is signed by an untrusted key, or its signature is invalid."""


class CheckpointForkError(LedgerVerificationError):
    """Two checkpoints of one log contradict each other."""


class NoCheckpointError(LedgerVerificationError):
    """The log has no checkpoint to verify against."""


class Tampering(StrEnum):
    ALTERED = "altered"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class Finding:
    """One detected change. ``position`` is the leaf index in the signed log; ``offset`` the
    offset the ledger recorded for it, ``observed_offset`` where the record now is on the topic.
    ``source`` is ``"topic"`` or ``"ledger"`` (a corrupt leaf store entry)."""

    kind: Tampering
    position: int
    offset: int | None
    observed_offset: int | None
    source: str = "topic"
    detail: str = ""


@dataclass
class LogReport:
    """The outcome of :func:`verify_log` for one log."""

    log_id: str
    checkpoints: int
    signed_size: int
    records: int
    unchecked: int
    findings: list[Finding] = field(default_factory=list)
    earlier: int = 0
    compacted: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def compare_leaves(
    expected: Sequence[Leaf], actual: Sequence[Leaf], *, source: str = "topic"
) -> list[Finding]:
    """Every difference between the trusted leaves and the observed ones, in position order.

    Greedy alignment: equal digests advance both; two swapped neighbours are ``reordered``; an
    expected leaf that matches the next observed one was ``deleted``; an observed leaf before the
    expected one was ``inserted``; anything else was ``altered``. A leaf deleted at one place and
    inserted at another is one ``reordered`` finding. Observed leaves after the last expected one
    are not findings (they are newer than the signed log).
    """
    found: list[Finding] = []
    i = j = 0
    e, a = expected, actual
    while i < len(e) and j < len(a):
        if e[i].digest == a[j].digest:
            i, j = i + 1, j + 1
        elif _swapped(e, a, i, j):
            found.append(
                Finding(
                    Tampering.REORDERED,
                    i,
                    e[i].offset,
                    a[j + 1].offset,
                    source,
                    f"positions {i} and {i + 1} swapped",
                )
            )
            i, j = i + 2, j + 2
        elif i + 1 < len(e) and e[i + 1].digest == a[j].digest:
            found.append(Finding(Tampering.DELETED, i, e[i].offset, None, source))
            i += 1
        elif j + 1 < len(a) and e[i].digest == a[j + 1].digest:
            found.append(
                Finding(Tampering.INSERTED, i, None, a[j].offset, source, f"before position {i}")
            )
            j += 1
        else:
            found.append(Finding(Tampering.ALTERED, i, e[i].offset, a[j].offset, source))
            i, j = i + 1, j + 1
    found.extend(Finding(Tampering.DELETED, k, e[k].offset, None, source) for k in range(i, len(e)))
    return _moves(found, e, a)


def _swapped(e: Sequence[Leaf], a: Sequence[Leaf], i: int, j: int) -> bool:
    return (
        i + 1 < len(e)
        and j + 1 < len(a)
        and e[i].digest == a[j + 1].digest
        and e[i + 1].digest == a[j].digest
    )


def _moves(found: list[Finding], e: Sequence[Leaf], a: Sequence[Leaf]) -> list[Finding]:
    """Merge a deletion and an insertion of the same leaf into one ``reordered`` finding."""
    by_offset = {leaf.offset: leaf.digest for leaf in a}
    inserted = {
        by_offset[f.observed_offset]: f
        for f in found
        if f.kind is Tampering.INSERTED and f.observed_offset is not None
    }
    merged: list[Finding] = []
    used: set[int] = set()
    for f in found:
        moved = inserted.get(e[f.position].digest) if f.kind is Tampering.DELETED else None
        if moved is None:
            merged.append(f)
            continue
        used.add(id(moved))
        detail = f"moved from position {f.position} to before position {moved.position}"
        merged.append(
            Finding(
                Tampering.REORDERED, f.position, f.offset, moved.observed_offset, f.source, detail
            )
        )
    return [f for f in merged if id(f) not in used]


def verify_log(
    log_id: str,
    records: Sequence[Record],
    checkpoints: Sequence[LedgerCheckpoint],
    trusted: Mapping[str, Ed25519PublicKey],
    *,
    stored: Sequence[Leaf] | None = None,
    from_first_offset: bool = True,
    compacted_topic: bool = False,
) -> LogReport:
    """Run checks 1-5 of the module docstring over one log; see there.

    ``from_first_offset=False`` (a range that starts after the log's first offset, e.g. because
    retention removed the oldest records) compares the range with the trusted store only and
    counts the trusted leaves before it as ``earlier``. ``compacted_topic=True`` counts a deleted
    record whose offset is a gap in the topic as ``compacted`` instead of a finding: compaction
    removes superseded values of a compacted topic.
    """
    chain = checked_chain(log_id, checkpoints, trusted)
    actual = [leaf_of(offset, value) for offset, value in records]
    trusted_leaves, store_findings = _trusted_store(chain, stored, actual)
    report = LogReport(log_id, len(chain), chain[-1].tree_size, len(actual), 0, store_findings)
    if from_first_offset:
        bad = _first_failing(chain, actual)
        found = [] if bad is None else _localise(chain, bad, trusted_leaves, actual)
        shift = sum(_SHIFT.get(f.kind, 0) for f in found)
        report.unchecked = max(0, len(actual) - chain[-1].tree_size - shift)
    elif trusted_leaves is None:
        raise InvalidInputError("a range after the log's first offset needs the leaf store")
    else:
        window = _window(trusted_leaves, actual)
        found = compare_leaves(window, actual)
        last = window[-1].offset if window else -1
        report.unchecked = sum(1 for leaf in actual if leaf.offset > last)
        report.earlier = sum(
            1 for leaf in trusted_leaves if actual and leaf.offset < actual[0].offset
        )
    if compacted_topic:
        gaps = _gaps(found, actual)
        report.compacted = len(gaps)
        found = [f for f in found if f not in gaps]
    report.findings += found
    return report


_SHIFT = {Tampering.INSERTED: 1, Tampering.DELETED: -1}


def _gaps(found: Sequence[Finding], actual: Sequence[Leaf]) -> list[Finding]:
    """Deletions at an offset the topic skips (a compacted record leaves its offset unused)."""
    offsets = {leaf.offset for leaf in actual}
    last = actual[-1].offset if actual else -1
    return [
        f
        for f in found
        if f.kind is Tampering.DELETED
        and f.offset is not None
        and f.offset not in offsets
        and f.offset < last
    ]


def checked_chain(
    log_id: str, checkpoints: Sequence[LedgerCheckpoint], trusted: Mapping[str, Ed25519PublicKey]
) -> list[LedgerCheckpoint]:
    """The log's checkpoints by tree size, after checks 1 and 2 of the module docstring."""
    chain = [c for c in checkpoints if c.log_id == log_id]
    if not chain:
        raise NoCheckpointError(f"no checkpoint of {log_id} on the ledger topic")
    for c in chain:
        if not checkpoint_signed_by(c, trusted):
            raise CheckpointSignatureError(
                f"checkpoint {c.envelope.event_id} of {log_id} (size {c.tree_size}): key "
                f"{c.key_id[:16]}... is not trusted or the signature is invalid"
            )
    chain.sort(key=lambda c: c.tree_size)
    for before, after in itertools.pairwise(chain):
        same = before.tree_size == after.tree_size
        if (
            before.first_offset != after.first_offset
            or (
                same
                and (before.root_hash, before.last_offset) != (after.root_hash, after.last_offset)
            )
            or (not same and before.last_offset >= after.last_offset)
        ):
            raise CheckpointForkError(
                f"checkpoints of {log_id} at sizes {before.tree_size} and {after.tree_size} "
                "contradict each other"
            )
    return chain


def _reproduces(log: MerkleLog, leaves: Sequence[Leaf], c: LedgerCheckpoint) -> bool:
    return (
        c.tree_size <= len(leaves)
        and log.root(c.tree_size).hex() == c.root_hash
        and leaves[c.tree_size - 1].offset == c.last_offset
        and leaves[0].offset == c.first_offset
    )


def _trusted_store(
    chain: Sequence[LedgerCheckpoint], stored: Sequence[Leaf] | None, actual: Sequence[Leaf]
) -> tuple[list[Leaf] | None, list[Finding]]:
    """The prefix of the store the checkpoints vouch for, and findings if the store is corrupt."""
    if stored is None:
        return None, []
    log = MerkleLog(leaf.digest for leaf in stored)
    good = 0
    for c in chain:
        if c.tree_size > len(stored):
            break
        if not _reproduces(log, stored, c):
            return None, _corrupt_store(chain, c, stored, actual)
        good = c.tree_size
    return list(stored[:good]), []


def _corrupt_store(
    chain: Sequence[LedgerCheckpoint],
    bad: LedgerCheckpoint,
    stored: Sequence[Leaf],
    actual: Sequence[Leaf],
) -> list[Finding]:
    topic = MerkleLog(leaf.digest for leaf in actual)
    if _reproduces(topic, actual, bad):
        return compare_leaves(actual[: bad.tree_size], stored[: bad.tree_size], source="ledger")
    return [_mismatch(chain, bad, "ledger")]


def _first_failing(
    chain: Sequence[LedgerCheckpoint], actual: Sequence[Leaf]
) -> LedgerCheckpoint | None:
    log = MerkleLog(leaf.digest for leaf in actual)
    for c in chain:
        if c.tree_size > len(actual) or log.root(c.tree_size).hex() != c.root_hash:
            return c
    return None


def _localise(
    chain: Sequence[LedgerCheckpoint],
    bad: LedgerCheckpoint,
    trusted_leaves: Sequence[Leaf] | None,
    actual: Sequence[Leaf],
) -> list[Finding]:
    if trusted_leaves is None or len(trusted_leaves) < bad.tree_size:
        return [_mismatch(chain, bad, "topic")]
    found = compare_leaves(trusted_leaves, actual)
    return found or [_mismatch(chain, bad, "topic")]


def _mismatch(chain: Sequence[LedgerCheckpoint], bad: LedgerCheckpoint, source: str) -> Finding:
    earlier = [c for c in chain if c.tree_size < bad.tree_size]
    start = earlier[-1].tree_size if earlier else 0
    first = earlier[-1].last_offset + 1 if earlier else bad.first_offset
    detail = (
        f"positions {start}..{bad.tree_size - 1} (offsets {first}..{bad.last_offset}) do not "
        f"reproduce the checkpoint of size {bad.tree_size}"
    )
    return Finding(Tampering.MISMATCH, start, first, None, source, detail)


def _window(trusted_leaves: Sequence[Leaf], actual: Sequence[Leaf]) -> list[Leaf]:
    """The trusted leaves within the offsets of the observed range."""
    if not actual:
        return []
    low, high = actual[0].offset, actual[-1].offset
    return [leaf for leaf in trusted_leaves if low <= leaf.offset <= high]
