"""A consistent copy of the database while it serves writes, and putting one back.

The snapshot format is one SQLite file with the schema at the source's migration (every table
of :data:`~assay.storage.schema.metadata` plus Alembic's ``alembic_version``), whichever engine
the instance runs on:

* **SQLite** — ``VACUUM INTO`` (https://www.sqlite.org/lang_vacuum.html#vacuuminto): it reads
  the database inside one read transaction, so the copy is one committed state; in WAL mode the
  read never blocks the writers, and the result is compact and self-contained (no ``-wal``).
* **PostgreSQL** — every table copied in *one* ``REPEATABLE READ READ ONLY`` transaction:
  PostgreSQL's repeatable read is snapshot isolation (every statement of the transaction sees
  the snapshot taken at its first statement, https://www.postgresql.org/docs/current/
  transaction-iso.html#XACT-REPEATABLE-READ), so the tables agree with each other exactly as
  ``pg_dump`` (which uses the same isolation) would have them. We do not shell out to
  ``pg_dump``: it must match the server's major version, is often absent where `assay` runs,
  and its output can only be restored into PostgreSQL; the tables are ours and small, and one
  format lets `assay check` read any backup and lets a backup move an instance between
  engines. An operator with a very large database can keep PostgreSQL's own tools
  (``pg_basebackup`` + WAL archiving) for the database and still use `assay backup` for the
  rest; docs/operations.md says how.

Restoring copies the rows back table by table in foreign-key order in one transaction, into a
database migrated to the same revision that holds no rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.errors import AssayError, ConfigError
from assay.storage.database import migrate, open_engine, sqlite_url, write_transaction
from assay.storage.schema import metadata

__all__ = [
    "SnapshotError",
    "database_kind",
    "database_revision",
    "restore_database",
    "snapshot_database",
    "sqlite_database_file",
]

_BATCH = 500
_ALEMBIC = "alembic_version"


class SnapshotError(AssayError):
    """A snapshot could not be taken or put back."""


def database_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return sa.engine.make_url(url).get_backend_name()


def sqlite_database_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for any other engine)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def _alembic_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(_ALEMBIC, md, sa.Column("version_num", sa.String(32), primary_key=True))


def database_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(_ALEMBIC):
            return None
        value = connection.execute(sa.select(_alembic_table(sa.MetaData()).c.version_num)).scalar()
    return None if value is None else str(value)


def snapshot_database(url: str, dest: Path) -> None:
    """Write a consistent copy of the database at `url` to the new file `dest`."""
    if dest.exists():
        raise SnapshotError(f"{dest} exists already", path=str(dest))
    engine = open_engine(url)
    try:
        if database_kind(url) == "sqlite":
            _vacuum_into(engine, dest)
        else:
            _copy_postgres(engine, dest)
    finally:
        engine.dispose()
    _fsync(dest)


def _vacuum_into(engine: Engine, dest: Path) -> None:
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        if raw is None:  # pragma: no cover - a pooled connection always has one
            raise SnapshotError("no SQLite connection")
        cursor = raw.cursor()
        try:
            cursor.execute("VACUUM INTO ?", (str(dest),))
        finally:
            cursor.close()


def _copy_postgres(engine: Engine, dest: Path) -> None:
    target = sa.create_engine(sqlite_url(dest))
    try:
        md = sa.MetaData()
        alembic = _alembic_table(md)
        md.create_all(target)
        metadata.create_all(target)
        source = engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        with source, source.begin(), target.begin() as out:
            revision = source.execute(sa.select(alembic.c.version_num)).scalar()
            if revision is not None:
                out.execute(alembic.insert().values(version_num=str(revision)))
            for table in metadata.sorted_tables:
                _copy_rows(source, out, table)
    finally:
        target.dispose()


def _copy_rows(source: sa.Connection, target: sa.Connection, table: sa.Table) -> int:
    copied = 0
    order = list(table.primary_key.columns) or list(table.c)
    result = source.execution_options(stream_results=True, yield_per=_BATCH).execute(
        sa.select(table).order_by(*order)
    )
    for batch in result.mappings().partitions(_BATCH):
        target.execute(table.insert(), [dict(row) for row in batch])
        copied += len(batch)
    return copied


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _snapshot_engine(path: Path) -> Iterator[Engine]:
    engine = sa.create_engine(sqlite_url(path))
    try:
        yield engine
    finally:
        engine.dispose()


def restore_database(snapshot: Path, url: str, *, sqlite_file: Path | None, force: bool) -> None:
    """Put the snapshot back as the database at `url`.

    A SQLite target (`sqlite_file`, the file `url` names) is replaced by a copy of the snapshot
    file; it must not exist unless `force`. A PostgreSQL target is migrated to the snapshot's
    revision and must hold no rows unless `force` (then its rows are deleted first, in the same
    transaction that copies the snapshot's in).
    """
    with _snapshot_engine(snapshot) as source_engine:
        revision = database_revision(source_engine)
    if revision is None:
        raise SnapshotError(f"{snapshot} is not an Assay database snapshot")
    if database_kind(url) == "sqlite":
        if sqlite_file is None:
            raise ConfigError("restoring SQLite needs the database file's path")
        _restore_sqlite_file(snapshot, sqlite_file, force=force)
        return
    engine = open_engine(url)
    try:
        migrate(engine)
        current = database_revision(engine)
        if current != revision:
            raise SnapshotError(
                f"the snapshot is at migration {revision}, this Assay at {current}; restore "
                "with the Assay version that made the backup",
                snapshot=revision,
                database=current,
            )
        with (
            _snapshot_engine(snapshot) as source_engine,
            source_engine.connect() as source,
            write_transaction(engine) as target,
        ):
            occupied = [
                table.name
                for table in metadata.sorted_tables
                if target.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            ]
            if occupied and not force:
                raise SnapshotError(
                    "the target database holds data already (use --force to replace it)",
                    tables=", ".join(occupied),
                )
            for table in reversed(metadata.sorted_tables):
                target.execute(table.delete())
            for table in metadata.sorted_tables:
                _copy_rows(source, target, table)
            _reset_sequences(target)
    finally:
        engine.dispose()


def _restore_sqlite_file(snapshot: Path, target: Path, *, force: bool) -> None:
    companions = [target, *(target.with_name(target.name + end) for end in ("-wal", "-shm"))]
    if any(path.exists() for path in companions):
        if not force:
            raise SnapshotError(f"{target} exists (use --force to replace it)", path=str(target))
        for path in companions:
            path.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(snapshot, partial)
    _fsync(partial)
    os.replace(partial, target)
    # Open it once through the normal path: WAL mode on, and the schema is current.
    engine = open_engine(sqlite_url(target))
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _reset_sequences(connection: sa.Connection) -> None:
    """PostgreSQL serial columns continue after the copied ids, not at 1."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True and isinstance(column.type, sa.Integer):
                # Names from our own schema, never from input.
                name, col = table.name, column.name
                statement = f"SELECT setval(pg_get_serial_sequence('{name}', '{col}'), COALESCE((SELECT MAX({col}) FROM {name}), 0) + 1, false)"  # noqa: S608, E501
                connection.execute(sa.text(statement))
