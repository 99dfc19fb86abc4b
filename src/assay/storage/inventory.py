"""What the database holds, read whole for maintenance: `assay gc`, `assay backup`, `assay check`.

The rule that makes blobs collectable: **every blob is named by a ``blob_key`` column of some
table in** :data:`assay.storage.schema.metadata`. A row references its blob while it is live:
``blob_key`` is not NULL and, where the table has ``unpublished_ms`` (registry_versions keeps
unpublished versions as tombstones), that is NULL. A blob no live row names is an orphan. The
rule is read off the schema, not listed by hand, so a new table that keeps blobs (staged
publishes, the mirror's tarballs) is covered the day it is added.

These reads take no locks; each method is one read transaction, so what it returns is one
committed state of the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.storage.database import open_engine, sqlite_url
from assay.storage.schema import (
    metadata,
    registry_versions,
    tlog_checkpoints,
    tlog_entries,
    tlog_nodes,
)
from assay.storage.tlog_store import StoredCheckpoint

__all__ = [
    "BlobRef",
    "Inventory",
    "StoredAttestations",
]

BLOB_KEY = "blob_key"
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class BlobRef:
    """One live row naming a blob: which table, which row (its primary key), which blob, and
    the blob's SRI integrity where the table records one."""

    table: str
    row: str
    key: str
    integrity: str | None


@dataclass(frozen=True, slots=True)
class StoredAttestations:
    """The attestations a version carries (registry_versions.attestations), as stored."""

    package: str
    version: str
    integrity: str
    attestations: str | None
    live: bool
    published_ms: int


def _blob_tables() -> list[sa.Table]:
    return [table for table in metadata.sorted_tables if BLOB_KEY in table.c]


def _live(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [table.c[BLOB_KEY].is_not(None)]
    if "unpublished_ms" in table.c:
        conditions.append(table.c.unpublished_ms.is_(None))
    return conditions


class Inventory:
    """Whole-database reads over one engine (the live database or a backup's snapshot)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> Inventory:
        return cls(open_engine(url))

    @classmethod
    def open_snapshot(cls, path: Path) -> Inventory:
        """The inventory of a database snapshot file (storage.snapshot)."""
        return cls(open_engine(sqlite_url(path)))

    def close(self) -> None:
        self._engine.dispose()

    # --- blobs ---------------------------------------------------------------------------------

    def blob_references(self) -> list[BlobRef]:
        """Every live row that names a blob, from one committed state."""
        refs: list[BlobRef] = []
        with self._engine.connect() as connection:
            for table in _blob_tables():
                keys = list(table.primary_key.columns)
                integrity = table.c["integrity"] if "integrity" in table.c else sa.null()
                query = sa.select(table.c[BLOB_KEY], integrity, *keys).where(*_live(table))
                for row in connection.execute(query):
                    refs.append(
                        BlobRef(
                            table=table.name,
                            row="@".join(str(value) for value in row[2:]),
                            key=str(row[0]),
                            integrity=None if row[1] is None else str(row[1]),
                        )
                    )
        return refs

    def referenced(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` a live row names right now (one read transaction)."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        with self._engine.connect() as connection:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                for table in _blob_tables():
                    query = sa.select(table.c[BLOB_KEY]).where(
                        table.c[BLOB_KEY].in_(batch), *_live(table)
                    )
                    found.update(str(key) for key in connection.execute(query).scalars())
        return found

    # --- the registry's attestations -----------------------------------------------------------

    def version_attestations(self) -> Iterator[StoredAttestations]:
        """Every version row (live or a tombstone), with its stored attestations."""
        t = registry_versions
        query = sa.select(
            t.c.package, t.c.version, t.c.integrity, t.c.attestations, t.c.unpublished_ms,
            t.c.published_ms,
        ).order_by(t.c.package, t.c.version)  # fmt: skip
        with self._engine.connect() as connection:
            for row in connection.execute(query):
                yield StoredAttestations(
                    package=str(row.package),
                    version=str(row.version),
                    integrity=str(row.integrity),
                    attestations=None if row.attestations is None else str(row.attestations),
                    live=row.unpublished_ms is None,
                    published_ms=int(row.published_ms),
                )

    # --- the log -------------------------------------------------------------------------------

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint the log stored, smallest tree first."""
        query = sa.select(tlog_checkpoints).order_by(tlog_checkpoints.c.tree_size)
        with self._engine.connect() as connection:
            return [
                StoredCheckpoint(
                    tree_size=int(row.tree_size),
                    root_hash=bytes(row.root_hash),
                    note=str(row.note),
                    created_at=int(row.created_at),
                )
                for row in connection.execute(query)
            ]

    def log_bodies(self, stop: int) -> Iterator[tuple[int, str, bytes]]:
        """``(log_index, uuid, body)`` of the entries below `stop`, in index order, read in
        batches (one read transaction per batch: entries are immutable once written)."""
        start = 0
        while start < stop:
            end = min(start + _BATCH, stop)
            query = (
                sa.select(tlog_entries.c.log_index, tlog_entries.c.uuid, tlog_entries.c.body)
                .where(tlog_entries.c.log_index >= start, tlog_entries.c.log_index < end)
                .order_by(tlog_entries.c.log_index)
            )
            with self._engine.connect() as connection:
                rows = list(connection.execute(query))
            for row in rows:
                yield int(row.log_index), str(row.uuid), bytes(row.body)
            if len(rows) < end - start:
                return  # a gap: the caller sees fewer entries than the checkpoint names
            start = end

    def log_nodes(self) -> Iterator[tuple[int, int, bytes]]:
        """Every stored subtree hash ``(level, index, hash)``."""
        query = sa.select(tlog_nodes.c.level, tlog_nodes.c.node_index, tlog_nodes.c.hash)
        with self._engine.connect() as connection:
            for row in connection.execute(query):
                yield int(row.level), int(row.node_index), bytes(row.hash)
