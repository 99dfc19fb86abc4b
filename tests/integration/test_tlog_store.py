"""The log's store: a batch is all there or not at all; two writers cannot both extend a size."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.tlog_store import SequencerConflict, StoredCheckpoint, StoredEntry, TlogStore
from tests.services import Postgres


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TlogStore]:
    """The same contract on every database the log runs on."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "log.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database("tlog")
    engine = open_engine(url)
    migrate(engine)
    yield TlogStore(engine)
    engine.dispose()


def _entry(index: int) -> StoredEntry:
    body = f"entry {index}".encode()
    uuid = hashlib.sha256(b"\x00" + body).hexdigest()
    return StoredEntry(index, uuid, "dsse", "0.0.1", body, 1_700_000_000 + index, b"set")


def _checkpoint(size: int) -> StoredCheckpoint:
    return StoredCheckpoint(size, bytes([size % 256]) * 32, f"note {size}\n", 0)


def test_append_and_read(store: TlogStore) -> None:
    assert store.latest_checkpoint() is None
    entries = [_entry(0), _entry(1)]
    store.append(
        0, entries, {(0, 0): b"a" * 32, (0, 1): b"b" * 32, (1, 0): b"c" * 32}, _checkpoint(2)
    )
    assert store.latest_checkpoint() == _checkpoint(2)
    assert store.entry_by_index(1) == entries[1]
    assert store.entry_by_index(2) is None
    assert store.entries_by_uuid([entries[0].uuid, "00" * 32]) == {entries[0].uuid: entries[0]}
    assert store.entries_range(0, 10) == entries
    assert store.read_nodes([(0, 1), (1, 0), (5, 5)]) == {(0, 1): b"b" * 32, (1, 0): b"c" * 32}
    assert store.read_level(0, 0, 256) == [b"a" * 32, b"b" * 32]
    assert store.checkpoint_at(2) == _checkpoint(2)


def test_stale_writer_conflicts_and_writes_nothing(store: TlogStore) -> None:
    store.append(0, [_entry(0)], {(0, 0): b"a" * 32}, _checkpoint(1))
    with pytest.raises(SequencerConflict):
        store.append(0, [_entry(0)], {(0, 0): b"z" * 32}, _checkpoint(1))
    with pytest.raises(SequencerConflict):
        store.append(5, [_entry(5)], {(0, 5): b"z" * 32}, _checkpoint(6))
    assert store.latest_checkpoint() == _checkpoint(1)
    assert store.entries_range(0, 10) == [_entry(0)]


def test_duplicate_entry_rolls_back_the_whole_batch(store: TlogStore) -> None:
    store.append(0, [_entry(0)], {}, _checkpoint(1))
    duplicate = StoredEntry(2, _entry(0).uuid, "dsse", "0.0.1", b"x", 0, b"set")
    with pytest.raises(SequencerConflict):
        store.append(1, [_entry(1), duplicate], {(0, 1): b"q" * 32}, _checkpoint(3))
    assert store.latest_checkpoint() == _checkpoint(1)
    assert store.entry_by_index(1) is None
    assert store.read_nodes([(0, 1)]) == {}


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "x.db"))
    migrate(engine)
    migrate(engine)
    names = set(sa.inspect(engine).get_table_names())
    assert {"tlog_entries", "tlog_nodes", "tlog_checkpoints"} <= names
