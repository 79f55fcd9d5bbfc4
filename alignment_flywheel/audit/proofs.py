"""Inclusion and consistency proofs against signed checkpoints, for `flywheel audit verify`.

Rules: proofs are computed from the given leaves (recomputed from the topic, or the trusted leaf
store) and checked with the RFC 9162 verifiers against the root of a checkpoint whose signature
was already checked (:func:`~alignment_flywheel.audit.verify.checked_chain`). An inclusion proof
uses the largest checkpoint that covers the leaf and that the leaves reach; a consistency proof
needs checkpoints of exactly both sizes. A request the leaves or the checkpoints cannot answer is
:class:`~alignment_flywheel.errors.InvalidInputError`; a proof that does not verify is returned
with ``verified=False`` (the caller reports it as tampering).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alignment_flywheel.audit.ledger import Leaf
from alignment_flywheel.audit.merkle import MerkleLog, verify_consistency, verify_inclusion
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import LedgerCheckpoint


@dataclass(frozen=True)
class InclusionProof:
    log_id: str
    position: int
    offset: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: tuple[str, ...]
    verified: bool


@dataclass(frozen=True)
class ConsistencyProof:
    log_id: str
    size1: int
    size2: int
    root1: str
    root2: str
    proof: tuple[str, ...]
    verified: bool


def position_of(leaves: Sequence[Leaf], offset: int) -> int:
    for position, leaf in enumerate(leaves):
        if leaf.offset == offset:
            return position
    raise InvalidInputError(f"no record at offset {offset} in the range read")


def inclusion(
    log_id: str, leaves: Sequence[Leaf], position: int, chain: Sequence[LedgerCheckpoint]
) -> InclusionProof:
    """The audit path of the leaf at ``position`` to a signed root, and whether it verifies."""
    usable = [c for c in chain if position < c.tree_size <= len(leaves)]
    if not usable:
        raise InvalidInputError(
            f"position {position} of {log_id} is not covered by a checkpoint the records reach"
        )
    head = max(usable, key=lambda c: c.tree_size)
    tree = MerkleLog(leaf.digest for leaf in leaves[: head.tree_size])
    path = tree.inclusion_proof(position, head.tree_size)
    digest = leaves[position].digest
    ok = verify_inclusion(digest, position, head.tree_size, path, bytes.fromhex(head.root_hash))
    return InclusionProof(
        log_id,
        position,
        leaves[position].offset,
        head.tree_size,
        digest.hex(),
        head.root_hash,
        tuple(p.hex() for p in path),
        ok,
    )


def consistency(
    log_id: str, leaves: Sequence[Leaf], chain: Sequence[LedgerCheckpoint], size1: int, size2: int
) -> ConsistencyProof:
    """The proof that the signed tree of ``size1`` is a prefix of the one of ``size2``."""
    heads = {c.tree_size: c for c in chain}
    if size1 not in heads or size2 not in heads:
        raise InvalidInputError(f"{log_id} has no checkpoint of size {size1} and of size {size2}")
    if not size1 <= size2 <= len(leaves):
        raise InvalidInputError(f"sizes {size1} <= {size2} <= {len(leaves)} (leaves read) needed")
    tree = MerkleLog(leaf.digest for leaf in leaves[:size2])
    path = tree.consistency_proof(size1, size2)
    root1, root2 = heads[size1].root_hash, heads[size2].root_hash
    ok = verify_consistency(size1, size2, bytes.fromhex(root1), bytes.fromhex(root2), path)
    return ConsistencyProof(log_id, size1, size2, root1, root2, tuple(p.hex() for p in path), ok)
