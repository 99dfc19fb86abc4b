"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs over stored subtree hashes, and verification.

Hashing (RFC 9162 §2.1.1): a leaf hashes as ``SHA-256(0x00 || data)``, an interior node as
``SHA-256(0x01 || left || right)``, and the Merkle Tree Hash (MTH) of ``n > 1`` leaves splits them
at ``k``, the largest power of two smaller than ``n``: ``MTH(D[0:n]) = node(MTH(D[0:k]),
MTH(D[k:n]))``. The empty tree hashes to ``SHA-256("")``.

Stored hashes. The log keeps the hash of every *complete* subtree and nothing else, named by
:class:`NodeId` ``(level, index)``::

    NodeId(level, index) = MTH(D[index * 2**level : (index + 1) * 2**level])

defined once ``(index + 1) * 2**level <= size``. Level 0 holds the leaf hashes, level 1 the hashes
of leaf pairs, and so on. Because the tree is append-only, a complete subtree never changes, so
each stored hash is written exactly once and can be cached forever; a tree of size ``n`` has
``2n - popcount(n)`` of them. This is the same information as the Go ``tlog`` package's linear
"stored hash index" and as the C2SP tlog-tiles layout (a tile at level ``L`` holds the stored
hashes at tree level ``8L``, see :mod:`assay.tlog.tiles`), but keyed in two dimensions, which maps
directly onto a database key and onto tile coordinates.

Any other hash — the root of a tree whose size is not a power of two, or the right-hand sibling
on a proof path that reaches the right edge — is the hash of a range ``[lo, hi)`` and is
recomputed from the maximal complete subtrees that tile the range (:func:`subtree_nodes`), at most
``log2(n)`` of them. Every function here first works out, without any I/O, the full list of
stored hashes it needs and then asks the :class:`HashReader` for all of them in a single call, so
a root, an inclusion proof or a consistency proof costs one batched read of O(log n) hashes, and
the storage layer can group that batch by tile.

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) literally and raises
:class:`~assay.errors.VerificationError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from assay.errors import VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Append",
    "HashReader",
    "MemoryTree",
    "NodeId",
    "append_leaves",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proof_nodes",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "subtree_nodes",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Bytes in a SHA-256 hash: every leaf, node and root hash."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 9162 §2.1.1: "the hash of an empty string")."""

# Tree sizes and indexes are uint64 in every log API we speak (RFC 9162 §4, tlog-checkpoint); a
# bound also keeps hostile proof parameters from building enormous integers.
MAX_TREE_SIZE: Final = 2**64 - 1

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of a leaf (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes, computed directly; for small trees and tests.

    Iterative rather than recursive: hash adjacent pairs level by level, carrying an odd last
    node up unchanged. That yields the RFC's left-heavy split because each level's pairs are
    exactly the complete subtrees of the next level.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class NodeId(NamedTuple):
    """A complete subtree: the ``2**level`` leaves starting at ``index * 2**level``."""

    level: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, deliberately


class HashReader(Protocol):
    """Read access to stored complete-subtree hashes (see the module docstring for the scheme).

    ``read_hashes`` returns one 32-byte hash per requested node, in request order. Callers only
    ask for nodes that are complete in a tree size the log has committed, so an implementation may
    treat a missing node as corruption and raise. Requests may contain duplicates.
    """

    def read_hashes(self, nodes: Sequence[NodeId]) -> Sequence[bytes]: ...


# --- pure index arithmetic ------------------------------------------------------------------


def _largest_power_of_two_below(n: int) -> int:
    """The ``k`` of RFC 9162 §2.1.1: the largest power of two strictly smaller than ``n > 1``."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_nodes(start: int, end: int) -> list[NodeId]:
    """The maximal complete subtrees that tile ``[start, end)``, left to right.

    For the ranges that occur in RFC 9162 trees (``start`` a multiple of a power of two at least
    ``end - start``) these are the binary digits of ``end - start``, largest first, and the MTH of
    the range is their right fold with :func:`node_hash` (see :func:`_fold`). For ``start = 0``
    this is the "frontier" of a tree of size ``end``: the hashes its root is computed from, and
    the left siblings that the next appended leaves will be hashed with.
    """
    if not 0 <= start <= end:
        raise ValueError(f"invalid range [{start}, {end})")
    nodes: list[NodeId] = []
    while start < end:
        # The largest aligned block that starts at ``start`` and fits before ``end``.
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append(NodeId(level, start >> level))
        start += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its :func:`subtree_nodes` (right fold)."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf first.

    Walking down from the root: at each split ``k`` the proof needs the MTH of the half that does
    not contain the leaf. Only the first right-hand half taken can reach the right edge of the
    tree, so at most one range is not a single complete subtree.
    """
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1).

    An iterative SUBPROOF(m, D[lo:hi], b): ``b`` stays true while ``[lo, hi)`` is a prefix of the
    new tree whose left edge is also the old tree's, in which case the old root is not repeated in
    the proof. Requires ``0 < old_size < new_size``.
    """
    ranges: list[tuple[int, int]] = []
    lo, hi, complete_old_tree = 0, new_size, True
    while old_size != hi:
        k = _largest_power_of_two_below(hi - lo)
        if old_size - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            complete_old_tree = False
    if not complete_old_tree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{name} {value} is outside 0..2**64-1")


# --- reading through a HashReader -----------------------------------------------------------


def _range_hashes(ranges: Sequence[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """MTH of each range, reading every stored hash they need in one batch."""
    plans = [subtree_nodes(lo, hi) for lo, hi in ranges]
    wanted = [node for plan in plans for node in plan]
    hashes = _read(reader, wanted)
    result: list[bytes] = []
    offset = 0
    for plan in plans:
        result.append(_fold(hashes[offset : offset + len(plan)]))
        offset += len(plan)
    return result


def _read(reader: HashReader, nodes: Sequence[NodeId]) -> list[bytes]:
    if not nodes:
        return []
    hashes = list(reader.read_hashes(nodes))
    if len(hashes) != len(nodes):
        raise ValueError(f"hash reader returned {len(hashes)} hashes for {len(nodes)} nodes")
    for node, value in zip(nodes, hashes, strict=True):
        if len(value) != HASH_SIZE:
            raise ValueError(f"hash reader returned a {len(value)}-byte hash for {node}")
    return hashes


def tree_root(size: int, reader: HashReader) -> bytes:
    """MTH of the first ``size`` leaves, from at most ``log2(size) + 1`` stored hashes."""
    _check_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), ordered from the leaf up.

    Raises ValueError unless ``0 <= index < size``.
    """
    _check_size("size", size)
    _check_size("index", index)
    if index >= size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return _range_hashes(_inclusion_ranges(index, size), reader)


def inclusion_proof_nodes(index: int, size: int) -> list[NodeId]:
    """The stored hashes :func:`inclusion_proof` reads for PATH(index, D[0:size]): a caller
    proving many leaves against one tree reads all their nodes in one batch first.

    Raises ValueError unless ``0 <= index < size``.
    """
    _check_size("size", size)
    _check_size("index", index)
    if index >= size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return [node for lo, hi in _inclusion_ranges(index, size) for node in subtree_nodes(lo, hi)]


def consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1).

    Empty when ``old_size`` is 0 or equal to ``new_size`` (nothing to prove); raises ValueError
    when ``old_size > new_size``.
    """
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        return []
    return _range_hashes(_consistency_ranges(old_size, new_size), reader)


@dataclass(frozen=True, slots=True)
class Append:
    """The result of appending a batch of leaves: what to store, and the new tree head.

    ``nodes`` maps every complete subtree that exists at ``size`` but did not exist before the
    batch to its hash (the leaves included); each is written once and never changes.
    """

    nodes: dict[tuple[int, int], bytes]
    size: int
    root: bytes


def append_leaves(size: int, leaf_hashes: Sequence[bytes], reader: HashReader) -> Append:
    """Extend a tree of ``size`` leaves by ``leaf_hashes``.

    Reads only the old tree's frontier (``subtree_nodes(0, size)``, one batch of at most
    ``log2(size) + 1`` hashes): those are the only old nodes a new node can have as its left
    child. The new root comes from the new frontier, all of whose hashes are then known.
    """
    _check_size("size", size)
    _check_size("new size", size + len(leaf_hashes))
    for value in leaf_hashes:
        if len(value) != HASH_SIZE:
            raise ValueError(f"leaf hashes are {HASH_SIZE} bytes, got {len(value)}")
    old_frontier = subtree_nodes(0, size)
    known = dict(zip(old_frontier, _read(reader, old_frontier), strict=True))
    new: dict[tuple[int, int], bytes] = {}
    for offset, value in enumerate(leaf_hashes):
        level, index, node = 0, size + offset, value
        new[NodeId(level, index)] = node
        # A right child (odd index) completes its parent with the left sibling, which is either
        # on the old frontier or was created earlier in this batch.
        while index & 1:
            left = NodeId(level, index - 1)
            node = node_hash(new[left] if left in new else known[left], node)
            level, index = level + 1, index >> 1
            new[NodeId(level, index)] = node
    new_size = size + len(leaf_hashes)
    frontier = subtree_nodes(0, new_size)
    if not frontier:
        return Append(nodes=new, size=new_size, root=EMPTY_ROOT)
    root = _fold([new[node] if node in new else known[node] for node in frontier])
    return Append(nodes=new, size=new_size, root=root)


class MemoryTree:
    """A :class:`HashReader` over a dict: the whole tree in memory, for tests and small tools."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._size = 0
        self._root = EMPTY_ROOT
        self.append(list(leaf_hashes))

    @property
    def size(self) -> int:
        return self._size

    @property
    def root(self) -> bytes:
        return self._root

    def append(self, leaf_hashes: Sequence[bytes]) -> Append:
        result = append_leaves(self._size, leaf_hashes, self)
        self._nodes.update(result.nodes)
        self._size, self._root = result.size, result.root
        return result

    def read_hashes(self, nodes: Sequence[NodeId]) -> list[bytes]:
        try:
            return [self._nodes[node] for node in nodes]
        except KeyError as exc:
            raise ValueError(f"no stored hash for node {exc.args[0]}") from None


# --- verification ---------------------------------------------------------------------------


def _check_hashes(proof: Sequence[bytes], *others: bytes) -> None:
    for value in (*proof, *others):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise VerificationError(f"Merkle hashes must be {HASH_SIZE} bytes")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` in a tree of ``size``.

    RFC 9162 §2.1.3.2 steps 1–5 without the final comparison with a known root. Raises
    :class:`VerificationError` if the proof has the wrong shape for ``(index, size)``.
    """
    _check_hashes(proof, leaf)
    if not (isinstance(index, int) and isinstance(size, int)) or not (
        0 <= index < size <= MAX_TREE_SIZE
    ):
        raise VerificationError(
            f"leaf index {index} is not in a tree of size {size}", index=index, size=size
        )
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long", index=index, size=size)
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            # On the right edge a level may have no sibling: skip up to where fn is a right
            # child again (or the root).
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short", index=index, size=size)
    return result


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is at ``index`` in the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`VerificationError`.
    """
    _check_hashes((), root)
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise VerificationError(
            "inclusion proof does not lead to the root hash", index=index, size=size
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    proof: Sequence[bytes],
    old_root: bytes,
    new_root: bytes,
) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Equal sizes need an empty proof and equal
    roots; an empty old tree (root ``SHA-256("")``) is a prefix of every tree, with an empty proof.
    Raises :class:`VerificationError`.
    """
    _check_hashes(proof, old_root, new_root)
    details = {"old_size": old_size, "new_size": new_size}
    if not (isinstance(old_size, int) and isinstance(new_size, int)) or not (
        0 <= old_size <= new_size <= MAX_TREE_SIZE
    ):
        raise VerificationError("tree sizes do not form a consistency check", **details)
    if old_size in (0, new_size):
        if proof:
            raise VerificationError("consistency proof must be empty", **details)
        expected = EMPTY_ROOT if old_size == 0 else new_root
        if old_root != expected:
            raise VerificationError("tree roots differ", **details)
        return
    # 1. An empty path cannot prove anything when old_size < new_size.
    if not proof:
        raise VerificationError("consistency proof is empty", **details)
    path = list(proof)
    # 2. If old_size is a power of two, the old root is itself a node of the new tree and the
    #    proof omits it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3–4. Skip the levels where the old tree's last leaf is a right child.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5–6.
    fr = sr = path[0]
    for value in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long", **details)
        if fn & 1 or fn == sn:
            fr = node_hash(value, fr)
            sr = node_hash(value, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, value)
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise VerificationError("consistency proof is too short", **details)
    if fr != old_root:
        raise VerificationError("consistency proof does not lead to the old root", **details)
    if sr != new_root:
        raise VerificationError("consistency proof does not lead to the new root", **details)
