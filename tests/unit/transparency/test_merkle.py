"""Merkle trees: proofs generated over stored hashes against a naive RFC 6962 §2.1 implementation,
sigstore-python's verifier as a second oracle, tampering, and a real public Rekor inclusion proof.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import VerificationError
from assay.transparency.merkle import (
    EMPTY_ROOT,
    HashReader,
    MemoryTree,
    NodeId,
    append_leaves,
    consistency_proof,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaves,
    subtree_nodes,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.npm_real import ROOT

MAX = 64

# --- the independent implementation: RFC 6962 §2.1 as written ---------------------------------


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), by counting up as the RFC states it."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@functools.cache
def mth(leaves: tuple[bytes, ...]) -> bytes:
    """MTH(D[n]) over leaf *data* (RFC 6962 §2.1)."""
    n = len(leaves)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + leaves[0])
    k = _k(n)
    return _sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: tuple[bytes, ...]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 6962 §2.1.1)."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: tuple[bytes, ...], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 6962 §2.1.2)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def proof(m: int, leaves: tuple[bytes, ...]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 6962 §2.1.2)."""
    return subproof(m, leaves, True)


DATA = tuple(f"leaf {i}".encode() for i in range(MAX))
HASHES = [leaf_hash(d) for d in DATA]
TREE = MemoryTree(HASHES)  # every smaller tree's stored hashes are a subset of this one's


class CountingReader:
    """Records every batch a proof asks for (to check the O(log n), one-batch claims)."""

    def __init__(self, inner: HashReader) -> None:
        self.inner = inner
        self.batches: list[list[NodeId]] = []

    def read_hashes(self, nodes: Sequence[NodeId]) -> Sequence[bytes]:
        self.batches.append(list(nodes))
        return self.inner.read_hashes(nodes)


# --- sigstore-python's verifier, wrapped ---------------------------------------------------


def sigstore_verify_inclusion(
    body: bytes, index: int, size: int, hashes: Sequence[bytes], root: bytes
) -> None:
    """Run sigstore-python's ``verify_merkle_inclusion`` on a stand-in for a log entry.

    It reads only ``entry._inner.inclusion_proof.{log_index,tree_size,hashes,root_hash}`` and
    ``entry._inner.canonicalized_body``; raises ``sigstore.errors.VerificationError``.
    """
    from sigstore._internal.merkle import verify_merkle_inclusion

    proof_ns = SimpleNamespace(log_index=index, tree_size=size, hashes=list(hashes), root_hash=root)
    entry = SimpleNamespace(
        _inner=SimpleNamespace(inclusion_proof=proof_ns, canonicalized_body=body)
    )
    verify_merkle_inclusion(cast(Any, entry))


# --- hashing ----------------------------------------------------------------------------------


def test_hash_prefixes() -> None:
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha(b"\x01" + b"L" * 32 + b"R" * 32)
    assert _sha(b"") == EMPTY_ROOT
    # RFC 6962 test vector (certificate-transparency-go testdata): the empty leaf.
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize("n", range(MAX + 1))
def test_roots_agree_with_naive_mth(n: int) -> None:
    expected = mth(DATA[:n])
    assert root_from_leaves(HASHES[:n]) == expected
    assert tree_root(n, TREE) == expected
    assert MemoryTree(HASHES[:n]).root == expected


def test_subtree_nodes_tile_the_range() -> None:
    assert subtree_nodes(0, 0) == []
    assert subtree_nodes(0, 7) == [NodeId(2, 0), NodeId(1, 2), NodeId(0, 6)]
    assert subtree_nodes(0, 8) == [NodeId(3, 0)]
    assert subtree_nodes(4, 7) == [NodeId(1, 2), NodeId(0, 6)]
    for start in range(0, 40):
        for end in range(start, 80):
            covered: list[int] = []
            for level, index in subtree_nodes(start, end):
                covered.extend(range(index << level, (index + 1) << level))
            assert covered == list(range(start, end))
    with pytest.raises(ValueError, match="invalid range"):
        subtree_nodes(5, 4)


# --- inclusion --------------------------------------------------------------------------------


def test_inclusion_all_pairs_against_naive_and_sigstore() -> None:
    for size in range(1, MAX + 1):
        root = mth(DATA[:size])
        for index in range(size):
            generated = inclusion_proof(index, size, TREE)
            assert generated == path(index, DATA[:size]), (index, size)
            verify_inclusion(HASHES[index], index, size, generated, root)
            sigstore_verify_inclusion(DATA[index], index, size, generated, root)


def test_inclusion_is_one_batch_of_log_n_reads() -> None:
    for size in (1, 2, 3, 5, 31, 32, 33, 63, 64):
        for index in range(size):
            reader = CountingReader(TREE)
            inclusion_proof(index, size, reader)
            assert len(reader.batches) <= 1
            reads = sum(len(batch) for batch in reader.batches)
            assert reads <= 2 * max(1, size.bit_length())


def _tamperings(proof_hashes: list[bytes]) -> list[list[bytes]]:
    variants: list[list[bytes]] = [[*proof_hashes, b"\x00" * 32]]
    if proof_hashes:
        variants.append(proof_hashes[:-1])
        variants.append(proof_hashes[1:])
        for i in range(len(proof_hashes)):
            flipped = bytearray(proof_hashes[i])
            flipped[i % 32] ^= 0x01
            variants.append([*proof_hashes[:i], bytes(flipped), *proof_hashes[i + 1 :]])
        if len(proof_hashes) > 1:
            variants.append(list(reversed(proof_hashes)))
    return variants


def test_tampered_inclusion_proofs_fail() -> None:
    for size in range(1, 34):
        root = mth(DATA[:size])
        for index in range(size):
            good = inclusion_proof(index, size, TREE)
            for bad in _tamperings(good):
                if bad == good:
                    continue
                with pytest.raises(VerificationError):
                    verify_inclusion(HASHES[index], index, size, bad, root)
            other = (index + 1) % size
            if other != index:
                with pytest.raises(VerificationError):
                    verify_inclusion(HASHES[other], index, size, good, root)
                with pytest.raises(VerificationError):
                    verify_inclusion(HASHES[index], other, size, good, root)
            # (A wrong size is not always detectable: index 0 has the same path shape in trees of
            # 3 and 4 leaves. What binds the size is the checkpoint signature over (size, root).)
            with pytest.raises(VerificationError):
                verify_inclusion(HASHES[index], index, size, good, EMPTY_ROOT)


@pytest.mark.parametrize(
    ("index", "size", "proof_hashes"),
    [
        (0, 0, []),  # empty tree
        (1, 1, []),  # index == size
        (-1, 4, [b"\x00" * 32] * 2),
        (0, 2**64, []),
        (0, 2, [b"short"]),
        (0, 1, [b"\x00" * 32]),  # a one-leaf tree has an empty proof
    ],
)
def test_malformed_inclusion_parameters(index: int, size: int, proof_hashes: list[bytes]) -> None:
    with pytest.raises(VerificationError):
        verify_inclusion(HASHES[0], index, size, proof_hashes, HASHES[0])
    with pytest.raises(VerificationError):
        verify_inclusion(b"\x00" * 31, 0, 1, [], HASHES[0])


def test_generation_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(4, 4, TREE)
    with pytest.raises(ValueError, match="larger than"):
        consistency_proof(5, 4, TREE)
    with pytest.raises(ValueError, match="outside"):
        tree_root(-1, TREE)
    with pytest.raises(TypeError):
        tree_root(True, TREE)


# --- consistency ------------------------------------------------------------------------------


def test_consistency_all_pairs_against_naive() -> None:
    for new_size in range(1, MAX + 1):
        new_root = mth(DATA[:new_size])
        for old_size in range(0, new_size + 1):
            old_root = mth(DATA[:old_size])
            generated = consistency_proof(old_size, new_size, TREE)
            if old_size > 0:
                assert generated == proof(old_size, DATA[:new_size]), (old_size, new_size)
            else:
                assert generated == []
            verify_consistency(old_size, new_size, generated, old_root, new_root)


def test_consistency_is_one_batch_of_log_n_reads() -> None:
    for new_size in range(2, MAX + 1):
        for old_size in range(1, new_size):
            reader = CountingReader(TREE)
            consistency_proof(old_size, new_size, reader)
            assert len(reader.batches) == 1
            assert len(reader.batches[0]) <= 2 * new_size.bit_length()


def test_tampered_consistency_proofs_fail() -> None:
    for new_size in range(2, 34):
        new_root = mth(DATA[:new_size])
        for old_size in range(1, new_size):
            old_root = mth(DATA[:old_size])
            good = consistency_proof(old_size, new_size, TREE)
            for bad in _tamperings(good):
                if bad == good:
                    continue
                with pytest.raises(VerificationError):
                    verify_consistency(old_size, new_size, bad, old_root, new_root)
            with pytest.raises(VerificationError):
                verify_consistency(old_size, new_size, good, new_root, new_root)
            with pytest.raises(VerificationError):
                verify_consistency(old_size, new_size, good, old_root, old_root)
            with pytest.raises(VerificationError):
                verify_consistency(old_size, new_size, [], old_root, new_root)
            if old_size + 1 < new_size:
                with pytest.raises(VerificationError):
                    verify_consistency(old_size + 1, new_size, good, old_root, new_root)


def test_consistency_edge_cases() -> None:
    root4 = mth(DATA[:4])
    verify_consistency(4, 4, [], root4, root4)
    verify_consistency(0, 4, [], EMPTY_ROOT, root4)
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    for args in [
        (4, 4, [root4], root4, root4),  # equal sizes: the proof must be empty
        (4, 4, [], root4, mth(DATA[:3])),  # equal sizes, different roots
        (0, 4, [], root4, root4),  # the empty tree's root is fixed
        (0, 4, [root4], EMPTY_ROOT, root4),
        (5, 4, [], root4, root4),  # shrinking
        (-1, 4, [], root4, root4),
        (1, 2**64, [root4], root4, root4),
        (1, 2, [b"short"], HASHES[0], root4),
    ]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)


# --- appending ------------------------------------------------------------------------------


def test_append_writes_each_node_once_in_any_batching() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    for batch in (1, 2, 3, 7, 64, 255, 300):
        tree = MemoryTree()
        written: dict[tuple[int, int], bytes] = {}
        for start in range(0, len(leaves), batch):
            result = tree.append(leaves[start : start + batch])
            assert not set(result.nodes) & set(written), "a stored hash was rewritten"
            written.update(result.nodes)
            assert result.size == tree.size == min(start + batch, len(leaves))
            assert result.root == root_from_leaves(leaves[: result.size])
        n = len(leaves)
        assert len(written) == 2 * n - n.bit_count()
        for (level, index), value in written.items():
            span = leaves[index << level : (index + 1) << level]
            assert len(span) == 1 << level
            assert value == root_from_leaves(span)


def test_append_reads_only_the_frontier() -> None:
    reader = CountingReader(TREE)
    result = append_leaves(37, [b"\x07" * 32] * 5, reader)
    assert reader.batches == [subtree_nodes(0, 37)]
    assert result.size == 42
    assert result.root == root_from_leaves([*HASHES[:37], *([b"\x07" * 32] * 5)])
    empty = append_leaves(37, [], CountingReader(TREE))
    assert empty.nodes == {}
    assert empty.root == tree_root(37, TREE)
    with pytest.raises(ValueError, match="32 bytes"):
        append_leaves(0, [b"short"], TREE)


def test_reader_contract_is_checked() -> None:
    class Short:
        def read_hashes(self, nodes: Sequence[NodeId]) -> Sequence[bytes]:
            return [b"\x00" * 31 for _ in nodes]

    class Missing:
        def read_hashes(self, nodes: Sequence[NodeId]) -> Sequence[bytes]:
            return []

    with pytest.raises(ValueError, match="31-byte"):
        tree_root(3, Short())
    with pytest.raises(ValueError, match="returned 0 hashes"):
        tree_root(3, Missing())
    with pytest.raises(ValueError, match="no stored hash"):
        MemoryTree(HASHES[:4]).read_hashes([NodeId(0, 4)])


# --- random sizes -----------------------------------------------------------------------------

BIG = MemoryTree(leaf_hash(i.to_bytes(4, "big")) for i in range(3000))
BIG_LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(3000)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_inclusion_round_trip(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG.size))
    index = data.draw(st.integers(0, size - 1))
    root = tree_root(size, BIG)
    generated = inclusion_proof(index, size, BIG)
    verify_inclusion(BIG_LEAVES[index], index, size, generated, root)
    assert root_from_inclusion_proof(BIG_LEAVES[index], index, size, generated) == root
    body = index.to_bytes(4, "big")
    sigstore_verify_inclusion(body, index, size, generated, root)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_consistency_round_trip(data: st.DataObject) -> None:
    new_size = data.draw(st.integers(1, BIG.size))
    old_size = data.draw(st.integers(0, new_size))
    generated = consistency_proof(old_size, new_size, BIG)
    verify_consistency(
        old_size, new_size, generated, tree_root(old_size, BIG), tree_root(new_size, BIG)
    )


class UniformTree:
    """A consistent tree of any size whose leaves are all equal: node hashes depend only on the
    level, so proofs for trees of 2**40 leaves can be generated and checked in microseconds."""

    def __init__(self) -> None:
        self.levels = [leaf_hash(b"same")]
        for _ in range(64):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))
        self.reads = 0

    def read_hashes(self, nodes: Sequence[NodeId]) -> Sequence[bytes]:
        self.reads += len(nodes)
        return [self.levels[level] for level, _ in nodes]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 2**62), st.data())
def test_huge_trees_cost_log_n_reads(size: int, data: st.DataObject) -> None:
    tree = UniformTree()
    index = data.draw(st.integers(0, size - 1))
    root = tree_root(size, tree)
    generated = inclusion_proof(index, size, tree)
    verify_inclusion(tree.levels[0], index, size, generated, root)
    sigstore_verify_inclusion(b"same", index, size, generated, root)
    old_size = data.draw(st.integers(0, size))
    verify_consistency(
        old_size, size, consistency_proof(old_size, size, tree), tree_root(old_size, tree), root
    )
    assert tree.reads <= 8 * size.bit_length()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-2, 70),
    st.integers(-2, 70),
    st.lists(st.binary(min_size=0, max_size=33), max_size=10),
    st.binary(min_size=31, max_size=33),
)
def test_verifiers_raise_only_verification_error(
    a: int, b: int, hashes: list[bytes], root: bytes
) -> None:
    with contextlib.suppress(VerificationError):
        verify_inclusion(HASHES[0], a, b, hashes, root)
    with contextlib.suppress(VerificationError):
        verify_consistency(a, b, hashes, root, root)


# --- a real inclusion proof from the public-good Rekor ----------------------------------------


def test_real_rekor_inclusion_proof() -> None:
    path_ = ROOT / "slsa-verifier" / "provenance-npm-test-cli-v1-prega.tgz.json"
    attestations = json.loads(path_.read_text())["attestations"]
    checked = 0
    for attestation in attestations:
        entry = attestation["bundle"]["verificationMaterial"]["tlogEntries"][0]
        proof_json = entry["inclusionProof"]
        body = base64.b64decode(entry["canonicalizedBody"])
        index, size = int(proof_json["logIndex"]), int(proof_json["treeSize"])
        hashes = [base64.b64decode(h) for h in proof_json["hashes"]]
        root = base64.b64decode(proof_json["rootHash"])
        verify_inclusion(leaf_hash(body), index, size, hashes, root)
        sigstore_verify_inclusion(body, index, size, hashes, root)
        with pytest.raises(VerificationError):
            verify_inclusion(leaf_hash(body + b" "), index, size, hashes, root)
        with pytest.raises(VerificationError):
            verify_inclusion(leaf_hash(body), index - 1, size, hashes, root)
        checked += 1
    assert checked == 2


class _Recording:
    """A HashReader over BIG that remembers which stored hashes were asked for."""

    def __init__(self) -> None:
        self.asked: list[NodeId] = []

    def read_hashes(self, nodes: Sequence[NodeId]) -> list[bytes]:
        self.asked += nodes
        return BIG.read_hashes(nodes)


_LEAF_IN_TREE = st.integers(1, 3000).flatmap(
    lambda size: st.tuples(st.integers(0, size - 1), st.just(size))
)


@given(_LEAF_IN_TREE)
@settings(max_examples=300)
def test_inclusion_proof_nodes_are_what_the_proof_reads(case: tuple[int, int]) -> None:
    index, size = case
    reader = _Recording()
    inclusion_proof(index, size, reader)
    assert inclusion_proof_nodes(index, size) == reader.asked


def test_inclusion_proof_nodes_refuse_a_leaf_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof_nodes(5, 5)
