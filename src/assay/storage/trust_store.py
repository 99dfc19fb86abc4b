"""Trusted publishing's tables: publishers, claimed ``jti``\\ s, exchanged tokens, package
policies, staged publishes and the audit trail (docs/trusted-publishing.md).

Durability as in :mod:`assay.storage.registry_store`: every write is one transaction, committed
when the method returns. Exchanged tokens are stored only as their SHA-256, like user tokens.
The rules (who may do what, what matches) live in :mod:`assay.registry`; this module only reads
and writes rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.storage.account_store import StoreConflict, now_ms
from assay.storage.database import write_transaction
from assay.storage.schema import (
    registry_audit_events,
    registry_oidc_jtis,
    registry_oidc_tokens,
    registry_package_policies,
    registry_packages,
    registry_staged_versions,
    registry_trusted_publishers,
)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class StoredPublisher:
    """One trusted publisher of a package (or, pending, of a name not yet taken)."""

    id: str
    package: str
    provider: str
    claims: Mapping[str, Any]
    permissions: tuple[str, ...]
    pins: Mapping[str, Any] | None
    created_by: int | None
    created_ms: int
    pending_until_ms: int | None = None

    @property
    def pending(self) -> bool:
        return self.pending_until_ms is not None


@dataclass(frozen=True, slots=True)
class StoredOidcToken:
    """A token the exchange minted: acts for `publisher_id` on `package` until `expires_ms`."""

    key: str
    token_hash: str
    package: str
    publisher_id: str
    permissions: tuple[str, ...]
    identity: Mapping[str, Any]
    preview: str
    created_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A package's publish rules; :meth:`TrustStore.policy` returns the defaults for no row."""

    package: str
    require_trusted_publishing: bool = False
    require_provenance: bool = False
    allow_provenance_downgrade: bool = False
    updated_by: int | None = None
    updated_ms: int = 0


@dataclass(frozen=True, slots=True)
class StoredStaged:
    """A staged publish, waiting for a maintainer's approval."""

    id: str
    package: str
    version: str
    body: Mapping[str, Any]
    blob_key: str
    integrity: str
    size: int
    stager: Mapping[str, Any]
    created_ms: int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    package: str
    actor: str
    action: str
    detail: Mapping[str, Any]
    at_ms: int


class TrustStore:
    """Rows of trusted publishing over the registry's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- trusted publishers ------------------------------------------------------------------

    def add_publishers(
        self, publishers: Sequence[StoredPublisher], audit: Sequence[AuditEvent] = ()
    ) -> None:
        """Insert publishers (and their audit events) in one transaction."""
        with write_transaction(self._engine) as connection:
            for publisher in publishers:
                connection.execute(
                    registry_trusted_publishers.insert().values(
                        id=publisher.id,
                        package=publisher.package,
                        provider=publisher.provider,
                        claims=_dumps(publisher.claims),
                        permissions=_dumps(list(publisher.permissions)),
                        pins=None if publisher.pins is None else _dumps(publisher.pins),
                        created_by=publisher.created_by,
                        created_ms=publisher.created_ms,
                        pending_until_ms=publisher.pending_until_ms,
                    )
                )
            _append_audit(connection, audit)

    def publishers(self, package: str) -> list[StoredPublisher]:
        """Every publisher configured for `package` (pending ones included), oldest first."""
        table = registry_trusted_publishers
        query = (
            sa.select(table)
            .where(table.c.package == package)
            .order_by(table.c.created_ms, table.c.id)
        )
        with self._engine.connect() as connection:
            return [_publisher(row) for row in connection.execute(query)]

    def publisher(self, publisher_id: str) -> StoredPublisher | None:
        table = registry_trusted_publishers
        query = sa.select(table).where(table.c.id == publisher_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _publisher(row)

    def pending_publishers(self, now: int | None = None) -> list[StoredPublisher]:
        """Pending publishers whose reservation has not lapsed (every one if `now` is None)."""
        table = registry_trusted_publishers
        query = sa.select(table).where(table.c.pending_until_ms.is_not(None))
        if now is not None:
            query = query.where(table.c.pending_until_ms > now)
        with self._engine.connect() as connection:
            return [_publisher(row) for row in connection.execute(query.order_by(table.c.id))]

    def delete_publisher(
        self, package: str, publisher_id: str, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """Delete one publisher of `package` (its exchanged tokens go with it)."""
        table = registry_trusted_publishers
        with write_transaction(self._engine) as connection:
            connection.execute(
                registry_oidc_tokens.delete().where(
                    registry_oidc_tokens.c.publisher_id == publisher_id
                )
            )
            deleted = connection.execute(
                table.delete().where(table.c.package == package, table.c.id == publisher_id)
            ).rowcount
            if deleted:
                _append_audit(connection, audit)
        return deleted > 0

    def pin_publisher(self, publisher_id: str, pins: Mapping[str, Any]) -> bool:
        """Record the immutable ids seen on first use; False if pins were already set (a
        concurrent first use won: the caller re-reads and compares against those)."""
        table = registry_trusted_publishers
        with write_transaction(self._engine) as connection:
            updated = connection.execute(
                table.update()
                .where(table.c.id == publisher_id, table.c.pins.is_(None))
                .values(pins=_dumps(pins))
            ).rowcount
        return updated > 0

    def settle_pending(self, package: str) -> None:
        """The package now exists: its pending publishers become ordinary ones."""
        table = registry_trusted_publishers
        with write_transaction(self._engine) as connection:
            connection.execute(
                table.update()
                .where(table.c.package == package, table.c.pending_until_ms.is_not(None))
                .values(pending_until_ms=None)
            )

    def add_pending_publishers(
        self,
        publishers: Sequence[StoredPublisher],
        audit: Sequence[AuditEvent] = (),
        *,
        now: int,
    ) -> None:
        """Insert pending publishers of one package name, atomically with the reservation rule:
        :class:`StoreConflict` if the package exists by now, or if a live (unlapsed) pending
        publisher of that name was created by someone else. On PostgreSQL a transaction-scoped
        advisory lock on the name serializes concurrent registrations (SQLite's BEGIN IMMEDIATE
        already does)."""
        if not publishers:
            return
        package = publishers[0].package
        creator = publishers[0].created_by
        table = registry_trusted_publishers
        with write_transaction(self._engine) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(package)))
                )
            exists = connection.execute(
                sa.select(registry_packages.c.name).where(registry_packages.c.name == package)
            ).first()
            if exists is not None:
                raise StoreConflict(f"{package} exists", name=package)
            others = connection.execute(
                sa.select(table.c.id).where(
                    table.c.package == package,
                    table.c.pending_until_ms > now,
                    sa.or_(table.c.created_by.is_(None), table.c.created_by != creator)
                    if creator is not None
                    else sa.true(),
                )
            ).first()
            if others is not None:
                raise StoreConflict(f"{package} is reserved by another user", name=package)
            for publisher in publishers:
                connection.execute(table.insert().values(**_publisher_row(publisher)))
            _append_audit(connection, audit)

    def live_pending_publishers(self, package: str, now: int) -> list[StoredPublisher]:
        """The pending publishers of `package` whose reservation has not lapsed, oldest first."""
        table = registry_trusted_publishers
        query = (
            sa.select(table)
            .where(table.c.package == package, table.c.pending_until_ms > now)
            .order_by(table.c.created_ms, table.c.id)
        )
        with self._engine.connect() as connection:
            return [_publisher(row) for row in connection.execute(query)]

    def settle_pending_of(self, package: str, creator: int | None, now: int) -> None:
        """The package now exists, created by `creator`: their live pending publishers become
        ordinary ones; every other pending row of the name (lapsed, or someone else's) is
        deleted, so an expired reservation never turns into a publisher of the package."""
        table = registry_trusted_publishers
        pending = table.c.pending_until_ms.is_not(None)
        keep = sa.and_(table.c.pending_until_ms > now, table.c.created_by == creator)
        with write_transaction(self._engine) as connection:
            stale = connection.execute(
                sa.select(table.c.id).where(table.c.package == package, pending, sa.not_(keep))
            ).scalars()
            for publisher_id in list(stale):
                connection.execute(
                    registry_oidc_tokens.delete().where(
                        registry_oidc_tokens.c.publisher_id == publisher_id
                    )
                )
                connection.execute(table.delete().where(table.c.id == publisher_id))
            connection.execute(
                table.update()
                .where(table.c.package == package, pending)
                .values(pending_until_ms=None)
            )

    # --- jti replay --------------------------------------------------------------------------

    def claim_jti(self, issuer: str, jti: str, forget_after_ms: int) -> bool:
        """Atomically record that (issuer, jti) was exchanged; False if it already was.
        Rows past their ``forget_after_ms`` are swept in the same transaction."""
        table = registry_oidc_jtis
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(table.delete().where(table.c.forget_after_ms < now_ms()))
                connection.execute(
                    table.insert().values(issuer=issuer, jti=jti, forget_after_ms=forget_after_ms)
                )
        except sa.exc.IntegrityError:
            return False
        return True

    # --- exchanged tokens --------------------------------------------------------------------

    def add_oidc_token(self, token: StoredOidcToken, audit: Sequence[AuditEvent] = ()) -> None:
        with write_transaction(self._engine) as connection:
            connection.execute(
                registry_oidc_tokens.delete().where(registry_oidc_tokens.c.expires_ms < now_ms())
            )
            connection.execute(
                registry_oidc_tokens.insert().values(
                    key=token.key,
                    token_hash=token.token_hash,
                    package=token.package,
                    publisher_id=token.publisher_id,
                    permissions=_dumps(list(token.permissions)),
                    identity=_dumps(token.identity),
                    preview=token.preview,
                    created_ms=token.created_ms,
                    expires_ms=token.expires_ms,
                )
            )
            _append_audit(connection, audit)

    def add_oidc_token_once(
        self,
        token: StoredOidcToken,
        issuer: str,
        jti: str,
        forget_after_ms: int,
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        """:meth:`claim_jti` and :meth:`add_oidc_token` in one transaction: the token is stored
        only if (issuer, jti) was never claimed; False (nothing written) if it was."""
        jtis, tokens = registry_oidc_jtis, registry_oidc_tokens
        now = now_ms()
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(jtis.delete().where(jtis.c.forget_after_ms < now))
                connection.execute(
                    jtis.insert().values(issuer=issuer, jti=jti, forget_after_ms=forget_after_ms)
                )
                connection.execute(tokens.delete().where(tokens.c.expires_ms < now))
                connection.execute(
                    tokens.insert().values(
                        key=token.key,
                        token_hash=token.token_hash,
                        package=token.package,
                        publisher_id=token.publisher_id,
                        permissions=_dumps(list(token.permissions)),
                        identity=_dumps(token.identity),
                        preview=token.preview,
                        created_ms=token.created_ms,
                        expires_ms=token.expires_ms,
                    )
                )
                _append_audit(connection, audit)
        except sa.exc.IntegrityError:
            return False
        return True

    def oidc_token_by_hash(self, token_hash: str) -> StoredOidcToken | None:
        table = registry_oidc_tokens
        query = sa.select(table).where(table.c.token_hash == token_hash)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _oidc_token(row)

    def oidc_tokens(self, packages: Sequence[str], now: int | None = None) -> list[StoredOidcToken]:
        """Unexpired exchanged tokens of `packages` (what their maintainers may list)."""
        if not packages:
            return []
        table = registry_oidc_tokens
        query = (
            sa.select(table)
            .where(table.c.package.in_(list(packages)), table.c.expires_ms > (now or now_ms()))
            .order_by(table.c.created_ms, table.c.key)
        )
        with self._engine.connect() as connection:
            return [_oidc_token(row) for row in connection.execute(query)]

    def delete_oidc_token(self, key: str, packages: Sequence[str]) -> bool:
        """Revoke an exchanged token by key, only if it acts on one of `packages`."""
        if not packages:
            return False
        table = registry_oidc_tokens
        query = table.delete().where(table.c.key == key, table.c.package.in_(list(packages)))
        with write_transaction(self._engine) as connection:
            return connection.execute(query).rowcount > 0

    # --- package policies --------------------------------------------------------------------

    def policy(self, package: str) -> StoredPolicy:
        table = registry_package_policies
        query = sa.select(table).where(table.c.package == package)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return StoredPolicy(package)
        return StoredPolicy(
            package=str(row.package),
            require_trusted_publishing=bool(row.require_trusted_publishing),
            require_provenance=bool(row.require_provenance),
            allow_provenance_downgrade=bool(row.allow_provenance_downgrade),
            updated_by=None if row.updated_by is None else int(row.updated_by),
            updated_ms=int(row.updated_ms),
        )

    def set_policy(self, policy: StoredPolicy, audit: Sequence[AuditEvent] = ()) -> None:
        table = registry_package_policies
        values = {
            "require_trusted_publishing": policy.require_trusted_publishing,
            "require_provenance": policy.require_provenance,
            "allow_provenance_downgrade": policy.allow_provenance_downgrade,
            "updated_by": policy.updated_by,
            "updated_ms": policy.updated_ms,
        }
        with write_transaction(self._engine) as connection:
            updated = connection.execute(
                table.update().where(table.c.package == policy.package).values(**values)
            ).rowcount
            if not updated:
                connection.execute(table.insert().values(package=policy.package, **values))
            _append_audit(connection, audit)

    # --- staged publishes --------------------------------------------------------------------

    def add_staged(self, staged: StoredStaged, audit: Sequence[AuditEvent] = ()) -> None:
        """Insert a staged publish; :class:`StoreConflict` if that version is already staged."""
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(
                    registry_staged_versions.insert().values(
                        id=staged.id,
                        package=staged.package,
                        version=staged.version,
                        body=_dumps(staged.body),
                        blob_key=staged.blob_key,
                        integrity=staged.integrity,
                        size=staged.size,
                        stager=_dumps(staged.stager),
                        created_ms=staged.created_ms,
                    )
                )
                _append_audit(connection, audit)
        except sa.exc.IntegrityError as exc:
            raise StoreConflict(
                f"{staged.package}@{staged.version} is already staged", name=staged.package
            ) from exc

    def staged(self, staged_id: str) -> StoredStaged | None:
        table = registry_staged_versions
        query = sa.select(table).where(table.c.id == staged_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _staged(row)

    def staged_list(
        self,
        packages: Sequence[str] | None,
        offset: int,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> tuple[list[StoredStaged], int]:
        """A page of staged publishes (of `packages`, or all) and the total count; oldest
        first, or newest first (the order of npm's ``GET /-/stage``)."""
        table = registry_staged_versions
        where = [] if packages is None else [table.c.package.in_(list(packages))]
        order = (
            (table.c.created_ms.desc(), table.c.id.desc())
            if newest_first
            else (table.c.created_ms, table.c.id)
        )
        query = sa.select(table).where(*where).order_by(*order).offset(offset).limit(limit)
        count = sa.select(sa.func.count()).select_from(table).where(*where)
        with self._engine.connect() as connection:
            rows = [_staged(row) for row in connection.execute(query)]
            total = int(connection.execute(count).scalar_one())
        return rows, total

    def delete_staged(self, staged_id: str, audit: Sequence[AuditEvent] = ()) -> bool:
        table = registry_staged_versions
        with write_transaction(self._engine) as connection:
            deleted = connection.execute(table.delete().where(table.c.id == staged_id)).rowcount
            if deleted:
                _append_audit(connection, audit)
        return deleted > 0

    # --- audit trail -------------------------------------------------------------------------

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        with write_transaction(self._engine) as connection:
            _append_audit(connection, events)

    def audit_events(self, package: str, limit: int = 100) -> list[AuditEvent]:
        """The newest `limit` events of `package`, newest first."""
        table = registry_audit_events
        query = (
            sa.select(table)
            .where(table.c.package == package)
            .order_by(table.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [
                AuditEvent(
                    id=int(row.id),
                    package=str(row.package),
                    actor=str(row.actor),
                    action=str(row.action),
                    detail=json.loads(row.detail),
                    at_ms=int(row.at_ms),
                )
                for row in connection.execute(query)
            ]


def audit_event(package: str, actor: str, action: str, **detail: Any) -> AuditEvent:
    """An event to append (its id is assigned by the database)."""
    return AuditEvent(0, package, actor, action, detail, now_ms())


def _append_audit(connection: sa.Connection, events: Sequence[AuditEvent]) -> None:
    for event in events:
        connection.execute(
            registry_audit_events.insert().values(
                package=event.package,
                actor=event.actor,
                action=event.action,
                detail=_dumps(event.detail),
                at_ms=event.at_ms,
            )
        )


def _publisher_row(publisher: StoredPublisher) -> dict[str, Any]:
    return {
        "id": publisher.id,
        "package": publisher.package,
        "provider": publisher.provider,
        "claims": _dumps(publisher.claims),
        "permissions": _dumps(list(publisher.permissions)),
        "pins": None if publisher.pins is None else _dumps(publisher.pins),
        "created_by": publisher.created_by,
        "created_ms": publisher.created_ms,
        "pending_until_ms": publisher.pending_until_ms,
    }


def _publisher(row: Any) -> StoredPublisher:
    return StoredPublisher(
        id=str(row.id),
        package=str(row.package),
        provider=str(row.provider),
        claims=json.loads(row.claims),
        permissions=tuple(json.loads(row.permissions)),
        pins=None if row.pins is None else json.loads(row.pins),
        created_by=None if row.created_by is None else int(row.created_by),
        created_ms=int(row.created_ms),
        pending_until_ms=None if row.pending_until_ms is None else int(row.pending_until_ms),
    )


def _oidc_token(row: Any) -> StoredOidcToken:
    return StoredOidcToken(
        key=str(row.key),
        token_hash=str(row.token_hash),
        package=str(row.package),
        publisher_id=str(row.publisher_id),
        permissions=tuple(json.loads(row.permissions)),
        identity=json.loads(row.identity),
        preview=str(row.preview),
        created_ms=int(row.created_ms),
        expires_ms=int(row.expires_ms),
    )


def _staged(row: Any) -> StoredStaged:
    return StoredStaged(
        id=str(row.id),
        package=str(row.package),
        version=str(row.version),
        body=json.loads(row.body),
        blob_key=str(row.blob_key),
        integrity=str(row.integrity),
        size=int(row.size),
        stager=json.loads(row.stager),
        created_ms=int(row.created_ms),
    )


__all__ = [
    "AuditEvent",
    "StoredOidcToken",
    "StoredPolicy",
    "StoredPublisher",
    "StoredStaged",
    "TrustStore",
    "audit_event",
]
