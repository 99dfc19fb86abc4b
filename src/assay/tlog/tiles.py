"""C2SP tlog-tiles: tile and entry-bundle paths, which tiles a tree has, and their contents.

A tile (c2sp.org/tlog-tiles §"Merkle Tree") at level ``L`` and index ``N`` is the concatenation of
up to 256 32-byte hashes, hash ``i`` being ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) *
256**L])``. In the stored-hash scheme of :mod:`assay.transparency.merkle` that is exactly
``NodeId(8 * L, N * 256 + i)``: tiles hold the stored hashes of every eighth tree level, and the
levels in between are recomputed from a tile's hashes (:func:`node_in_tile`).

Paths are ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]`` relative to the log's
prefix. ``<N>`` is written in zero-padded 3-digit groups, all but the last prefixed with ``x``
(1234067 → ``x001/x234/067``); ``.p/<W>`` marks a partial tile of ``W`` (1–255) hashes, the right
edge of the tree. :func:`parse_path` accepts only the one canonical spelling of each path, from a
fixed alphabet (digits, ``x``, ``/``, ``.p``), so a parsed path can be joined to a storage root
without any possibility of traversal.

Entry bundles (§"Log entries") are big-endian uint16 length-prefixed entries, one per leaf of the
corresponding level-0 tile.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from assay.errors import FormatError
from assay.transparency.merkle import HASH_SIZE, MAX_TREE_SIZE, HashReader, NodeId, root_from_leaves

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "EntryBundle",
    "Tile",
    "TileSlot",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "entries_path",
    "new_entry_bundles",
    "new_tiles",
    "node_in_tile",
    "parse_path",
    "split_tile",
    "tile_data",
    "tile_path",
    "tile_slot",
    "tiles_for_size",
]

TILE_HEIGHT: Final = 8
"""Tree levels per tile: tile level ``L`` holds tree level ``8 * L``."""

TILE_WIDTH: Final = 1 << TILE_HEIGHT
"""Hashes in a full tile (and entries in a full bundle): 256."""

MAX_TILE_LEVEL: Final = 63  # "<L> MUST be a decimal ASCII integer between 0 and 63"
MAX_ENTRY_SIZE: Final = 0xFFFF  # a uint16 length prefix

_PATH: Final = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)
# The largest index any level can need: tree sizes are below 2**64.
_MAX_INDEX: Final = MAX_TREE_SIZE >> TILE_HEIGHT


def _encode_index(index: int) -> str:
    """``N`` as zero-padded 3-digit groups, all but the last prefixed with ``x``."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _check_index_width(index: int, width: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= _MAX_INDEX:
        raise FormatError(f"tile index {index!r} is out of range")
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"tile width {width!r} is not between 1 and {TILE_WIDTH}")


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, slots=True)
class Tile:
    """A Merkle tree tile: ``width`` hashes of tree level ``8 * level``, from ``index * 256``."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if (
            isinstance(self.level, bool)
            or not isinstance(self.level, int)
            or not 0 <= self.level <= MAX_TILE_LEVEL
        ):
            raise FormatError(f"tile level {self.level!r} is not between 0 and {MAX_TILE_LEVEL}")
        _check_index_width(self.index, self.width)

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        return f"tile/{self.level}/{_encode_index(self.index)}{_suffix(self.width)}"

    @property
    def nodes(self) -> list[NodeId]:
        """The stored hashes this tile holds, in order."""
        level, first = TILE_HEIGHT * self.level, self.index * TILE_WIDTH
        return [NodeId(level, first + i) for i in range(self.width)]


@dataclass(frozen=True, slots=True)
class EntryBundle:
    """The entries of leaves ``index*256 .. index*256 + width - 1``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_index_width(self.index, self.width)

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        return f"tile/entries/{_encode_index(self.index)}{_suffix(self.width)}"

    @property
    def leaf_indexes(self) -> range:
        start = self.index * TILE_WIDTH
        return range(start, start + self.width)


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]``; ``width`` None (or 256) for a full tile."""
    return Tile(level, index, TILE_WIDTH if width is None else width).path


def entries_path(index: int, width: int | None = None) -> str:
    """``tile/entries/<N>[.p/<W>]``; ``width`` None (or 256) for a full bundle."""
    return EntryBundle(index, TILE_WIDTH if width is None else width).path


def parse_path(path: str) -> Tile | EntryBundle:
    """The tile or entry bundle a path names; FormatError unless it is the canonical spelling.

    ``path`` is relative to the log prefix (``tile/…``), with no leading slash, query or fragment.
    """
    if not isinstance(path, str) or len(path) > 128:
        raise FormatError("not a tile path")
    match = _PATH.fullmatch(path)
    if match is None:
        raise FormatError(f"not a tile path: {path[:80]!r}")
    digits = match["index"].replace("x", "").replace("/", "")
    index = int(digits)
    width = TILE_WIDTH
    if match["width"]:
        width = int(match["width"])
        if width >= TILE_WIDTH:  # "<W> ... a decimal ASCII integer between 1 and 255"
            raise FormatError("a partial tile is narrower than 256")
    if index > _MAX_INDEX:
        raise FormatError("tile index is out of range")
    result: Tile | EntryBundle
    if match["level"] == "entries":
        result = EntryBundle(index, width)
    else:
        result = Tile(int(match["level"]), index, width)
    # Exactly one spelling per tile: no "x000/" leading groups.
    if result.path != path:
        raise FormatError(f"non-canonical tile path: {path[:80]!r}")
    return result


# --- which tiles a tree has ------------------------------------------------------------------


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError(f"tree size {size!r} is out of range")


def tiles_for_size(size: int) -> Iterator[Tile]:
    """Every tile of a tree of ``size`` leaves, level by level: the full tiles, then the partial
    one if any (tlog-tiles §"Partial Tiles": width ``floor(size / 256**l) mod 256``).

    A generator: a large tree has ~size/255 tiles.
    """
    _check_size(size)
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)  # complete subtrees at tree level 8 * level
        for index in range(hashes // TILE_WIDTH):
            yield Tile(level, index)
        if hashes % TILE_WIDTH:
            yield Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH)
        level += 1


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles that exist at ``new_size`` but not, with the same width, at ``old_size``.

    After a batch grows the tree these are the tiles to write: new full tiles (including the one
    that was partial before) and the new right-edge partial tiles. Everything else is unchanged.
    """
    _check_size(old_size)
    _check_size(new_size)
    if old_size > new_size:
        raise ValueError("the tree cannot shrink")
    tiles: list[Tile] = []
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        old_hashes = old_size >> (TILE_HEIGHT * level)
        new_hashes = new_size >> (TILE_HEIGHT * level)
        for index in range(old_hashes // TILE_WIDTH, new_hashes // TILE_WIDTH):
            tiles.append(Tile(level, index))
        width = new_hashes % TILE_WIDTH
        if width and new_hashes != old_hashes:
            tiles.append(Tile(level, new_hashes // TILE_WIDTH, width))
        level += 1
    return tiles


def new_entry_bundles(old_size: int, new_size: int) -> list[EntryBundle]:
    """Like :func:`new_tiles` for the entry bundles (which follow the level-0 tiles)."""
    return [EntryBundle(t.index, t.width) for t in new_tiles(old_size, new_size) if t.level == 0]


# --- tile contents --------------------------------------------------------------------------


def tile_data(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of ``tile``: its hashes concatenated, read in one batch."""
    nodes = tile.nodes
    hashes = list(reader.read_hashes(nodes))
    if len(hashes) != len(nodes) or any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError(f"hash reader returned a malformed batch for {tile.path}")
    return b"".join(hashes)


def split_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes in tile bytes that must be exactly ``width`` hashes long (FormatError if not)."""
    if len(data) != width * HASH_SIZE:
        raise FormatError(f"tile is {len(data)} bytes, expected {width * HASH_SIZE}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class TileSlot(NamedTuple):
    """Where a stored hash lives in the tiles: it is the Merkle root of the ``width`` hashes of
    tile ``(tile_level, tile_index)`` from position ``start``; that tile must be at least
    ``start + width`` wide.
    """

    tile_level: int
    tile_index: int
    start: int
    width: int


def tile_slot(node: NodeId) -> TileSlot:
    """Locate any stored hash in the tiles, so a tile-backed store can serve a :class:`HashReader`.

    A node at tree level ``h`` is the root of ``2**(h % 8)`` consecutive hashes of tile level
    ``h // 8`` (itself, when ``h`` is a multiple of 8).
    """
    level, index = node
    below = level % TILE_HEIGHT
    first = index << below
    return TileSlot(level // TILE_HEIGHT, first // TILE_WIDTH, first % TILE_WIDTH, 1 << below)


def node_in_tile(node: NodeId, tile_hashes: Sequence[bytes]) -> bytes:
    """The hash of ``node`` from the hashes of the tile :func:`tile_slot` names."""
    slot = tile_slot(node)
    span = tile_hashes[slot.start : slot.start + slot.width]
    if len(span) != slot.width:
        raise ValueError(f"tile is too narrow for node {tuple(node)}")
    return root_from_leaves(span)


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed with its big-endian uint16 length."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError("an entry bundle holds 1 to 256 entries")
    parts: list[bytes] = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry of {len(entry)} bytes does not fit a uint16 length")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """The ``width`` entries of a bundle; FormatError if it is truncated or has extra bytes."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise FormatError("entry bundle is truncated")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise FormatError("entry bundle is truncated")
        entries.append(data[offset : offset + length])
        offset += length
    if len(entries) != width:
        raise FormatError(f"entry bundle holds {len(entries)} entries, expected {width}")
    return entries
