"""The mirror's tables: upstream packuments as fetched, and each upstream version's verdict
(docs/mirror.md).

Every write is one transaction, committed when the method returns. The rows are a cache of what
the uplinks serve, so they are written with ``write_transaction(durable=False)``: atomic, but a
power loss may lose the last commits, which are then fetched and verified again (an eviction, an
operator's decision, is durable). A packument and the verdicts of its new versions are written
together (:meth:`MirrorStore.save_packument`), so a reader never sees a packument whose versions
have no verdict. A tarball's columns are set only after its bytes were checked and stored in the
blob store (:meth:`MirrorStore.record_tarball`). The rules (what is verified, what is served)
live in :mod:`assay.mirror`; this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.storage.account_store import now_ms
from assay.storage.database import write_transaction
from assay.storage.schema import (
    mirror_packuments,
    mirror_versions,
    registry_packages,
    registry_staged_versions,
    registry_trusted_publishers,
)

__all__ = ["MirrorStore", "StoredUpstream", "StoredVerdict"]


@dataclass(frozen=True, slots=True)
class StoredUpstream:
    """An upstream packument as the uplink served it, with its validators."""

    name: str
    uplink: str
    document: str
    etag: str | None
    last_modified: str | None
    fetched_ms: int
    changed_ms: int


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    """What the mirror decided about one upstream version (see the schema's comment)."""

    name: str
    version: str
    uplink: str
    integrity: str
    verdict: str
    reason: str | None
    signatures: str
    provenance: str | None
    facts: str | None
    attestations: str | None
    verified_ms: int
    blob_key: str | None = None
    shasum: str | None = None
    size: int | None = None
    fetched_ms: int | None = None
    manifest: str | None = None
    """The fingerprint of the upstream manifest the stored tarball was checked against (None:
    not checked yet)."""

    @property
    def verified(self) -> bool:
        return self.verdict == "verified"


class MirrorStore:
    """Rows of the mirror over the registry's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def local_claim(self, name: str, now: int | None = None) -> str | None:
        """Why ``name`` belongs to this registry, or None: a package row (live or with every
        version unpublished), a staged publish, or a trusted publisher (a pending one reserves a
        name not published yet). A name with any of these is never filled from an uplink."""
        moment = now_ms() if now is None else now
        publishers = registry_trusted_publishers
        queries = (
            ("published here", sa.select(registry_packages.c.name).where(
                registry_packages.c.name == name)),
            ("staged here", sa.select(registry_staged_versions.c.id).where(
                registry_staged_versions.c.package == name)),
            ("reserved by a trusted publisher", sa.select(publishers.c.id).where(
                publishers.c.package == name,
                sa.or_(publishers.c.pending_until_ms.is_(None),
                       publishers.c.pending_until_ms > moment))),
        )  # fmt: skip
        with self._engine.connect() as connection:
            for reason, query in queries:
                if connection.execute(query.limit(1)).first() is not None:
                    return reason
        return None

    def upstream(self, name: str) -> StoredUpstream | None:
        query = sa.select(mirror_packuments).where(mirror_packuments.c.name == name)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else StoredUpstream(**row._mapping)

    def verdicts(self, name: str) -> dict[str, StoredVerdict]:
        query = sa.select(mirror_versions).where(mirror_versions.c.name == name)
        with self._engine.connect() as connection:
            return {row.version: StoredVerdict(**row._mapping) for row in connection.execute(query)}

    def save_packument(self, upstream: StoredUpstream, new: Sequence[StoredVerdict]) -> None:
        """Store a packument fetched with a 200 and the verdicts of its versions not seen
        before, in one transaction. A verdict already stored is never replaced."""
        with write_transaction(self._engine, durable=False) as connection:
            _upsert_packument(connection, upstream)
            seen = {
                row.version
                for row in connection.execute(
                    sa.select(mirror_versions.c.version).where(
                        mirror_versions.c.name == upstream.name
                    )
                )
            }
            for verdict in new:
                if verdict.version in seen:
                    continue
                connection.execute(
                    mirror_versions.insert().values(
                        **{k: getattr(verdict, k) for k in _VERDICT_COLUMNS}
                    )
                )

    def confirm(self, name: str, fetched_ms: int) -> None:
        """The uplink answered 304: the stored packument is current as of ``fetched_ms``."""
        with write_transaction(self._engine, durable=False) as connection:
            connection.execute(
                mirror_packuments.update()
                .where(mirror_packuments.c.name == name)
                .values(fetched_ms=fetched_ms)
            )

    def record_tarball(
        self, name: str, version: str, *, blob_key: str, shasum: str, size: int, manifest: str
    ) -> None:
        """The tarball of ``name@version`` matched its integrity, its package.json agreed with
        the upstream manifest of fingerprint ``manifest``, and it is in the blob store."""
        with write_transaction(self._engine, durable=False) as connection:
            connection.execute(
                mirror_versions.update()
                .where(mirror_versions.c.name == name, mirror_versions.c.version == version)
                .values(
                    blob_key=blob_key,
                    shasum=shasum,
                    size=size,
                    fetched_ms=now_ms(),
                    manifest=manifest,
                )
            )

    def refuse(self, name: str, version: str, reason: str) -> None:
        """A verified ``name@version`` turned out not to be what its manifest says (its
        tarball's package.json disagrees): refused from now on, with ``reason``, and no
        tarball recorded for it. Only a verified verdict changes (never the other way)."""
        with write_transaction(self._engine, durable=False) as connection:
            connection.execute(
                mirror_versions.update()
                .where(
                    mirror_versions.c.name == name,
                    mirror_versions.c.version == version,
                    mirror_versions.c.verdict == "verified",
                )
                .values(
                    verdict="refused",
                    reason=reason,
                    blob_key=None,
                    shasum=None,
                    size=None,
                    manifest=None,
                    verified_ms=now_ms(),
                )
            )

    def counts(self) -> Mapping[str, int]:
        """Packages, versions by verdict and tarballs stored (for `assay mirror status`)."""
        with self._engine.connect() as connection:
            packages = connection.execute(
                sa.select(sa.func.count()).select_from(mirror_packuments)
            ).scalar_one()
            by_verdict: dict[str, int] = dict(
                connection.execute(
                    sa.select(mirror_versions.c.verdict, sa.func.count()).group_by(
                        mirror_versions.c.verdict
                    )
                ).all()
            )
            tarballs, tarball_bytes = connection.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(mirror_versions.c.size), 0))
                .select_from(mirror_versions)
                .where(mirror_versions.c.blob_key.is_not(None))
            ).one()
            packument_chars = connection.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(sa.func.length(mirror_packuments.c.document)), 0)
                )
            ).scalar_one()
        return {
            "packages": packages,
            **by_verdict,
            "tarballs": tarballs,
            "tarball_bytes": int(tarball_bytes),
            "packument_chars": int(packument_chars),
        }

    def packages(self) -> list[tuple[str, str, int]]:
        """Every upstream package stored: (name, uplink, fetched_ms), by name (for
        `assay mirror status` and `report`)."""
        query = sa.select(
            mirror_packuments.c.name, mirror_packuments.c.uplink, mirror_packuments.c.fetched_ms
        ).order_by(mirror_packuments.c.name)
        with self._engine.connect() as connection:
            return [(row.name, row.uplink, row.fetched_ms) for row in connection.execute(query)]

    def evict(self, name: str, version: str | None = None) -> int:
        """Forget what was fetched and decided for ``name`` (or only ``name@version``), so
        that the next request fetches and verifies it again; the number of rows removed.

        Evicting one version also drops the packument's validators and marks it expired: the
        next fetch is unconditional (a 304 would bring back no document to verify the version
        from). Tarball blobs are content-addressed and may be shared (a local version with
        the same bytes), so they are not deleted here; without its row the blob is never
        served for this version, and the next download fetches and checks it again."""
        with write_transaction(self._engine) as connection:
            versions = mirror_versions.delete().where(mirror_versions.c.name == name)
            if version is not None:
                versions = versions.where(mirror_versions.c.version == version)
            removed = connection.execute(versions).rowcount
            packument = mirror_packuments.c.name == name
            if version is None:
                removed += connection.execute(mirror_packuments.delete().where(packument)).rowcount
            else:
                connection.execute(
                    mirror_packuments.update()
                    .where(packument)
                    .values(etag=None, last_modified=None, fetched_ms=0)
                )
        return int(removed)


_VERDICT_COLUMNS = (
    "name", "version", "uplink", "integrity", "verdict", "reason", "signatures", "provenance",
    "facts", "attestations", "verified_ms", "blob_key", "shasum", "size", "fetched_ms",
    "manifest",
)  # fmt: skip


def _upsert_packument(connection: sa.Connection, upstream: StoredUpstream) -> None:
    values = {
        "uplink": upstream.uplink,
        "document": upstream.document,
        "etag": upstream.etag,
        "last_modified": upstream.last_modified,
        "fetched_ms": upstream.fetched_ms,
        "changed_ms": upstream.changed_ms,
    }
    updated = connection.execute(
        mirror_packuments.update().where(mirror_packuments.c.name == upstream.name).values(**values)
    ).rowcount
    if not updated:
        connection.execute(mirror_packuments.insert().values(name=upstream.name, **values))
