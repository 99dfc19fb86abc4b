"""The transparency log's tables: entries, complete-subtree hashes and checkpoints.

Durability: :meth:`TlogStore.append` writes a whole batch (its entries, the new subtree hashes
and the checkpoint that covers them) in one transaction; when it returns, all of it is committed
(SQLite ``synchronous=FULL``, PostgreSQL's default ``synchronous_commit``), and when it raises,
none of it is. Concurrency: appends are a compare-and-swap on the tree size — the checkpoint row
is keyed by the new size and the batch must start at the current size, so two writers (two
processes over one PostgreSQL) can never both extend the same tree; the loser gets
:class:`SequencerConflict` and nothing it wrote is visible.

Across nodes (issue 14) one sequencer at a time integrates, the holder of the lease row
(:meth:`TlogStore.take_lease`); the others queue verified entries in ``tlog_pending``
(:meth:`TlogStore.enqueue`), which the holder integrates and deletes in the same transaction
as the batch. An append made with ``holder`` is also fenced: it commits only while that holder
still holds the lease, so a paused node that lost its lease writes nothing. The lease decides who
works; the compare-and-swap above, not the lease, is what keeps the tree from forking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.errors import AssayError
from assay.storage.database import write_transaction
from assay.storage.schema import (
    tlog_checkpoints,
    tlog_entries,
    tlog_lease,
    tlog_nodes,
    tlog_pending,
)


class SequencerConflict(AssayError):
    """Another writer extended the tree first; re-read the state and retry."""


class LeaseLost(SequencerConflict):
    """The appending node no longer holds the sequencer's lease: it must not write."""


LEASE = "sequencer"


@dataclass(frozen=True, slots=True)
class QueuedEntry:
    """A verified entry a node handed to the lease holder (``seq``: its place in the queue)."""

    seq: int
    uuid: str
    kind: str
    api_version: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StoredEntry:
    log_index: int
    uuid: str
    kind: str
    api_version: str
    body: bytes
    integrated_time: int
    signed_entry_timestamp: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str
    created_at: int


@dataclass(frozen=True, slots=True)
class BatchInputs:
    """What a batch is built from (:meth:`TlogStore.batch_inputs`)."""

    head: StoredCheckpoint | None
    queued: list[QueuedEntry]
    existing: dict[str, StoredEntry]


NodeKey = tuple[int, int]  # (level, index)

# The PostgreSQL advisory lock that makes the sequencer a single writer across processes.
SEQUENCER_LOCK = int.from_bytes(b"assay-tlog", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _entry(row: sa.Row[*tuple[Any, ...]]) -> StoredEntry:
    return StoredEntry(
        log_index=row.log_index,
        uuid=row.uuid,
        kind=row.kind,
        api_version=row.api_version,
        body=bytes(row.body),
        integrated_time=row.integrated_time,
        signed_entry_timestamp=bytes(row.signed_entry_timestamp),
    )


_ENTRY_COLUMNS = (
    tlog_entries.c.log_index,
    tlog_entries.c.uuid,
    tlog_entries.c.kind,
    tlog_entries.c.api_version,
    tlog_entries.c.body,
    tlog_entries.c.integrated_time,
    tlog_entries.c.signed_entry_timestamp,
)


class TlogStore:
    """Reads and batched appends over the log's tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- reads --------------------------------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._engine.connect() as connection:
            return _latest_checkpoint(connection)

    def checkpoint_at(self, tree_size: int) -> StoredCheckpoint | None:
        query = sa.select(tlog_checkpoints).where(tlog_checkpoints.c.tree_size == tree_size)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _checkpoint(row)

    def entry_by_index(self, log_index: int) -> StoredEntry | None:
        query = sa.select(*_ENTRY_COLUMNS).where(tlog_entries.c.log_index == log_index)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _entry(row)

    def entries_by_uuid(self, uuids: Iterable[str]) -> dict[str, StoredEntry]:
        wanted = list(set(uuids))
        if not wanted:
            return {}
        with self._engine.connect() as connection:
            return _entries_by_uuid(connection, wanted)

    def batch_inputs(self, uuids: Iterable[str], queue_limit: int) -> BatchInputs:
        """What the sequencer reads before it builds a batch, on one connection (one pool
        checkout, one round trip each): the newest checkpoint, the oldest ``queue_limit`` queued
        entries, and which of ``uuids`` and of the queued entries are in the log already."""
        with self._engine.connect() as connection:
            head = _latest_checkpoint(connection)
            queued = _queued(connection, queue_limit)
            wanted = list({*uuids, *(q.uuid for q in queued)})
            existing = _entries_by_uuid(connection, wanted) if wanted else {}
        return BatchInputs(head, queued, existing)

    def entries_range(self, start: int, stop: int) -> list[StoredEntry]:
        """Entries with ``start <= log_index < stop``, in order."""
        query = (
            sa.select(*_ENTRY_COLUMNS)
            .where(tlog_entries.c.log_index >= start, tlog_entries.c.log_index < stop)
            .order_by(tlog_entries.c.log_index)
        )
        with self._engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query)]

    def read_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of the given complete subtrees (missing keys are absent)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        found: dict[NodeKey, bytes] = {}
        with self._engine.connect() as connection:
            # Chunked so the IN list stays well under SQLite's variable limit.
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                query = sa.select(tlog_nodes).where(
                    sa.tuple_(tlog_nodes.c.level, tlog_nodes.c.node_index).in_(chunk)
                )
                for row in connection.execute(query):
                    found[(row.level, row.node_index)] = bytes(row.hash)
        return found

    def read_level(self, level: int, start: int, stop: int) -> list[bytes]:
        """Hashes of level ``level`` with ``start <= index < stop`` in order (a tile's row)."""
        query = (
            sa.select(tlog_nodes.c.hash)
            .where(
                tlog_nodes.c.level == level,
                tlog_nodes.c.node_index >= start,
                tlog_nodes.c.node_index < stop,
            )
            .order_by(tlog_nodes.c.node_index)
        )
        with self._engine.connect() as connection:
            return [bytes(row.hash) for row in connection.execute(query)]

    # --- the one write ------------------------------------------------------------------------

    # --- the lease and the queue of entries handed to its holder --------------------------------

    def take_lease(self, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew the sequencer's lease for ``holder`` until ``now_ms + ttl_ms``; True
        when ``holder`` holds it now. It is taken only when free (expired) or already held."""
        with write_transaction(self._engine) as connection:
            taken = connection.execute(
                tlog_lease.update()
                .where(
                    tlog_lease.c.name == LEASE,
                    sa.or_(tlog_lease.c.holder == holder, tlog_lease.c.expires_ms <= now_ms),
                )
                .values(holder=holder, expires_ms=now_ms + ttl_ms)
            ).rowcount
        return bool(taken)

    def release_lease(self, holder: str) -> None:
        """Give the lease up at once (a node shutting down), if ``holder`` holds it."""
        with write_transaction(self._engine) as connection:
            connection.execute(
                tlog_lease.update()
                .where(tlog_lease.c.name == LEASE, tlog_lease.c.holder == holder)
                .values(expires_ms=0)
            )

    def lease_holder(self) -> tuple[str, int] | None:
        """Who holds the lease and until when (unix ms), as stored."""
        with self._engine.connect() as connection:
            row = connection.execute(
                sa.select(tlog_lease.c.holder, tlog_lease.c.expires_ms).where(
                    tlog_lease.c.name == LEASE
                )
            ).first()
        return None if row is None else (row.holder, row.expires_ms)

    def enqueue(self, entries: Sequence[QueuedEntry]) -> dict[str, StoredEntry]:
        """Queue verified entries for the lease holder (their ``seq`` is assigned here), but
        not those already in the log: those are returned, by UUID. One transaction."""
        if not entries:
            return {}
        with write_transaction(self._engine) as connection:
            existing = _entries_by_uuid(connection, list({e.uuid for e in entries}))
            fresh = [e for e in entries if e.uuid not in existing]
            if fresh:
                connection.execute(
                    tlog_pending.insert(),
                    [
                        {
                            "uuid": e.uuid,
                            "kind": e.kind,
                            "api_version": e.api_version,
                            "body": e.body,
                        }
                        for e in fresh
                    ],
                )
        return existing

    def head_and_entries(
        self, uuids: Iterable[str], *, seen_size: int = -1
    ) -> tuple[StoredCheckpoint | None, dict[str, StoredEntry]]:
        """The newest checkpoint, then those of ``uuids`` in the log, on one connection; no
        entries when the checkpoint is still of ``seen_size``. An entry committed between the
        two reads is returned too, with an index past the checkpoint: the caller proves only
        what the checkpoint covers."""
        wanted = list(set(uuids))
        with self._engine.connect() as connection:
            head = _latest_checkpoint(connection)
            if head is None or head.tree_size == seen_size or not wanted:
                return head, {}
            return head, _entries_by_uuid(connection, wanted)

    def queued(self, limit: int) -> list[QueuedEntry]:
        """The oldest ``limit`` queued entries, in queue order."""
        with self._engine.connect() as connection:
            return _queued(connection, limit)

    def drop_queued(self, seqs: Sequence[int], holder: str | None = None) -> None:
        """Delete queued entries that need no integration (already in the log)."""
        if not seqs:
            return
        with write_transaction(self._engine) as connection:
            if holder is not None:
                _check_lease(connection, holder)
            connection.execute(tlog_pending.delete().where(tlog_pending.c.seq.in_(list(seqs))))

    def append(
        self,
        old_size: int,
        entries: Sequence[StoredEntry],
        nodes: Mapping[NodeKey, bytes],
        checkpoint: StoredCheckpoint,
        *,
        holder: str | None = None,
        dequeued: Sequence[int] = (),
    ) -> None:
        """Commit a batch that extends the tree from ``old_size`` to ``checkpoint.tree_size``.

        ``holder``: commit only while that node holds the lease (else :class:`LeaseLost`).
        ``dequeued``: the queued entries this batch integrates, deleted with it."""
        if checkpoint.tree_size != old_size + len(entries):
            raise ValueError("checkpoint size must be old size plus the batch")
        try:
            with write_transaction(self._engine) as connection:
                if connection.dialect.name == "postgresql":
                    # One sequencer at a time across processes; released at commit.
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK}
                    )
                if holder is not None:
                    _check_lease(connection, holder)
                current = connection.execute(
                    sa.select(sa.func.max(tlog_checkpoints.c.tree_size))
                ).scalar()
                if (current or 0) != old_size:
                    raise SequencerConflict(
                        "the log grew under this batch", expected=old_size, found=current or 0
                    )
                if entries:
                    connection.execute(
                        tlog_entries.insert(),
                        [
                            {
                                "log_index": e.log_index,
                                "uuid": e.uuid,
                                "kind": e.kind,
                                "api_version": e.api_version,
                                "body": e.body,
                                "integrated_time": e.integrated_time,
                                "signed_entry_timestamp": e.signed_entry_timestamp,
                            }
                            for e in entries
                        ],
                    )
                if nodes:
                    connection.execute(
                        tlog_nodes.insert(),
                        [
                            {"level": level, "node_index": index, "hash": value}
                            for (level, index), value in nodes.items()
                        ],
                    )
                if dequeued:
                    connection.execute(
                        tlog_pending.delete().where(tlog_pending.c.seq.in_(list(dequeued)))
                    )
                connection.execute(
                    tlog_checkpoints.insert().values(
                        tree_size=checkpoint.tree_size,
                        root_hash=checkpoint.root_hash,
                        note=checkpoint.note,
                        created_at=checkpoint.created_at,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise SequencerConflict("a concurrent append won", expected=old_size) from exc


def _check_lease(connection: sa.Connection, holder: str) -> None:
    """Inside a write transaction: raise :class:`LeaseLost` unless ``holder`` holds the lease.

    The row is locked (PostgreSQL ``FOR UPDATE``; SQLite's writer lock already excludes every
    other writer) so no one can take the lease between this check and the commit."""
    row = connection.execute(
        sa.select(tlog_lease.c.holder).where(tlog_lease.c.name == LEASE).with_for_update()
    ).first()
    if row is None or row.holder != holder:
        raise LeaseLost("this node no longer holds the sequencer's lease", holder=holder)


def _latest_checkpoint(connection: sa.Connection) -> StoredCheckpoint | None:
    query = sa.select(tlog_checkpoints).order_by(tlog_checkpoints.c.tree_size.desc()).limit(1)
    row = connection.execute(query).first()
    return None if row is None else _checkpoint(row)


def _entries_by_uuid(connection: sa.Connection, wanted: list[str]) -> dict[str, StoredEntry]:
    query = sa.select(*_ENTRY_COLUMNS).where(tlog_entries.c.uuid.in_(wanted))
    return {row.uuid: _entry(row) for row in connection.execute(query)}


def _queued(connection: sa.Connection, limit: int) -> list[QueuedEntry]:
    query = sa.select(tlog_pending).order_by(tlog_pending.c.seq).limit(limit)
    return [
        QueuedEntry(row.seq, row.uuid, row.kind, row.api_version, bytes(row.body))
        for row in connection.execute(query)
    ]


def _checkpoint(row: sa.Row[*tuple[Any, ...]]) -> StoredCheckpoint:
    return StoredCheckpoint(
        tree_size=row.tree_size,
        root_hash=bytes(row.root_hash),
        note=row.note,
        created_at=row.created_at,
    )
