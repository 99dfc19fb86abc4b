"""Opening the relational database: SQLite by default, PostgreSQL by configuration.

One SQLAlchemy Core engine per process. SQLite runs in WAL mode with ``synchronous=FULL`` so a
committed transaction survives power loss (https://www.sqlite.org/pragma.html#pragma_synchronous),
and with a busy timeout so concurrent writers wait instead of failing. Schema changes go through
Alembic migrations (``storage/migrations``), applied by :func:`migrate` at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

from assay.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE_OPTION = "assay_write"
_CACHE_OPTION = "assay_cache_write"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite database file."""
    return f"sqlite+pysqlite:///{path}"


def database_url(configured: str | None, data_dir: Path) -> str:
    """The configured database, else the SQLite file every Assay data directory keeps."""
    return configured or sqlite_url(data_dir / "assay.db")


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite+pysqlite:///…`` or ``postgresql+psycopg://…``)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        # A pool as large as the server's thread pool (Starlette's default is 40 threads):
        # connections are kept, not opened per request (each opening re-runs the PRAGMAs).
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=40,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is switched off so that we issue BEGIN ourselves:
        # deferred for reads (they never wait for the writer in WAL mode), IMMEDIATE for writes
        # (the write lock is reserved up front, so a writer never fails on a lock upgrade).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    backend = parsed.get_backend_name()
    raise ConfigError(f"unsupported database {backend!r}; use SQLite or PostgreSQL")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    options = connection.get_execution_options()
    if not options.get(_WRITE_OPTION, False):
        connection.exec_driver_sql("BEGIN")
        return
    # `synchronous` is per connection and applies to the next commit: FULL for every write,
    # NORMAL for a cache's rows (write_transaction(durable=False)), set before each one.
    level = "NORMAL" if options.get(_CACHE_OPTION, False) else "FULL"
    connection.exec_driver_sql(f"PRAGMA synchronous={level}")
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_transaction(engine: Engine, *, durable: bool = True) -> Iterator[sa.Connection]:
    """A transaction that writes: committed when the block ends, rolled back if it raises.

    Use it instead of ``engine.begin()``; reads use ``engine.connect()``. On SQLite it starts
    with BEGIN IMMEDIATE; PostgreSQL needs nothing special.

    ``durable=False`` is for rows that are a cache of what can be fetched again (the mirror's
    upstream packuments and verdicts): still atomic and consistent, but the commit does not
    wait for the disk, so a power loss may lose the last commits — never leave a torn one.
    SQLite: ``synchronous=NORMAL`` in WAL mode (https://www.sqlite.org/pragma.html#pragma_synchronous);
    PostgreSQL: ``synchronous_commit = off`` for the transaction (asynchronous commit).
    """
    with engine.connect() as connection:
        writer = connection.execution_options(**{_WRITE_OPTION: True, _CACHE_OPTION: not durable})
        with writer.begin():
            if not durable and engine.dialect.name == "postgresql":
                writer.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield writer


# The PostgreSQL advisory lock that serializes migrations: nodes of a cluster (and the workers
# of one) start together and each migrates; one at a time, the others then find nothing to do.
MIGRATION_LOCK = int.from_bytes(b"assay-migrate", "big") & 0x7FFF_FFFF_FFFF_FFFF


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent, safe to run concurrently)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
