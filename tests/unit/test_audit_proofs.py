"""Inclusion and consistency proofs against signed checkpoints."""

from __future__ import annotations

import pytest

from alignment_flywheel.audit.ledger import leaf_of
from alignment_flywheel.audit.proofs import consistency, inclusion, position_of
from alignment_flywheel.audit.verify import checked_chain
from alignment_flywheel.errors import InvalidInputError
from tests.unit.test_audit_verify import CHECKPOINTS, FIRST, LOG, ORIGINAL, TRUSTED

LEAVES = [leaf_of(o, v) for o, v in ORIGINAL]
CHAIN = checked_chain(LOG, CHECKPOINTS, TRUSTED)


def test_an_inclusion_proof_uses_the_largest_checkpoint_and_verifies() -> None:
    proof = inclusion(LOG, LEAVES, position_of(LEAVES, FIRST + 7), CHAIN)
    assert (proof.position, proof.offset, proof.tree_size) == (7, FIRST + 7, 20)
    assert proof.verified
    assert proof.root_hash == CHAIN[-1].root_hash


def test_an_inclusion_proof_for_an_altered_record_does_not_verify() -> None:
    altered = [*LEAVES[:7], leaf_of(FIRST + 7, b"forged"), *LEAVES[8:]]
    assert not inclusion(LOG, altered, 7, CHAIN).verified


def test_a_consistency_proof_between_checkpoints_verifies() -> None:
    proof = consistency(LOG, LEAVES, CHAIN, 5, 15)
    assert proof.verified
    assert len(proof.proof) > 0
    forged = [leaf_of(FIRST, b"forged"), *LEAVES[1:]]
    assert not consistency(LOG, forged, CHAIN, 5, 15).verified


def test_unanswerable_requests_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        consistency(LOG, LEAVES, CHAIN, 6, 15)
    with pytest.raises(InvalidInputError):
        inclusion(LOG, LEAVES[:4], 2, CHAIN)
    with pytest.raises(InvalidInputError):
        position_of(LEAVES, 5)
