"""Scopes: who may create a new package under ``@scope/…``.

npmjs.org's rule, and this registry's default (``registry_scope_policy = "user"``): ``@name/…``
belongs to the user ``name``, and an organisation's scope belongs to the members the
organisation has; here an administrator assigns those (``assay scope grant @acme alice``).
The rule, in order:

1. A scope an administrator assigned (to one or more users), or one claimed under the ``open``
   policy, belongs to those users alone.
2. Otherwise, under ``user``, ``@name`` belongs to the user ``name`` and to nobody else (a
   scope that names no user belongs to nobody until an administrator assigns it).
3. Otherwise, under ``open`` (the previous default, kept for existing instances), the first
   publisher into a scope claims it.

Only the creation of a package is decided here; an existing package is its maintainers'
whatever its scope.
"""

from __future__ import annotations

from typing import Literal

from assay.npm.names import PackageName, name_problem
from assay.registry.errors import BadRequest, Forbidden, NotFound
from assay.storage.account_store import StoredUser
from assay.storage.registry_store import RegistryStore

ScopePolicy = Literal["open", "user"]


def check_new_package(
    name: PackageName,
    user: StoredUser,
    policy: ScopePolicy,
    claimed_by: int | None,
    members: frozenset[int],
) -> tuple[str, int] | None:
    """Whether `user` may create `name`; the (scope, user id) to claim, if any. Raises 403."""
    scope = name.scope
    if scope is None:
        return None
    owners = members | ({claimed_by} if claimed_by is not None else set())
    if owners:
        if user.id in owners:
            return None
        raise Forbidden(
            f"The scope @{scope} belongs to another user; you cannot create {name.name}"
        )
    if policy == "user":
        if scope == user.name:
            return None
        raise Forbidden(
            f"You can only create packages in your own scope @{user.name}, not in @{scope} "
            "(an administrator assigns organisation scopes)"
        )
    return (scope, user.id)


def parse_scope(text: str) -> str:
    """``@acme`` (or ``acme``) as the scope ``acme``, if npm would accept ``@acme/x``."""
    scope = text.removeprefix("@")
    if not scope or "/" in scope or name_problem(f"@{scope}/x") is not None:
        raise BadRequest(f"Invalid scope {text!r}: use @name, as in @name/package")
    return scope


class ScopeAdmin:
    """The administrator's side: assign scopes to users and take them back."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    def _user(self, user_name: str) -> StoredUser:
        user = self.store.user_by_name(user_name)
        if user is None:
            raise NotFound(f"No such user: {user_name}")
        return user

    def grant(self, scope_text: str, user_name: str) -> bool:
        """Assign the scope to the user; False if it already was. A scope that is another
        user's own name is refused: ``@bob`` is bob's."""
        scope = parse_scope(scope_text)
        user = self._user(user_name)
        namesake = self.store.user_by_name(scope)
        if namesake is not None and namesake.id != user.id:
            raise Forbidden(f"@{scope} is the user {scope}'s own scope; it cannot be assigned")
        return self.store.grant_scope(scope, user.id)

    def revoke(self, scope_text: str, user_name: str) -> bool:
        return self.store.revoke_scope(parse_scope(scope_text), self._user(user_name).id)

    def owners(self) -> list[tuple[str, str, str]]:
        """(scope, user name, "granted" or "claimed"), sorted."""
        return self.store.scope_owners()


__all__ = ["ScopeAdmin", "ScopePolicy", "check_new_package", "parse_scope"]
