"""The registry's accounts: users, their tokens, and the scopes an administrator assigned.

Durability as in :mod:`assay.storage.registry_store`: every write is one transaction, committed
when the method returns. Tokens are stored only as their SHA-256 (the secret is shown once, at
creation, by :mod:`assay.registry.accounts`); passwords only as scrypt hashes. Reads take no locks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assay.errors import AssayError
from assay.storage.database import write_transaction
from assay.storage.schema import (
    registry_scope_members,
    registry_scopes,
    registry_tokens,
    registry_users,
)


class StoreConflict(AssayError):
    """A unique key was taken by a concurrent writer, even after retrying."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: int
    name: str
    email: str
    password_hash: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class StoredToken:
    key: str
    token_hash: str
    user_id: int
    preview: str
    name: str | None
    readonly: bool
    cidr_whitelist: tuple[str, ...] | None
    created_ms: int
    expires_ms: int | None


class AccountStore:
    """Users, tokens and scope assignments over the registry's tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- users -------------------------------------------------------------------------------

    def create_user(self, name: str, email: str, password_hash: str) -> StoredUser:
        """Create an account; :class:`StoreConflict` if the name is taken."""
        created = now_ms()
        try:
            with write_transaction(self._engine) as connection:
                result = connection.execute(
                    registry_users.insert().values(
                        name=name, email=email, password_hash=password_hash, created_ms=created
                    )
                )
                user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        except sa.exc.IntegrityError as exc:
            raise StoreConflict(f"user {name!r} already exists", name=name) from exc
        return StoredUser(user_id, name, email, password_hash, created)

    def user_by_name(self, name: str) -> StoredUser | None:
        query = sa.select(registry_users).where(registry_users.c.name == name)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _user(row)

    def user_by_id(self, user_id: int) -> StoredUser | None:
        query = sa.select(registry_users).where(registry_users.c.id == user_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _user(row)

    def list_users(self) -> list[StoredUser]:
        query = sa.select(registry_users).order_by(registry_users.c.name)
        with self._engine.connect() as connection:
            return [_user(row) for row in connection.execute(query)]

    # --- tokens ------------------------------------------------------------------------------

    def add_token(self, token: StoredToken) -> None:
        whitelist = None if token.cidr_whitelist is None else json.dumps(token.cidr_whitelist)
        with write_transaction(self._engine) as connection:
            connection.execute(
                registry_tokens.insert().values(
                    key=token.key,
                    token_hash=token.token_hash,
                    user_id=token.user_id,
                    preview=token.preview,
                    name=token.name,
                    readonly=token.readonly,
                    cidr_whitelist=whitelist,
                    created_ms=token.created_ms,
                    expires_ms=token.expires_ms,
                )
            )

    def token_by_hash(self, token_hash: str) -> tuple[StoredToken, StoredUser] | None:
        users = registry_users
        query = (
            sa.select(
                registry_tokens,
                users.c.name.label("user_name"),
                users.c.email.label("user_email"),
                users.c.password_hash.label("user_password_hash"),
                users.c.created_ms.label("user_created_ms"),
            )
            .join(users, users.c.id == registry_tokens.c.user_id)
            .where(registry_tokens.c.token_hash == token_hash)
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        user = StoredUser(
            id=int(row.user_id),
            name=str(row.user_name),
            email=str(row.user_email),
            password_hash=str(row.user_password_hash),
            created_ms=int(row.user_created_ms),
        )
        return _token(row), user

    def tokens_of(self, user_id: int) -> list[StoredToken]:
        query = (
            sa.select(registry_tokens)
            .where(registry_tokens.c.user_id == user_id)
            .order_by(registry_tokens.c.created_ms, registry_tokens.c.key)
        )
        with self._engine.connect() as connection:
            return [_token(row) for row in connection.execute(query)]

    def delete_token(
        self, *, key: str | None = None, token_hash: str | None = None, user_id: int | None = None
    ) -> bool:
        """Delete one token by its key or its hash (limited to `user_id` if given)."""
        query = registry_tokens.delete()
        if key is not None:
            query = query.where(registry_tokens.c.key == key)
        elif token_hash is not None:
            query = query.where(registry_tokens.c.token_hash == token_hash)
        else:
            raise ValueError("delete_token needs a key or a token hash")
        if user_id is not None:
            query = query.where(registry_tokens.c.user_id == user_id)
        with write_transaction(self._engine) as connection:
            return connection.execute(query).rowcount > 0

    # --- packages: reads ---------------------------------------------------------------------

    def scope_owner(self, scope: str) -> int | None:
        query = sa.select(registry_scopes.c.owner_id).where(registry_scopes.c.scope == scope)
        with self._engine.connect() as connection:
            value = connection.execute(query).scalar_one_or_none()
        return None if value is None else int(value)

    def scope_members(self, scope: str) -> frozenset[int]:
        """Ids of the users an administrator assigned `scope` to (empty: nobody was)."""
        query = sa.select(registry_scope_members.c.user_id).where(
            registry_scope_members.c.scope == scope
        )
        with self._engine.connect() as connection:
            return frozenset(int(v) for v in connection.execute(query).scalars())

    def grant_scope(self, scope: str, user_id: int) -> bool:
        """Assign `scope` to the user; False if it already was."""
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(
                    registry_scope_members.insert().values(
                        scope=scope, user_id=user_id, created_ms=now_ms()
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def revoke_scope(self, scope: str, user_id: int) -> bool:
        """Take `scope` from the user; False if it was not theirs by assignment."""
        query = registry_scope_members.delete().where(
            registry_scope_members.c.scope == scope, registry_scope_members.c.user_id == user_id
        )
        with write_transaction(self._engine) as connection:
            return connection.execute(query).rowcount > 0

    def scope_owners(self) -> list[tuple[str, str, str]]:
        """Every (scope, user name, how) with ``how`` "granted" (an administrator) or
        "claimed" (the first publisher, under the ``open`` policy), by scope and name."""
        users = registry_users
        granted = sa.select(
            registry_scope_members.c.scope, users.c.name, sa.literal("granted")
        ).join(users, users.c.id == registry_scope_members.c.user_id)
        claimed = sa.select(registry_scopes.c.scope, users.c.name, sa.literal("claimed")).join(
            users, users.c.id == registry_scopes.c.owner_id
        )
        with self._engine.connect() as connection:
            rows = [
                (str(r[0]), str(r[1]), str(r[2]))
                for query in (granted, claimed)
                for r in connection.execute(query)
            ]
        return sorted(rows)


def _user(row: Any) -> StoredUser:
    return StoredUser(
        id=int(row.id),
        name=str(row.name),
        email=str(row.email),
        password_hash=str(row.password_hash),
        created_ms=int(row.created_ms),
    )


def _token(row: Any) -> StoredToken:
    whitelist = None if row.cidr_whitelist is None else tuple(json.loads(row.cidr_whitelist))
    return StoredToken(
        key=str(row.key),
        token_hash=str(row.token_hash),
        user_id=int(row.user_id),
        preview=str(row.preview),
        name=row.name,
        readonly=bool(row.readonly),
        cidr_whitelist=whitelist,
        created_ms=int(row.created_ms),
        expires_ms=None if row.expires_ms is None else int(row.expires_ms),
    )
