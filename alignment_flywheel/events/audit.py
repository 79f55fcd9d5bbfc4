"""Events of the audit trail: signed ledger checkpoints and dead letters."""

from __future__ import annotations

from typing import ClassVar

from alignment_flywheel.events.common import (
    NAMESPACE,
    Count,
    Event,
    Identity,
    Int,
    Long,
    Sha256Hex,
)


class LedgerCheckpoint(Event):
    """A signed Merkle tree head over a range of the audit log."""

    avro_name: ClassVar[str] = f"{NAMESPACE}.LedgerCheckpoint"

    log_id: Identity
    tree_size: Count
    root_hash: Sha256Hex
    first_offset: Count
    last_offset: Count
    key_id: Identity
    signature: bytes


class DeadLettered(Event):
    """A record could not be processed and was set aside, with the reason.

    Position fields are not range-checked: a dead letter must record whatever the client reported.
    When the whole letter would not fit the producer's request limit, ``original_key`` and
    ``original_value`` hold only their first bytes (``truncated``); the sizes and SHA-256 digests
    always describe the whole originals.
    """

    avro_name: ClassVar[str] = f"{NAMESPACE}.DeadLettered"

    source_topic: str
    partition: Int
    offset: Long
    original_key: bytes | None = None
    original_value: bytes | None = None
    reason: str
    error_type: str
    consumer_group: str | None = None
    original_key_size: Count | None = None
    original_key_sha256: Sha256Hex | None = None
    original_value_size: Count | None = None
    original_value_sha256: Sha256Hex | None = None
    truncated: bool = False
