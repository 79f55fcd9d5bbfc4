"""The audit ledger's records: log ids, leaf data, the durable leaf store, signed checkpoints.

Rules:

* One log per partition of an audited topic; its id is ``"<topic>/<partition>"``. Leaf ``i`` of a
  log is the ``i``-th record of the partition in offset order, from the first offset the ledger saw
  (``first_offset`` of every checkpoint of the log).
* The leaf data is the record's value bytes exactly as stored on the topic (the framed Avro event,
  envelope included); a tombstone is the empty string. Nothing is decoded, so a record that does
  not decode is covered like any other and cannot slip past the ledger.
* The leaf store keeps, per log, one fixed-width entry per leaf: the offset (8 bytes, big-endian)
  and the RFC 6962 leaf hash (32 bytes), appended and fsynced before any checkpoint that covers
  them is published. A torn last entry (a crash in the middle of a write) is cut off on load.
* A checkpoint signs ``PAE(CHECKPOINT_PAYLOAD_TYPE, JCS({log_id, tree_size, root_hash,
  first_offset, last_offset}))`` (RFC 8785 canonical JSON, DSSE pre-authentication encoding) with
  Ed25519; ``key_id`` is the hex SHA-256 of the raw public key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, NamedTuple

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from alignment_flywheel.audit.merkle import HASH_SIZE, leaf_hash
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import LedgerCheckpoint, new_envelope
from alignment_flywheel.events.ids import emitted_event_id
from alignment_flywheel.patches.signing import key_id, sign, signature_valid

CHECKPOINT_PAYLOAD_TYPE = "application/vnd.alignment-flywheel.ledger-checkpoint+json"
ENTRY_SIZE = 8 + HASH_SIZE
STORE_SUFFIX = ".leaves"
READ_ENTRIES = 65_536


class LedgerStoreError(InvalidInputError):
    """The leaf store on disk is unusable (offsets out of order)."""


class Leaf(NamedTuple):
    """One leaf of a log: the record's offset and its RFC 6962 leaf hash."""

    offset: int
    digest: bytes


def log_id_for(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def parse_log_id(log_id: str) -> tuple[str, int]:
    topic, _, partition = log_id.rpartition("/")
    if not topic or not partition.isdigit():
        raise InvalidInputError(f"{log_id!r} is not a log id (<topic>/<partition>)")
    return topic, int(partition)


def leaf_of(offset: int, value: bytes | None) -> Leaf:
    """The leaf of the record at ``offset`` with ``value`` (a tombstone is the empty string)."""
    return Leaf(offset, leaf_hash(value or b""))


class LeafStore:
    """Append-only files ``<directory>/<log id, / as %>.leaves`` of (offset, leaf hash) entries."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: dict[str, BinaryIO] = {}

    def path(self, log_id: str) -> Path:
        return self.directory / (log_id.replace("%", "%25").replace("/", "%2F") + STORE_SUFFIX)

    def load(self, log_id: str) -> list[Leaf]:
        """Every stored leaf of ``log_id`` in order (a torn last entry is cut off)."""
        return list(self.leaves(log_id))

    def leaves(self, log_id: str) -> Iterator[Leaf]:
        """The stored leaves of ``log_id`` in order, read in chunks (a torn last entry is cut
        off first); LedgerStoreError if the offsets do not increase."""
        path = self.path(log_id)
        if not path.exists():
            return
        size = path.stat().st_size
        whole = size - size % ENTRY_SIZE
        if whole != size:
            os.truncate(path, whole)
        previous = -1
        with path.open("rb") as handle:
            while chunk := handle.read(ENTRY_SIZE * READ_ENTRIES):
                for i in range(0, len(chunk), ENTRY_SIZE):
                    leaf = _entry(chunk[i : i + ENTRY_SIZE])
                    if leaf.offset <= previous:
                        raise LedgerStoreError(f"{path}: offset {leaf.offset} after {previous}")
                    previous = leaf.offset
                    yield leaf

    def reset(self, log_id: str) -> None:
        """Forget the stored leaves of ``log_id`` (to derive them again from the topic)."""
        self._close(log_id)
        self.path(log_id).unlink(missing_ok=True)

    def append(self, log_id: str, leaves: Iterable[Leaf]) -> None:
        handle = self._files.get(log_id)
        if handle is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = self._files[log_id] = self.path(log_id).open("ab")
        handle.write(b"".join(leaf.offset.to_bytes(8, "big") + leaf.digest for leaf in leaves))

    def sync(self) -> None:
        """Make every appended entry durable (flush and fsync)."""
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        for log_id in list(self._files):
            self._close(log_id)

    def _close(self, log_id: str) -> None:
        handle = self._files.pop(log_id, None)
        if handle is not None:
            handle.close()


def _entry(raw: bytes) -> Leaf:
    return Leaf(int.from_bytes(raw[:8], "big"), raw[8:])


def checkpoint_body(
    log_id: str, tree_size: int, root_hash: str, first_offset: int, last_offset: int
) -> bytes:
    """The canonical bytes a checkpoint's signature covers."""
    return rfc8785.dumps(
        {
            "log_id": log_id,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "first_offset": first_offset,
            "last_offset": last_offset,
        }
    )


def _body_of(checkpoint: LedgerCheckpoint) -> bytes:
    return checkpoint_body(
        checkpoint.log_id,
        checkpoint.tree_size,
        checkpoint.root_hash,
        checkpoint.first_offset,
        checkpoint.last_offset,
    )


def signed_checkpoint(
    private: Ed25519PrivateKey,
    *,
    producer: str,
    log_id: str,
    tree_size: int,
    root: bytes,
    first_offset: int,
    last_offset: int,
) -> LedgerCheckpoint:
    """A LedgerCheckpoint for the tree head, signed with ``private``; keyed by the log id."""
    body = checkpoint_body(log_id, tree_size, root.hex(), first_offset, last_offset)
    return LedgerCheckpoint(
        envelope=new_envelope(producer, log_id).model_copy(
            update={"event_id": emitted_event_id(f"{log_id}/{tree_size}", "checkpoint")}
        ),
        log_id=log_id,
        tree_size=tree_size,
        root_hash=root.hex(),
        first_offset=first_offset,
        last_offset=last_offset,
        key_id=key_id(private.public_key()),
        signature=sign(private, CHECKPOINT_PAYLOAD_TYPE, body),
    )


def checkpoint_signed_by(
    checkpoint: LedgerCheckpoint, trusted: Mapping[str, Ed25519PublicKey]
) -> bool:
    """Whether the checkpoint's key is trusted and its signature over its fields is valid."""
    public = trusted.get(checkpoint.key_id)
    if public is None:
        return False
    return signature_valid(
        public, checkpoint.signature, CHECKPOINT_PAYLOAD_TYPE, _body_of(checkpoint)
    )
