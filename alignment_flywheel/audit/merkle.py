"""RFC 6962 Merkle trees: tree heads, inclusion and consistency proofs, their verifiers.

Rules (RFC 6962 §2.1, verifiers as RFC 9162 §2.1.3.2 and §2.1.4.2):

* A leaf hash is ``SHA-256(0x00 || data)``, an interior node ``SHA-256(0x01 || left || right)``;
  the hash of the empty tree is ``SHA-256("")``.
* ``MTH(D[n])`` splits at ``k``, the largest power of two smaller than ``n``; inclusion proofs
  (``PATH``) and consistency proofs (``PROOF``) are those of the RFC, leaf to root.
* :class:`MerkleLog` is append-only. It keeps every complete aligned subtree (level ``h`` holds the
  hashes of the subtrees of ``2**h`` leaves), so an append costs O(log n) hashes at worst (O(1)
  amortised), the root of any prefix size costs O(log n) and a proof O(log² n) lookups.
* :class:`MerkleFrontier` keeps only the roots of the complete subtrees (O(log n) memory): what a
  writer needs to append and sign, not to serve proofs.
* Verifiers never raise on a bad proof: they return ``False``. Asking a log for something it does
  not hold (an index or size out of range) is a :class:`MerkleRangeError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from alignment_flywheel.errors import InvalidInputError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class MerkleRangeError(InvalidInputError):
    """A leaf index or a tree size outside the log."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleLog:
    """An append-only RFC 6962 log over leaf hashes."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for digest in leaf_hashes:
            self.append_hash(digest)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def __len__(self) -> int:
        return self.size

    def leaf(self, index: int) -> bytes:
        self._check_index(index, self.size)
        return self._levels[0][index]

    def append(self, data: bytes) -> int:
        """Append a leaf for ``data``; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, digest: bytes) -> int:
        """Append a leaf by its leaf hash; returns its index."""
        if len(digest) != HASH_SIZE:
            raise MerkleRangeError(f"a leaf hash has {HASH_SIZE} bytes, not {len(digest)}")
        index = self.size
        levels, height, node = self._levels, 0, digest
        while True:
            levels[height].append(node)
            if len(levels[height]) % 2:
                return index
            node = node_hash(levels[height][-2], node)
            height += 1
            if height == len(levels):
                levels.append([])

    def root(self, size: int | None = None) -> bytes:
        """``MTH`` of the first ``size`` leaves (all of them by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise MerkleRangeError(f"tree size {size} outside 0..{self.size}")
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[size])``: the audit path of leaf ``index`` in the tree of ``size``."""
        size = self.size if size is None else size
        if not 0 < size <= self.size:
            raise MerkleRangeError(f"tree size {size} outside 1..{self.size}")
        self._check_index(index, size)
        return self._path(index, 0, size)

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """``PROOF(old_size, D[size])``: that the tree of ``old_size`` is a prefix of ``size``'s."""
        size = self.size if size is None else size
        if not 0 <= old_size <= size <= self.size:
            raise MerkleRangeError(
                f"sizes {old_size}, {size} not within 0 <= m <= n <= {self.size}"
            )
        if old_size in (0, size):
            return []
        return self._subproof(old_size, 0, size, True)

    def _check_index(self, index: int, size: int) -> None:
        if not 0 <= index < size:
            raise MerkleRangeError(f"leaf index {index} outside 0..{size - 1}")

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``; ``start`` is aligned to a power of two >= the width."""
        width = end - start
        if width & (width - 1) == 0:
            height = width.bit_length() - 1
            return self._levels[height][start >> height]
        k = split_point(width)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = split_point(end - start)
        if index < start + k:
            return [*self._path(index, start, start + k), self._subtree(start + k, end)]
        return [*self._path(index, start + k, end), self._subtree(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        width = end - start
        if m == width:
            return [] if complete else [self._subtree(start, end)]
        k = split_point(width)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self._subtree(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._subtree(start, start + k)]


class MerkleFrontier:
    """The roots of the complete subtrees of a log (at most log2 n + 1 hashes): enough to append
    in O(log n) and to compute the current root, in O(log n) memory. For a writer that does not
    serve proofs."""

    def __init__(self) -> None:
        self.size = 0
        self._nodes: list[bytes] = []

    def append_hash(self, digest: bytes) -> int:
        if len(digest) != HASH_SIZE:
            raise MerkleRangeError(f"a leaf hash has {HASH_SIZE} bytes, not {len(digest)}")
        node, size = digest, self.size
        while size & 1:
            node = node_hash(self._nodes.pop(), node)
            size >>= 1
        self._nodes.append(node)
        self.size += 1
        return self.size - 1

    def root(self) -> bytes:
        """``MTH`` of every leaf appended so far."""
        if not self._nodes:
            return EMPTY_ROOT
        root = self._nodes[-1]
        for node in reversed(self._nodes[:-1]):
            root = node_hash(node, root)
        return root


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a sequence of leaf hashes."""
    return MerkleLog(leaf_hashes).root()


def verify_inclusion(
    digest: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether ``proof`` shows leaf hash ``digest`` at ``index`` of ``root``."""
    if not 0 <= index < size or not _well_formed(digest, root, *proof):
        return False
    climbed = _climb(index, size - 1, digest, proof)
    return climbed is not None and climbed[1] == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows tree ``size1`` is a prefix of tree ``size2``."""
    if not 0 <= size1 <= size2 or not _well_formed(root1, root2, *proof):
        return False
    if size1 in (size2, 0):
        return not proof and root1 == (root2 if size1 else EMPTY_ROOT)
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    if not proof:
        return False
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    climbed = _climb(fn, sn, path[0], path[1:])
    return climbed is not None and climbed == (root1, root2)


def _climb(fn: int, sn: int, seed: bytes, path: Sequence[bytes]) -> tuple[bytes, bytes] | None:
    """The shared loop of both RFC 9162 verifiers: ``(fr, sr)``, or None if the path is too long
    or too short for the sizes (``sn`` must reach exactly 0)."""
    fr = sr = seed
    for c in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return (fr, sr) if sn == 0 else None


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)
