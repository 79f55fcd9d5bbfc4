"""RFC 6962 Merkle trees against the Certificate Transparency reference vectors."""

from __future__ import annotations

import hashlib

import pytest

from alignment_flywheel.audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    MerkleLog,
    MerkleRangeError,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

DATA = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def reference_log() -> MerkleLog:
    log = MerkleLog()
    for data in DATA:
        log.append(data)
    return log


def test_hashes_use_the_rfc_6962_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == ROOTS[0]


def test_roots_match_the_reference_for_every_size() -> None:
    log = reference_log()
    for size in range(len(DATA) + 1):
        assert log.root(size).hex() == ROOTS[size]
        assert merkle_root([leaf_hash(d) for d in DATA[:size]]).hex() == ROOTS[size]


def test_inclusion_proofs_match_the_reference() -> None:
    log = reference_log()
    for (index, size), expected in INCLUSION.items():
        proof = log.inclusion_proof(index, size)
        assert [p.hex() for p in proof] == expected
        root = bytes.fromhex(ROOTS[size])
        assert verify_inclusion(log.leaf(index), index, size, proof, root)


def test_consistency_proofs_match_the_reference() -> None:
    log = reference_log()
    for (old, new), expected in CONSISTENCY.items():
        proof = log.consistency_proof(old, new)
        assert [p.hex() for p in proof] == expected
        assert verify_consistency(
            old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof
        )


MANY = [leaf_hash(i.to_bytes(4, "big")) for i in range(70)]


def test_every_inclusion_proof_verifies_and_mangled_ones_do_not() -> None:
    log = MerkleLog(MANY)
    for size in range(1, len(MANY) + 1):
        root = log.root(size)
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert verify_inclusion(MANY[index], index, size, proof, root)
            if proof:
                assert not verify_inclusion(MANY[index], index, size, proof[:-1], root)
                assert not verify_inclusion(MANY[index], index, size, [*proof, root], root)
                flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not verify_inclusion(MANY[index], index, size, flipped, root)
                other = (index + 1) % size
                assert not verify_inclusion(MANY[index], other, size, proof, root)


def test_every_consistency_proof_verifies_and_mangled_ones_do_not() -> None:
    log = MerkleLog(MANY)
    for new in range(len(MANY) + 1):
        for old in range(new + 1):
            proof = log.consistency_proof(old, new)
            assert verify_consistency(old, new, log.root(old), log.root(new), proof)
            if proof:
                assert not verify_consistency(old, new, log.root(old), log.root(new), proof[:-1])
                flipped = [*proof[:-1], bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
                assert not verify_consistency(old, new, log.root(old), log.root(new), flipped)
            if 0 < old < new:
                wrong = leaf_hash(b"not the old root")
                assert not verify_consistency(old, new, wrong, log.root(new), proof)


def test_incremental_appends_equal_a_log_built_at_once() -> None:
    grown, frontier = MerkleLog(), MerkleFrontier()
    assert frontier.root() == EMPTY_ROOT
    for size, digest in enumerate(MANY, start=1):
        grown.append_hash(digest)
        frontier.append_hash(digest)
        assert grown.root() == frontier.root() == MerkleLog(MANY[:size]).root()
        assert len(frontier._nodes) == bin(size).count("1")
    assert len(grown) == frontier.size == len(MANY)


def test_out_of_range_requests_are_refused() -> None:
    log = reference_log()
    with pytest.raises(MerkleRangeError):
        log.inclusion_proof(8, 8)
    with pytest.raises(MerkleRangeError):
        log.consistency_proof(5, 9)
    with pytest.raises(MerkleRangeError):
        log.root(9)
    with pytest.raises(MerkleRangeError):
        log.append_hash(b"short")
    assert not verify_inclusion(b"short", 0, 1, [], EMPTY_ROOT)
    assert not verify_consistency(3, 2, EMPTY_ROOT, EMPTY_ROOT, [])
