"""A package's publish rules (issue §5) and the one check the publish path makes against them.

Rules, per package, set by its maintainers (``POST /-/package/<pkg>/policy``,
``assay package policy``), every change written to the audit trail in the same transaction:

* ``requireTrustedPublishing``: a publish with a user's token is refused (403, naming the rule);
  only a token minted by the OIDC exchange for one of the package's trusted publishers publishes.
* ``requireProvenance``: a publish without a provenance bundle is refused (422).
* no provenance downgrade (on unless ``allowProvenanceDowngrade``): once any live version has
  provenance, a later publish without it is refused (422). npmjs.org has no such rule; it is
  the registry-side twin of ``assay audit signatures``' downgrade check (docs/policy.md).

And, before any of those, the reservation of a pending trusted publisher (§4,
registry/trust_settings.py): a *token* publish that would create a name reserved by another
user's live pending publisher is refused (403).

:func:`enforce_publish_policy` is the whole enforcement; the publish path
(:mod:`assay.registry.service`) calls it once, after the ownership checks and before anything
is written, and :func:`after_publish` once the version committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.npm.names import PackageName
from assay.registry.accounts import Caller, Principal, require
from assay.registry.errors import BadRequest, Forbidden, NotFound, Unprocessable
from assay.registry.packuments import iso
from assay.storage.account_store import now_ms
from assay.storage.registry_store import PackageState, RegistryStore
from assay.storage.trust_store import StoredPolicy, TrustStore, audit_event

# The wire names of the rules (JSON keys of the policy route) → StoredPolicy fields.
RULES: dict[str, str] = {
    "requireTrustedPublishing": "require_trusted_publishing",
    "requireProvenance": "require_provenance",
    "allowProvenanceDowngrade": "allow_provenance_downgrade",
}
# How errors and the CLI name them.
RULE_NAMES: dict[str, str] = {
    "require_trusted_publishing": "require-trusted-publishing",
    "require_provenance": "require-provenance",
    "allow_provenance_downgrade": "allow-provenance-downgrade",
}


def actor(principal: Principal) -> str:
    """The audit trail's name for a user (docs/trusted-publishing.md, "Audit trail")."""
    return f"user:{principal.user.name}"


def is_maintainer(state: PackageState, principal: Principal) -> bool:
    return principal.user.id in {m.id for m in state.maintainers}


def maintained_package(
    store: RegistryStore, name: PackageName, who: Caller | None, action: str, *, write: bool
) -> tuple[Principal, PackageState]:
    """The package `name` and the user asking, if they maintain it: 401 for nobody, 403 for an
    exchanged token (require()), a read-only token that writes, or a non-maintainer; 404 if
    the package does not exist."""
    principal = require(who, action, write=write)
    state = store.load_package(name.name)
    if state is None:
        raise NotFound("Not found")
    if not is_maintainer(state, principal):
        raise Forbidden(
            f"You do not have permission to {action} of {name.name!r}: only its maintainers may"
        )
    return principal, state


def has_live_provenance(state: PackageState) -> bool:
    """Whether some live version was published with (verified) provenance."""
    return any(row.attestations is not None for row in state.live_versions.values())


# --- enforcement at publish ----------------------------------------------------------------------


def enforce_publish_policy(
    trust: TrustStore,
    name: str,
    state: PackageState | None,
    *,
    trusted: bool,
    user_id: int | None,
    provenance: bool,
    now: int | None = None,
) -> None:
    """Refuse a publish of `name` that the package's rules forbid; nothing is written.

    ``state``: the package as read before the publish (None: it does not exist yet).
    ``trusted``: the publish comes through a trusted publisher (a token the OIDC exchange
    minted); otherwise ``user_id`` is the user whose token publishes. ``provenance``: the
    publish carries a provenance bundle (verified afterwards; a bad one is refused there).
    """
    moment = now_ms() if now is None else now
    if state is None:
        if not trusted:
            check_reservation(trust, name, user_id, moment)
        return
    policy = trust.policy(name)
    if policy.require_trusted_publishing and not trusted:
        raise Forbidden(
            f"{name} requires trusted publishing (package policy require-trusted-publishing): "
            "publish from the CI workflow configured with `npm trust`, not with a token"
        )
    if provenance:
        return
    if policy.require_provenance:
        raise Unprocessable(
            f"{name} requires provenance (package policy require-provenance): "
            "publish with `npm publish --provenance` from CI"
        )
    if not policy.allow_provenance_downgrade and has_live_provenance(state):
        raise Unprocessable(
            f"{name} has versions published with provenance; a version without it would be a "
            "provenance downgrade (package policy: no provenance downgrade). Publish with "
            "--provenance, or a maintainer lifts the rule with "
            "`assay package policy --allow-provenance-downgrade`"
        )


def check_reservation(trust: TrustStore, name: str, user_id: int | None, now: int) -> None:
    """403 if `name` is reserved by a live pending trusted publisher of another user."""
    others = [
        p
        for p in trust.live_pending_publishers(name, now)
        if user_id is None or p.created_by != user_id
    ]
    if others:
        until = max(p.pending_until_ms or 0 for p in others)
        raise Forbidden(
            f"The package name {name} is reserved until {iso(until)} for a pending trusted "
            "publisher registered by another user; only that publisher (or its creator) "
            "can publish it first"
        )


def after_publish(trust: TrustStore, name: str, *, created: bool, creator: int | None) -> None:
    """Once a publish committed: if it created the package (for `creator`: the token's user,
    or a pending publisher's registrant), the creator's live pending publishers become
    ordinary ones and every other pending row of the name (lapsed, or of somebody else) is
    deleted, so a lapsed reservation never grants anything."""
    if created:
        trust.settle_pending_of(name, creator, now_ms())


# --- the policy route and CLI --------------------------------------------------------------


def policy_json(policy: StoredPolicy, updated_by: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"package": policy.package}
    for key, field in RULES.items():
        result[key] = bool(getattr(policy, field))
    result["updated"] = iso(policy.updated_ms) if policy.updated_ms else None
    result["updatedBy"] = updated_by
    return result


def parse_change(body: object) -> dict[str, bool]:
    """The rules a ``POST /-/package/<pkg>/policy`` body sets: a JSON object with some of
    :data:`RULES`, each a boolean; anything else is refused."""
    if not isinstance(body, Mapping):
        raise BadRequest("The body must be a JSON object of policy rules")
    unknown = sorted(set(body) - set(RULES))
    if unknown:
        raise BadRequest(f"Unknown policy rule(s): {', '.join(unknown)}; known: {', '.join(RULES)}")
    if not body:
        raise BadRequest(f"Nothing to change: name at least one of {', '.join(RULES)}")
    change: dict[str, bool] = {}
    for key, value in body.items():
        if not isinstance(value, bool):
            raise BadRequest(f"{key} must be true or false")
        change[RULES[key]] = value
    return change


class PackagePolicies:
    """Reading and setting a package's rules (maintainers only set them)."""

    def __init__(self, store: RegistryStore, trust: TrustStore) -> None:
        self.store = store
        self.trust = trust

    def _updated_by(self, policy: StoredPolicy) -> str | None:
        if policy.updated_by is None:
            return None
        user = self.store.user_by_id(policy.updated_by)
        return None if user is None else user.name

    def get(self, name: PackageName) -> dict[str, Any]:
        """``GET /-/package/<pkg>/policy``: public, like the package page that shows it."""
        if self.store.load_package(name.name) is None:
            raise NotFound("Not found")
        policy = self.trust.policy(name.name)
        return policy_json(policy, self._updated_by(policy))

    def set(self, name: PackageName, body: object, who: Caller | None) -> dict[str, Any]:
        """``POST /-/package/<pkg>/policy``: change some rules; audited as ``policy.set``."""
        principal, _state = maintained_package(
            self.store, name, who, "change the publish policy", write=True
        )
        change = parse_change(body)
        before = self.trust.policy(name.name)
        after = StoredPolicy(
            package=name.name,
            updated_by=principal.user.id,
            updated_ms=now_ms(),
            **{f: change.get(f, bool(getattr(before, f))) for f in RULE_NAMES},
        )
        changed = {
            RULE_NAMES[field]: value
            for field, value in change.items()
            if getattr(before, field) != value
        }
        event = audit_event(
            name.name,
            actor(principal),
            "policy.set",
            changed=changed,
            policy={RULE_NAMES[f]: bool(getattr(after, f)) for f in RULE_NAMES},
        )
        self.trust.set_policy(after, [event])
        return policy_json(after, principal.user.name)


__all__ = [
    "RULES",
    "RULE_NAMES",
    "PackagePolicies",
    "actor",
    "after_publish",
    "check_reservation",
    "enforce_publish_policy",
    "has_live_provenance",
    "is_maintainer",
    "maintained_package",
    "parse_change",
    "policy_json",
]
