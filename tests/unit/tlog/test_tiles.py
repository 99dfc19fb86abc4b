"""C2SP tlog-tiles: path vectors from the spec text, strict parsing, tile inventories, contents."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import FormatError
from assay.tlog.tiles import (
    TILE_WIDTH,
    EntryBundle,
    Tile,
    decode_entry_bundle,
    encode_entry_bundle,
    entries_path,
    new_entry_bundles,
    new_tiles,
    node_in_tile,
    parse_path,
    split_tile,
    tile_data,
    tile_path,
    tile_slot,
    tiles_for_size,
)
from assay.transparency.merkle import MemoryTree, NodeId, leaf_hash, root_from_leaves, tree_root

# --- paths ------------------------------------------------------------------------------------


def test_spec_index_vector() -> None:
    # tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert entries_path(1234067) == "tile/entries/x001/x234/067"


@pytest.mark.parametrize(
    ("level", "index", "width", "expected"),
    [
        (0, 0, None, "tile/0/000"),
        (0, 0, 1, "tile/0/000.p/1"),
        (1, 999, None, "tile/1/999"),
        (2, 1000, 255, "tile/2/x001/000.p/255"),
        (0, 1000000, 256, "tile/0/x001/x000/000"),
        (63, 5, 17, "tile/63/005.p/17"),
    ],
)
def test_tile_paths(level: int, index: int, width: int | None, expected: str) -> None:
    assert tile_path(level, index, width) == expected
    parsed = parse_path(expected)
    assert parsed == Tile(level, index, TILE_WIDTH if width is None else width)


def test_entries_paths() -> None:
    assert entries_path(0) == "tile/entries/000"
    assert entries_path(272, 112) == "tile/entries/272.p/112"
    assert parse_path("tile/entries/272.p/112") == EntryBundle(272, 112)
    assert EntryBundle(272, 112).leaf_indexes == range(69632, 69744)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile/0",
        "tile/0/",
        "tile/0/1",  # not zero-padded
        "tile/0/0001",
        "tile/00/000",  # leading zero in the level
        "tile/64/000",  # level out of range
        "tile/0/001/002",  # inner group without x
        "tile/0/x001",  # last group with x
        "tile/0/x000/001",  # non-canonical leading zero group
        "tile/0/000.p/0",
        "tile/0/000.p/256",  # a full tile has no .p suffix
        "tile/0/000.p/01",
        "tile/0/000.p/",
        "tile/0/000.P/5",
        "/tile/0/000",
        "tile/0/000/",
        "tile/0/../000",
        "tile/0/x001/../../etc/passwd",
        "tile/entries/../0/000",
        "tile/-1/000",
        "tile/0/-01",
        "tile/0/000?x=1",
        "tile/0/\uff10\uff10\uff10",  # fullwidth digits
        "tile/\u0661/000",  # Arabic-Indic digit
        "tile/0/000\n",
        "tile/0/" + "x999/" * 7 + "999",  # beyond any tree of 2**64 leaves
        "tile/data/000",
    ],
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(FormatError):
        parse_path(path)


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [(-1, 0, 256), (64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257), (0, 2**64, 256)],
)
def test_bad_tiles_are_refused(level: int, index: int, width: int) -> None:
    with pytest.raises(FormatError):
        Tile(level, index, width)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 63), st.integers(0, 2**56 - 1), st.integers(1, 256))
def test_paths_round_trip(level: int, index: int, width: int) -> None:
    tile = Tile(level, index, width)
    assert parse_path(tile.path) == tile
    bundle = EntryBundle(index, width)
    assert parse_path(bundle.path) == bundle
    assert set(tile.path) <= set("tile/0123456789x.pentries")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="tile/0123456789x.pentries-", max_size=40))
def test_parse_arbitrary_text_only_raises_format_error(path: str) -> None:
    try:
        parsed = parse_path(path)
    except FormatError:
        return
    assert parsed.path == path
    assert ".." not in path
    assert not path.startswith("/")


# --- which tiles exist ----------------------------------------------------------------------


def test_spec_inventory_of_70000() -> None:
    # tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
    # width 17, and one partial level 2 tile of width 1."
    tiles = list(tiles_for_size(70000))
    assert [t for t in tiles if t.level == 0 and not t.partial] == [Tile(0, i) for i in range(273)]
    assert [t for t in tiles if t.partial] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level == 1 and not t.partial] == [Tile(1, 0)]
    assert len(tiles) == 273 + 1 + 1 + 1 + 1


def test_spec_inventory_of_256() -> None:
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    # of width 1."
    assert list(tiles_for_size(256)) == [Tile(0, 0), Tile(1, 0, 1)]
    assert list(tiles_for_size(0)) == []
    assert list(tiles_for_size(1)) == [Tile(0, 0, 1)]


def test_new_tiles() -> None:
    assert new_tiles(0, 0) == []
    assert new_tiles(0, 1) == [Tile(0, 0, 1)]
    assert new_tiles(1, 1) == []
    assert new_tiles(1, 2) == [Tile(0, 0, 2)]
    assert new_tiles(255, 256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert new_tiles(256, 257) == [Tile(0, 1, 1)]
    assert new_tiles(256, 512) == [Tile(0, 1), Tile(1, 0, 2)]
    assert new_tiles(100, 70000)[:2] == [Tile(0, 0), Tile(0, 1)]
    assert new_entry_bundles(255, 300) == [EntryBundle(0), EntryBundle(1, 44)]
    with pytest.raises(ValueError, match="shrink"):
        new_tiles(5, 4)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200_000), st.integers(0, 200_000))
def test_new_tiles_is_the_inventory_difference(a: int, b: int) -> None:
    old, new = min(a, b), max(a, b)
    new = min(new, old + 20_000)  # keep the inventories small
    expected = set(tiles_for_size(new)) - set(tiles_for_size(old))
    got = new_tiles(old, new)
    assert len(got) == len(set(got))
    assert set(got) == expected


# --- contents ---------------------------------------------------------------------------------

LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(70000)]
TREE = MemoryTree(LEAVES)


def test_tile_data_matches_the_spec_definition() -> None:
    level0 = tile_data(Tile(0, 3), TREE)
    assert split_tile(level0, 256) == LEAVES[768:1024]
    partial = tile_data(Tile(0, 273, 112), TREE)
    assert split_tile(partial, 112) == LEAVES[273 * 256 : 273 * 256 + 112]
    # Level 1: hash i is MTH(D[(N*256 + i) * 256 : (N*256 + i + 1) * 256]).
    level1 = split_tile(tile_data(Tile(1, 1, 17), TREE), 17)
    for i, value in enumerate(level1):
        start = (256 + i) * 256
        assert value == root_from_leaves(LEAVES[start : start + 256])
    level2 = split_tile(tile_data(Tile(2, 0, 1), TREE), 1)
    assert level2 == [root_from_leaves(LEAVES[:65536])]
    with pytest.raises(FormatError, match="expected"):
        split_tile(level0[:-1], 256)


def test_every_node_can_be_served_from_tiles() -> None:
    size = 70000
    tile_hashes = {
        (t.level, t.index): split_tile(tile_data(t, TREE), t.width) for t in tiles_for_size(size)
    }
    for level in range(17):
        for index in range(0, size >> level, max(1, (size >> level) // 37)):
            node = NodeId(level, index)
            slot = tile_slot(node)
            assert (
                node_in_tile(node, tile_hashes[(slot.tile_level, slot.tile_index)])
                == (TREE.read_hashes([node])[0])
            )
    assert tile_slot(NodeId(0, 1234)) == (0, 4, 210, 1)
    assert tile_slot(NodeId(3, 5)) == (0, 0, 40, 8)
    assert tile_slot(NodeId(8, 300)) == (1, 1, 44, 1)
    assert tile_slot(NodeId(10, 1)) == (1, 0, 4, 4)
    with pytest.raises(ValueError, match="too narrow"):
        node_in_tile(NodeId(3, 5), tile_hashes[(0, 273)][:10])
    assert tree_root(size, TREE) == root_from_leaves(LEAVES)


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 65535]
    data = encode_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert decode_entry_bundle(data, 3) == entries
    with pytest.raises(FormatError, match="expected 2"):
        decode_entry_bundle(data, 2)
    with pytest.raises(FormatError, match="truncated"):
        decode_entry_bundle(data[:-1], 3)
    with pytest.raises(FormatError, match="truncated"):
        decode_entry_bundle(b"\x00", 1)
    with pytest.raises(ValueError, match="uint16"):
        encode_entry_bundle([b"x" * 65536])
    with pytest.raises(ValueError, match="1 to 256"):
        encode_entry_bundle([])
