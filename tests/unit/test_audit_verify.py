"""Verifying audit logs: every kind of tampering is found, with its position."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.audit.ledger import (
    ENTRY_SIZE,
    Leaf,
    LeafStore,
    checkpoint_signed_by,
    leaf_of,
    log_id_for,
    parse_log_id,
    signed_checkpoint,
)
from alignment_flywheel.audit.merkle import MerkleLog
from alignment_flywheel.audit.verify import (
    CheckpointForkError,
    CheckpointSignatureError,
    Finding,
    NoCheckpointError,
    Record,
    Tampering,
    compare_leaves,
    verify_log,
)
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.patches.signing import key_id

LOG = "flywheel.verdicts/2"
KEY = Ed25519PrivateKey.generate()
TRUSTED = {key_id(KEY.public_key()): KEY.public_key()}
FIRST = 100


def records(count: int = 20) -> list[Record]:
    return [(FIRST + i, f"event-{i}".encode()) for i in range(count)]


def checkpoints(
    recs: list[Record], every: int = 5, key: Ed25519PrivateKey = KEY
) -> list[LedgerCheckpoint]:
    leaves = [leaf_of(o, v) for o, v in recs]
    log = MerkleLog(leaf.digest for leaf in leaves)
    return [
        signed_checkpoint(
            key,
            producer="test",
            log_id=LOG,
            tree_size=size,
            root=log.root(size),
            first_offset=leaves[0].offset,
            last_offset=leaves[size - 1].offset,
        )
        for size in range(every, len(leaves) + 1, every)
    ]


def stored(recs: list[Record]) -> list[Leaf]:
    return [leaf_of(o, v) for o, v in recs]


def renumbered(values: list[bytes | None]) -> list[Record]:
    """A copy of the records on another topic: the same values at offsets from 0."""
    return list(enumerate(values))


ORIGINAL = records()
CHECKPOINTS = checkpoints(ORIGINAL)
STORE = stored(ORIGINAL)
VALUES = [v for _, v in ORIGINAL]


def kinds(findings: list[Finding]) -> list[tuple[Tampering, int]]:
    return [(f.kind, f.position) for f in findings]


def test_an_untouched_log_verifies_and_counts_unsigned_records() -> None:
    report = verify_log(LOG, [*ORIGINAL, (FIRST + 20, b"new")], CHECKPOINTS, TRUSTED, stored=STORE)
    assert report.ok
    assert (report.checkpoints, report.signed_size, report.unchecked) == (4, 20, 1)


def test_an_altered_record_is_found_at_its_position() -> None:
    values = list(VALUES)
    values[7] = b"forged"
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [(Tampering.ALTERED, 7)]
    assert report.findings[0].offset == FIRST + 7


def test_a_deleted_record_is_found_at_its_position() -> None:
    values = VALUES[:3] + VALUES[4:]
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [(Tampering.DELETED, 3)]


def test_swapped_records_are_found_as_reordered() -> None:
    values = list(VALUES)
    values[11], values[12] = values[12], values[11]
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [(Tampering.REORDERED, 11)]


def test_a_record_moved_far_away_is_one_reordering() -> None:
    values = VALUES[:2] + VALUES[3:15] + [VALUES[2]] + VALUES[15:]
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [(Tampering.REORDERED, 2)]


def test_an_inserted_record_is_found_before_its_position() -> None:
    values = [*VALUES[:4], b"smuggled", *VALUES[4:]]
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [(Tampering.INSERTED, 4)]
    assert report.findings[0].observed_offset == 4
    assert report.unchecked == 0


def test_every_kind_at_once_is_reported_in_order() -> None:
    values = list(VALUES)
    values[2] = b"forged"
    values[15], values[16] = values[16], values[15]
    values = [*values[:6], *values[7:]]
    values = [*values[:10], b"smuggled", *values[10:]]
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [
        (Tampering.ALTERED, 2),
        (Tampering.DELETED, 6),
        (Tampering.INSERTED, 11),
        (Tampering.REORDERED, 15),
    ]


def test_truncation_is_a_deletion_at_the_end() -> None:
    report = verify_log(LOG, ORIGINAL[:18], CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(report.findings) == [(Tampering.DELETED, 18), (Tampering.DELETED, 19)]


def test_without_the_store_tampering_is_localised_between_checkpoints() -> None:
    values = list(VALUES)
    values[7] = b"forged"
    report = verify_log(LOG, renumbered(values), CHECKPOINTS, TRUSTED)
    assert kinds(report.findings) == [(Tampering.MISMATCH, 5)]
    assert "positions 5..9" in report.findings[0].detail


def test_a_corrupt_store_entry_is_found_at_its_position() -> None:
    corrupt = list(STORE)
    corrupt[9] = Leaf(corrupt[9].offset, b"\x00" * 32)
    report = verify_log(LOG, ORIGINAL, CHECKPOINTS, TRUSTED, stored=corrupt)
    assert [(f.source, f.kind, f.position) for f in report.findings] == [
        ("ledger", Tampering.ALTERED, 9)
    ]


def test_a_range_after_the_first_offset_is_compared_with_the_store() -> None:
    values = list(VALUES)
    values[12] = b"forged"
    window = [(FIRST + i, values[i]) for i in range(10, 20)]
    report = verify_log(LOG, window, CHECKPOINTS, TRUSTED, stored=STORE, from_first_offset=False)
    assert kinds(report.findings) == [(Tampering.ALTERED, 2)]
    assert report.findings[0].offset == FIRST + 12
    with pytest.raises(InvalidInputError):
        verify_log(LOG, window, CHECKPOINTS, TRUSTED, from_first_offset=False)


def test_a_checkpoint_by_an_untrusted_key_is_refused() -> None:
    foreign = checkpoints(ORIGINAL, key=Ed25519PrivateKey.generate())
    with pytest.raises(CheckpointSignatureError):
        verify_log(LOG, ORIGINAL, [*CHECKPOINTS, *foreign], TRUSTED)


def test_a_checkpoint_with_a_changed_field_is_refused() -> None:
    changed = CHECKPOINTS[1].model_copy(update={"last_offset": 1})
    assert not checkpoint_signed_by(changed, TRUSTED)
    with pytest.raises(CheckpointSignatureError):
        verify_log(LOG, ORIGINAL, [CHECKPOINTS[0], changed], TRUSTED)


def test_contradicting_checkpoints_are_a_fork() -> None:
    other = checkpoints(renumbered([b"x", *VALUES[1:]]))
    fork = [c.model_copy() for c in other if c.tree_size == 5]
    with pytest.raises(CheckpointForkError):
        verify_log(LOG, ORIGINAL, [*CHECKPOINTS, *fork], TRUSTED)


def test_a_log_without_checkpoints_cannot_be_verified() -> None:
    with pytest.raises(NoCheckpointError):
        verify_log("other/0", ORIGINAL, CHECKPOINTS, TRUSTED)


def test_compare_leaves_ignores_newer_records() -> None:
    leaves = stored(ORIGINAL)
    assert compare_leaves(leaves[:10], leaves) == []


def test_the_leaf_store_survives_a_torn_write(tmp_path: Path) -> None:
    store = LeafStore(tmp_path)
    store.append(LOG, STORE[:3])
    store.sync()
    store.close()
    with store.path(LOG).open("ab") as handle:
        handle.write(b"\x01" * (ENTRY_SIZE // 2))
    assert LeafStore(tmp_path).load(LOG) == STORE[:3]
    assert store.path(LOG).stat().st_size == 3 * ENTRY_SIZE
    assert store.path(LOG).name == "flywheel.verdicts%2F2.leaves"


def test_log_ids_name_a_topic_partition() -> None:
    assert parse_log_id(log_id_for("flywheel.patches", 1)) == ("flywheel.patches", 1)
    with pytest.raises(InvalidInputError):
        parse_log_id("no-partition")


def test_records_removed_by_retention_are_counted_not_reported() -> None:
    values = list(VALUES)
    values[15] = b"forged"
    window = [(FIRST + i, values[i]) for i in range(8, 20)]
    report = verify_log(LOG, window, CHECKPOINTS, TRUSTED, stored=STORE, from_first_offset=False)
    assert report.earlier == 8
    assert kinds(report.findings) == [(Tampering.ALTERED, 7)]
    assert report.findings[0].offset == FIRST + 15


def test_compaction_gaps_are_counted_on_a_compacted_topic_only() -> None:
    compacted = [r for r in ORIGINAL if r[0] not in (FIRST + 3, FIRST + 9)]
    strict = verify_log(LOG, compacted, CHECKPOINTS, TRUSTED, stored=STORE)
    assert kinds(strict.findings) == [(Tampering.DELETED, 3), (Tampering.DELETED, 9)]
    lenient = verify_log(LOG, compacted, CHECKPOINTS, TRUSTED, stored=STORE, compacted_topic=True)
    assert lenient.ok
    assert lenient.compacted == 2
    altered = [(o, b"forged" if o == FIRST + 12 else v) for o, v in compacted]
    still = verify_log(LOG, altered, CHECKPOINTS, TRUSTED, stored=STORE, compacted_topic=True)
    assert kinds(still.findings) == [(Tampering.ALTERED, 12)]
