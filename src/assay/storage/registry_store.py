"""The registry's tables: packages and their versions, dist-tags, maintainers (the accounts' are
:mod:`assay.storage.account_store`'s).

Durability: every write is one transaction; when a method returns it is committed (SQLite WAL
with ``synchronous=FULL``, PostgreSQL's default ``synchronous_commit``), when it raises nothing
of it is. A publish writes its tarball blob *before* calling :meth:`RegistryStore.write_package`
(storage/blobs.py); the version row committed here is the only thing that makes the blob
visible, so a crash in between leaves an orphan blob that is never served and that
:func:`sweep_orphans` removes later.

Concurrency: :meth:`RegistryStore.write_package` serializes writers *per package*. It locks the
package row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already takes
the database write lock), reads the whole state, lets the caller decide on the change with that
state in hand (authorization and npm's rules), applies it and bumps ``rev``. Two writers of one
package therefore see each other's effects, never a stale state. Creating a package or claiming
a scope can race with another process doing the same; the loser hits the primary key, the
transaction is rolled back and retried against the new state (a bounded number of times).
(package, version) is a primary key as well, so even without the lock a version could be
inserted only once. Reads take no locks and see the last committed state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.storage.account_store import (
    AccountStore,
    StoreConflict,
    now_ms,
)
from assay.storage.blobs import BlobStore
from assay.storage.database import write_transaction
from assay.storage.schema import (
    registry_dist_tags,
    registry_maintainers,
    registry_packages,
    registry_scopes,
    registry_users,
    registry_versions,
)

TARBALL_PREFIX = "tarballs/"


@dataclass(frozen=True, slots=True)
class StoredVersion:
    package: str
    version: str
    manifest: str
    """The version object as JSON text (``dist`` without ``tarball``: the URL is the reader's)."""
    integrity: str
    shasum: str
    blob_key: str
    filename: str
    size: int
    readme: str | None
    deprecated: str | None
    publisher_id: int | None
    published_ms: int
    unpublished_ms: int | None = None
    attestations: str | None = None
    """JSON text: the ``attestations`` list served at ``/-/npm/v1/attestations/…`` (or None)."""
    provenance_facts: str | None = None
    """JSON text: what the registry verified about the provenance (or None without one)."""
    trusted_publisher: str | None = None
    """JSON text: the trusted publisher the version came through (or None for a token)."""

    @property
    def live(self) -> bool:
        return self.unpublished_ms is None


@dataclass(frozen=True, slots=True)
class Maintainer:
    id: int
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class PackageState:
    """Everything stored about one package, read in one transaction."""

    name: str
    rev: int
    created_ms: int
    modified_ms: int
    versions: Mapping[str, StoredVersion]
    """Every version ever published, unpublished ones included (tombstones)."""
    dist_tags: Mapping[str, str]
    maintainers: tuple[Maintainer, ...]
    publishers: Mapping[int, Maintainer] = field(default_factory=dict)
    """The users who published some version (for ``_npmUser``), by id."""

    @property
    def live_versions(self) -> dict[str, StoredVersion]:
        return {v: row for v, row in self.versions.items() if row.live}


@dataclass(frozen=True, slots=True)
class PackageChange:
    """What one write does to one package; built by the service from the locked state."""

    create: bool = False
    new_versions: tuple[StoredVersion, ...] = ()
    unpublish: tuple[str, ...] = ()
    deprecations: Mapping[str, str | None] = field(default_factory=dict)
    set_tags: Mapping[str, str] = field(default_factory=dict)
    delete_tags: tuple[str, ...] = ()
    maintainers: tuple[int, ...] | None = None
    """Replace the maintainer set with these user ids (None: leave as is)."""
    claim_scope: tuple[str, int] | None = None
    """(scope, owner id) to claim in the same transaction."""
    description: str | None = None
    keywords: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return self == PackageChange()


@dataclass(frozen=True, slots=True)
class WriteResult:
    rev: int
    orphaned_blobs: tuple[str, ...]
    """Blob keys no live version references any more (after an unpublish)."""


Decide = Callable[[PackageState | None, int | None], PackageChange]
"""Given the locked state (None for a new package) and the scope's owner id, the change."""


def scope_of(name: str) -> str | None:
    return name[1:].split("/", 1)[0] if name.startswith("@") else None


class RegistryStore(AccountStore):
    """Reads and per-package serialized writes over the registry's tables; the accounts'
    reads and writes are :class:`~assay.storage.account_store.AccountStore`'s."""

    _RETRIES = 8

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._postgres = engine.dialect.name == "postgresql"

    def package_rev(self, name: str) -> int | None:
        """The package's current rev, or None: the one query on the packument hot path."""
        query = sa.select(registry_packages.c.rev).where(registry_packages.c.name == name)
        with self._engine.connect() as connection:
            value = connection.execute(query).scalar_one_or_none()
        return None if value is None else int(value)

    def load_package(self, name: str) -> PackageState | None:
        with self._engine.connect() as connection:
            return self._load(connection, name)

    def version_by_filename(self, name: str, filename: str) -> StoredVersion | None:
        """The version whose tarball is `filename` (tombstones included)."""
        query = sa.select(registry_versions).where(
            registry_versions.c.package == name, registry_versions.c.filename == filename
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _version(row)

    def version_attestations(self, name: str, versions: Sequence[str]) -> dict[str, str]:
        """The stored attestations (JSON text) of those of `versions` that are live and have
        some: one query on the versions' primary key (package, version)."""
        if not versions:
            return {}
        query = sa.select(registry_versions.c.version, registry_versions.c.attestations).where(
            registry_versions.c.package == name,
            registry_versions.c.version.in_(list(versions)),
            registry_versions.c.unpublished_ms.is_(None),
            registry_versions.c.attestations.is_not(None),
        )
        with self._engine.connect() as connection:
            return {str(row.version): str(row.attestations) for row in connection.execute(query)}

    def packages_of(self, user_id: int) -> list[str]:
        query = (
            sa.select(registry_maintainers.c.package)
            .where(registry_maintainers.c.user_id == user_id)
            .order_by(registry_maintainers.c.package)
        )
        with self._engine.connect() as connection:
            return [str(name) for name in connection.execute(query).scalars()]

    def search(self, words: Sequence[str], limit: int, offset: int) -> tuple[list[str], int]:
        """Names of packages with a live version matching every word (name, description or
        keywords, case-insensitive), best first: exact name, then name matches, then by name."""
        live = sa.exists().where(
            registry_versions.c.package == registry_packages.c.name,
            registry_versions.c.unpublished_ms.is_(None),
        )
        conditions: list[sa.ColumnElement[bool]] = [live]
        for word in words:
            pattern = (
                "%"
                + word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            conditions.append(
                sa.or_(
                    sa.func.lower(registry_packages.c.name).like(pattern, escape="\\"),
                    sa.func.lower(registry_packages.c.description).like(pattern, escape="\\"),
                    sa.func.lower(registry_packages.c.keywords).like(pattern, escape="\\"),
                )
            )
        phrase = " ".join(words).lower()
        rank = sa.case(
            (registry_packages.c.name == phrase, 0),
            (registry_packages.c.name.like("%" + phrase.replace("%", "") + "%"), 1),
            else_=2,
        )
        query = (
            sa.select(registry_packages.c.name)
            .where(*conditions)
            .order_by(rank, registry_packages.c.name)
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(registry_packages).where(*conditions)
        with self._engine.connect() as connection:
            names = [str(name) for name in connection.execute(query).scalars()]
            total = int(connection.execute(count).scalar_one())
        return names, total

    def referenced_blobs(self) -> set[str]:
        """Blob keys of live versions."""
        query = sa.select(registry_versions.c.blob_key).where(
            registry_versions.c.unpublished_ms.is_(None)
        )
        with self._engine.connect() as connection:
            return {str(key) for key in connection.execute(query).scalars()}

    # --- packages: writes --------------------------------------------------------------------

    def write_package(self, name: str, decide: Decide) -> WriteResult:
        """Apply ``decide(state, scope_owner)`` to `name` in one serialized transaction.

        `decide` may raise to refuse; then nothing is written. It can be called more than once
        (after a lost race on a new package or scope), each time with fresh state.
        """
        for attempt in range(self._RETRIES):
            try:
                with write_transaction(self._engine) as connection:
                    return self._write(connection, name, decide)
            except sa.exc.IntegrityError as exc:
                if attempt == self._RETRIES - 1:
                    raise StoreConflict(
                        f"concurrent update of {name} kept conflicting", name=name
                    ) from exc
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, connection: sa.Connection, name: str, decide: Decide) -> WriteResult:
        lock = sa.select(registry_packages.c.rev).where(registry_packages.c.name == name)
        if self._postgres:
            lock = lock.with_for_update()
        exists = connection.execute(lock).first() is not None
        state = self._load(connection, name) if exists else None
        scope = scope_of(name)
        owner = None
        if scope is not None:
            owner = connection.execute(
                sa.select(registry_scopes.c.owner_id).where(registry_scopes.c.scope == scope)
            ).scalar_one_or_none()
        change = decide(state, None if owner is None else int(owner))
        now = now_ms()
        if change.claim_scope is not None:
            connection.execute(
                registry_scopes.insert().values(
                    scope=change.claim_scope[0], owner_id=change.claim_scope[1], created_ms=now
                )
            )
        if state is None:
            if not change.create:
                raise AssertionError("decide() must create a package that does not exist")
            rev = 1
            connection.execute(
                registry_packages.insert().values(
                    name=name, rev=rev, created_ms=now, modified_ms=now
                )
            )
        else:
            rev = state.rev + 1
            connection.execute(
                registry_packages.update()
                .where(registry_packages.c.name == name)
                .values(rev=rev, modified_ms=now)
            )
        if change.description is not None or change.keywords is not None:
            connection.execute(
                registry_packages.update()
                .where(registry_packages.c.name == name)
                .values(
                    description=change.description,
                    keywords=json.dumps(list(change.keywords or ())),
                )
            )
        for version in change.new_versions:
            connection.execute(
                registry_versions.insert().values(
                    package=name,
                    version=version.version,
                    manifest=version.manifest,
                    integrity=version.integrity,
                    shasum=version.shasum,
                    blob_key=version.blob_key,
                    filename=version.filename,
                    size=version.size,
                    readme=version.readme,
                    deprecated=version.deprecated,
                    publisher_id=version.publisher_id,
                    published_ms=version.published_ms,
                    unpublished_ms=None,
                    attestations=version.attestations,
                    provenance_facts=version.provenance_facts,
                    trusted_publisher=version.trusted_publisher,
                )
            )
        for version_name, message in change.deprecations.items():
            connection.execute(
                registry_versions.update()
                .where(
                    registry_versions.c.package == name,
                    registry_versions.c.version == version_name,
                )
                .values(deprecated=message)
            )
        orphaned: list[str] = []
        if change.unpublish:
            connection.execute(
                registry_versions.update()
                .where(
                    registry_versions.c.package == name,
                    registry_versions.c.version.in_(change.unpublish),
                    registry_versions.c.unpublished_ms.is_(None),
                )
                .values(unpublished_ms=now)
            )
            if state is None:
                raise AssertionError("cannot unpublish from a package that does not exist")
            candidates = {state.versions[v].blob_key for v in change.unpublish}
            still = connection.execute(
                sa.select(registry_versions.c.blob_key).where(
                    registry_versions.c.blob_key.in_(candidates),
                    registry_versions.c.unpublished_ms.is_(None),
                )
            ).scalars()
            orphaned = sorted(candidates - {str(key) for key in still})
            # A dist-tag never points at a version that is gone.
            connection.execute(
                registry_dist_tags.delete().where(
                    registry_dist_tags.c.package == name,
                    registry_dist_tags.c.version.in_(change.unpublish),
                )
            )
        if change.delete_tags:
            connection.execute(
                registry_dist_tags.delete().where(
                    registry_dist_tags.c.package == name,
                    registry_dist_tags.c.tag.in_(change.delete_tags),
                )
            )
        for tag, version_name in change.set_tags.items():
            connection.execute(
                registry_dist_tags.delete().where(
                    registry_dist_tags.c.package == name, registry_dist_tags.c.tag == tag
                )
            )
            connection.execute(
                registry_dist_tags.insert().values(package=name, tag=tag, version=version_name)
            )
        if change.maintainers is not None:
            connection.execute(
                registry_maintainers.delete().where(registry_maintainers.c.package == name)
            )
            for user_id in dict.fromkeys(change.maintainers):
                connection.execute(
                    registry_maintainers.insert().values(package=name, user_id=user_id)
                )
        return WriteResult(rev, tuple(orphaned))

    def add_attestation(
        self, name: str, version: str, integrity: str, expected: str | None, attestations: str
    ) -> bool:
        """Replace a committed version's attestations list, if it is still ``expected``.

        A compare-and-set, one transaction: after a publish commits, the registry adds its
        publish attestation (logged only then, so a losing publish logs nothing). False when
        the row is gone, unpublished, holds other bytes, or someone completed it first. The
        package's ``rev`` is left alone: the packument does not change.
        """
        condition = (
            registry_versions.c.attestations.is_(None)
            if expected is None
            else registry_versions.c.attestations == expected
        )
        query = (
            registry_versions.update()
            .where(
                registry_versions.c.package == name,
                registry_versions.c.version == version,
                registry_versions.c.integrity == integrity,
                registry_versions.c.unpublished_ms.is_(None),
                condition,
            )
            .values(attestations=attestations)
        )
        with write_transaction(self._engine) as connection:
            return connection.execute(query).rowcount == 1

    # --- internals ---------------------------------------------------------------------------

    def _load(self, connection: sa.Connection, name: str) -> PackageState | None:
        row = connection.execute(
            sa.select(registry_packages).where(registry_packages.c.name == name)
        ).first()
        if row is None:
            return None
        versions = {
            v.version: v
            for v in map(
                _version,
                connection.execute(
                    sa.select(registry_versions).where(registry_versions.c.package == name)
                ),
            )
        }
        tags = {
            str(t.tag): str(t.version)
            for t in connection.execute(
                sa.select(registry_dist_tags.c.tag, registry_dist_tags.c.version)
                .where(registry_dist_tags.c.package == name)
                .order_by(registry_dist_tags.c.tag)
            )
        }
        maintainers = tuple(
            Maintainer(int(m.id), str(m.name), str(m.email))
            for m in connection.execute(
                sa.select(registry_users.c.id, registry_users.c.name, registry_users.c.email)
                .join(registry_maintainers, registry_maintainers.c.user_id == registry_users.c.id)
                .where(registry_maintainers.c.package == name)
                .order_by(registry_users.c.name)
            )
        )
        publisher_ids = {v.publisher_id for v in versions.values() if v.publisher_id is not None}
        publishers: dict[int, Maintainer] = {}
        if publisher_ids:
            publishers = {
                int(p.id): Maintainer(int(p.id), str(p.name), str(p.email))
                for p in connection.execute(
                    sa.select(
                        registry_users.c.id, registry_users.c.name, registry_users.c.email
                    ).where(registry_users.c.id.in_(publisher_ids))
                )
            }
        return PackageState(
            name=str(row.name),
            rev=int(row.rev),
            created_ms=int(row.created_ms),
            modified_ms=int(row.modified_ms),
            versions=versions,
            dist_tags=tags,
            maintainers=maintainers,
            publishers=publishers,
        )


def sweep_orphans(store: RegistryStore, blobs: BlobStore, *, modified_before: float) -> list[str]:
    """Delete tarball blobs no live version references and last written before
    `modified_before` (seconds since the epoch). Returns the deleted keys.

    The grace period matters: a publish writes its blob before committing its row, so a blob
    younger than any publish can take is possibly in flight and must be left alone.
    """
    referenced = store.referenced_blobs()
    deleted: list[str] = []
    for info in list(blobs.list(TARBALL_PREFIX)):
        if info.key in referenced or info.modified >= modified_before:
            continue
        blobs.delete(info.key)
        deleted.append(info.key)
    return deleted


def tarball_key(sha512_hex: str) -> str:
    """The content-addressed blob key of a tarball."""
    return f"{TARBALL_PREFIX}{sha512_hex[:2]}/{sha512_hex}"


def _version(row: Any) -> StoredVersion:
    return StoredVersion(
        package=str(row.package),
        version=str(row.version),
        manifest=str(row.manifest),
        integrity=str(row.integrity),
        shasum=str(row.shasum),
        blob_key=str(row.blob_key),
        filename=str(row.filename),
        size=int(row.size),
        readme=row.readme,
        deprecated=row.deprecated,
        publisher_id=None if row.publisher_id is None else int(row.publisher_id),
        published_ms=int(row.published_ms),
        unpublished_ms=None if row.unpublished_ms is None else int(row.unpublished_ms),
        attestations=row.attestations,
        provenance_facts=row.provenance_facts,
        trusted_publisher=row.trusted_publisher,
    )


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
