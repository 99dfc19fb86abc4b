"""Trusted-publisher settings: the npm trust API (``npm trust github|gitlab|circleci|list|revoke``,
npm 11 ``lib/trust-cmd.js``, ``lib/commands/trust/*.js``) and pending publishers (issue §3, §4).

Wire (docs/trusted-publishing.md, "Trusted-publisher settings")::

    GET    /-/package/<pkg>/trust          → 200 [config, …]
    POST   /-/package/<pkg>/trust          [config, …] → 201 [config with id, …]
    DELETE /-/package/<pkg>/trust/<id>     → 204

A config as npm sends it: ``{"type": "github"|"gitlab"|"circleci", "claims": {…},
"permissions": ["createPackage"?, "createStagedPackage"?]}`` (``createConfig`` POSTs a JSON
*array* of them; ``displayResponseBody`` reads an array or an object, so answers are arrays).
Every field is checked strictly here (:func:`parse_config`), unknown keys refused; what is stored
is the normalized config, and the exchange (registry/trusted_publishing.py) matches OIDC tokens
against exactly these claims:

* github: ``repository`` ("owner/repo"), ``workflow_ref: {"file": "<bare name>.yml|.yaml"}``,
  optional ``environment``;
* gitlab: ``project_path`` ("group[/subgroup…]/project"), ``ci_config_ref_uri: {"file": …}``,
  optional ``environment``;
* circleci: ``oidc.circleci.com/org-id``, ``…/project-id``, ``…/pipeline-definition-id`` (UUIDs),
  ``…/vcs-origin`` ("host/owner/repo"), optional ``…/context-ids`` (UUIDs).

Assay extensions (npm's body has no field for them; registry/publisher_claims.py reads them):
``issuer``, the exact OIDC issuer URL a token must come from (a GitHub Enterprise Server's
``https://ghes.example.com/_services/token``, a self-managed GitLab's
``https://gitlab.example.com``; absent: github.com's Actions issuer, https://gitlab.com,
CircleCI's issuer of the organisation; the default itself is stored as absent), and, for
GitHub, ``job_workflow_ref`` (``owner/repo/.github/workflows/<file>[@<ref>]``, the reusable
workflow that must run the job). ``npm trust gitlab`` always configures gitlab.com.

Who may do what: the package's maintainers list and change its publishers (401 without
credentials, 403 for anyone else and for an exchanged token). For a name that does not exist
yet, a logged-in user who could create it (registry/scopes.py, as a first publish) registers a
*pending* publisher, which reserves the name to them for ``trusted_publisher_pending_days``
(registry/package_policy.py refuses anyone else's token publish of it, and a second pending
registration by someone else is refused); they alone see and revoke it. An administrator
(the holder of the data directory, ``assay package reserve``) may register one for any user.
Every change is appended to the audit trail in the same transaction.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from assay.npm.names import PackageName
from assay.registry.accounts import PERMISSIONS, Caller, Principal, require
from assay.registry.errors import BadRequest, Conflict, Forbidden, NotFound
from assay.registry.package_policy import actor, is_maintainer
from assay.registry.packuments import iso
from assay.registry.scopes import check_new_package
from assay.settings import Settings
from assay.storage.account_store import StoreConflict, StoredUser, now_ms
from assay.storage.registry_store import PackageState, RegistryStore
from assay.storage.trust_store import AuditEvent, StoredPublisher, TrustStore, audit_event

PROVIDERS = ("github", "gitlab", "circleci")
MAX_BODY_BYTES = 64 * 1024
"""The largest body ``POST /-/package/<pkg>/trust`` reads (a config is a few hundred bytes)."""
MAX_CONFIGS_PER_REQUEST = 10
MAX_PUBLISHERS_PER_PACKAGE = 20
DAY_MS = 86_400_000

# GitHub: an owner is 1-39 letters, digits or single hyphens; a repository 1-100 of [A-Za-z0-9._-].
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
_GITHUB_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
# A workflow / pipeline file: a bare file name ending in .yml or .yaml (npm's own checks).
_CI_FILE = re.compile(r"[A-Za-z0-9_.-]{1,250}\.ya?ml")
# GitLab path segments: letters, digits, '_', '-', '.'; not starting with '-' or '.', not ending
# in '.git' or '.atom'; up to 20 levels of groups.
_GITLAB_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_VCS_SEGMENT = re.compile(r"[A-Za-z0-9_.~-]{1,255}")
_CIRCLECI = "oidc.circleci.com/"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
# The issuers a publisher trusts when it names none (registry/publisher_claims.py).
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_COM = "https://gitlab.com"
CIRCLECI_ISSUER_PREFIX = "https://oidc.circleci.com/org/"


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    """One trusted-publisher config as checked and normalized; exists only if valid."""

    provider: str
    claims: Mapping[str, Any]
    permissions: tuple[str, ...]

    def key(self) -> str:
        """Two configs with the same key describe the same publisher (GitHub repositories and
        GitLab project paths compare case-insensitively, as the forges treat them)."""
        claims = dict(self.claims)
        for field in ("repository", "project_path"):
            if isinstance(claims.get(field), str):
                claims[field] = claims[field].lower()
        return json.dumps([self.provider, claims], sort_keys=True)


class _Fields:
    """Reads an object's fields with errors that say where (``config 1: claims.repository``)."""

    def __init__(self, where: str, value: object, required: set[str], optional: set[str]) -> None:
        if not isinstance(value, Mapping):
            raise BadRequest(f"{where} must be a JSON object")
        unknown = sorted(set(value) - required - optional)
        if unknown:
            raise BadRequest(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        missing = sorted(required - set(value))
        if missing:
            raise BadRequest(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
        self.where = where
        self.value = value

    def string(self, key: str) -> str:
        raw = self.value[key]
        if not isinstance(raw, str) or not raw or len(raw) > 512:
            raise BadRequest(f"{self.where}.{key} must be a non-empty string (at most 512)")
        return raw

    def has(self, key: str) -> bool:
        return key in self.value


def _github_repository(where: str, value: str) -> str:
    owner, sep, repo = value.partition("/")
    if (
        not sep
        or not _GITHUB_OWNER.fullmatch(owner)
        or "--" in owner
        or not _GITHUB_REPO.fullmatch(repo)
        or repo in {".", ".."}
    ):
        raise BadRequest(f"{where} must be a GitHub repository as owner/repo, not {value!r}")
    return value


def _ci_file(where: str, value: object) -> str:
    fields = _Fields(where, value, {"file"}, set())
    file = fields.string("file")
    if "/" in file or "\\" in file:
        raise BadRequest(f"{where}.file must be just a file name, not a path: {file!r}")
    if not _CI_FILE.fullmatch(file) or file.startswith(".."):
        raise BadRequest(f"{where}.file must be a file name ending in .yml or .yaml: {file!r}")
    return file


def _environment(fields: _Fields) -> str | None:
    if not fields.has("environment"):
        return None
    value = fields.string("environment")
    if len(value) > 255 or not value.isprintable() or value != value.strip():
        raise BadRequest(
            f"{fields.where}.environment must be at most 255 printable characters, "
            "without leading or trailing spaces"
        )
    return value


def _gitlab_project(where: str, value: str) -> str:
    segments = value.split("/")
    if not 2 <= len(segments) <= 21 or not all(
        _GITLAB_SEGMENT.fullmatch(s) and not s.endswith((".git", ".atom")) for s in segments
    ):
        raise BadRequest(
            f"{where} must be a GitLab project path as group/project or "
            f"group/subgroup/project, not {value!r}"
        )
    return value


def issuer_url(value: str, where: str = "claims.issuer") -> str:
    """An OIDC issuer URL, normalized (no trailing slash): https, a host, optionally a port and
    a path (GitLab's relative URL root, GHES's ``/_services/token``), nothing else; http only
    on loopback."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
        valid_port = True
    except ValueError:
        valid_port = False
    valid = (
        valid_port
        and (parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK))
        and (host in _LOOPBACK or _DNS_NAME.fullmatch(host) is not None)
        and parts.username is None
        and parts.password is None
        and not parts.query
        and not parts.fragment
        and "//" not in parts.path
    )
    if not valid:
        raise BadRequest(
            f"{where} must be an issuer URL, as https://gitlab.example.com "
            f"(http only on loopback), not {value!r}"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _uuid(where: str, value: object) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise BadRequest(f"{where} must be a UUID")
    return value.lower()


def _vcs_origin(where: str, value: str) -> str:
    if "://" in value:
        raise BadRequest(f"{where} must not include a scheme (github.com/owner/repo)")
    host, _, rest = value.partition("/")
    segments = rest.split("/") if rest else []
    if (
        not _DNS_NAME.fullmatch(host.lower())
        or len(segments) < 2
        or not all(_VCS_SEGMENT.fullmatch(s) and s not in {".", ".."} for s in segments)
    ):
        raise BadRequest(f"{where} must be provider/owner/repo (github.com/acme/widget)")
    return value


def _claims(provider: str, where: str, value: object) -> dict[str, Any]:
    if provider == "github":
        fields = _Fields(
            where,
            value,
            {"repository", "workflow_ref"},
            {"environment", "job_workflow_ref", "issuer"},
        )
        claims: dict[str, Any] = {
            "repository": _github_repository(f"{where}.repository", fields.string("repository")),
            "workflow_ref": {
                "file": _ci_file(f"{where}.workflow_ref", fields.value["workflow_ref"])
            },
        }
        if fields.has("job_workflow_ref"):
            claims["job_workflow_ref"] = _reusable_workflow(
                f"{where}.job_workflow_ref", fields.string("job_workflow_ref")
            )
    elif provider == "gitlab":
        fields = _Fields(
            where, value, {"project_path", "ci_config_ref_uri"}, {"environment", "issuer"}
        )
        claims = {
            "project_path": _gitlab_project(f"{where}.project_path", fields.string("project_path")),
            "ci_config_ref_uri": {
                "file": _ci_file(f"{where}.ci_config_ref_uri", fields.value["ci_config_ref_uri"])
            },
        }
    else:
        names = ("org-id", "project-id", "pipeline-definition-id", "vcs-origin")
        optional = {_CIRCLECI + "context-ids", "issuer"}
        fields = _Fields(where, value, {_CIRCLECI + n for n in names}, optional)
        claims = {
            _CIRCLECI + n: _uuid(f"{where}.{_CIRCLECI}{n}", fields.value[_CIRCLECI + n])
            for n in names[:3]
        }
        origin = fields.string(_CIRCLECI + "vcs-origin")
        claims[_CIRCLECI + "vcs-origin"] = _vcs_origin(f"{where}.{_CIRCLECI}vcs-origin", origin)
        if fields.has(_CIRCLECI + "context-ids"):
            contexts = fields.value[_CIRCLECI + "context-ids"]
            label = f"{where}.{_CIRCLECI}context-ids"
            if not isinstance(contexts, list) or not 1 <= len(contexts) <= 20:
                raise BadRequest(f"{label} must be a list of 1 to 20 UUIDs")
            ids = [_uuid(label, c) for c in contexts]
            if len(set(ids)) != len(ids):
                raise BadRequest(f"{label} lists a context twice")
            claims[_CIRCLECI + "context-ids"] = ids
    if provider != "circleci":
        environment = _environment(fields)
        if environment is not None:
            claims["environment"] = environment
    if fields.has("issuer"):
        issuer = issuer_url(fields.string("issuer"), f"{where}.issuer")
        if issuer != default_issuer(provider, claims):
            claims["issuer"] = issuer
    return claims


def default_issuer(provider: str, claims: Mapping[str, Any]) -> str:
    """The issuer a publisher without ``issuer`` trusts (registry/publisher_claims.py)."""
    if provider == "github":
        return GITHUB_ISSUER
    if provider == "gitlab":
        return GITLAB_COM
    return CIRCLECI_ISSUER_PREFIX + str(claims.get(_CIRCLECI + "org-id", ""))


def _reusable_workflow(where: str, value: str) -> str:
    """``owner/repo/.github/workflows/<file>.yml[@<ref>]``, as GitHub writes job_workflow_ref."""
    path, at, ref = value.partition("@")
    owner, _, rest = path.partition("/")
    repo, _, workflow = rest.partition("/")
    file = workflow.removeprefix(".github/workflows/")
    valid = (
        workflow.startswith(".github/workflows/")
        and _CI_FILE.fullmatch(file) is not None
        and (not at or (0 < len(ref) <= 255 and ref.isprintable() and " " not in ref))
    )
    if not valid:
        raise BadRequest(
            f"{where} must be a reusable workflow as owner/repo/.github/workflows/<file>.yml"
            f"[@<ref>], not {value!r}"
        )
    _github_repository(where, f"{owner}/{repo}")
    return value


def parse_config(value: object, where: str = "config") -> PublisherConfig:
    """One config of a ``POST /-/package/<pkg>/trust`` body, checked and normalized (400)."""
    fields = _Fields(where, value, {"type", "claims", "permissions"}, set())
    provider = fields.value["type"]
    if provider not in PROVIDERS:
        raise BadRequest(f"{where}.type must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    claims = _claims(str(provider), f"{where}.claims", fields.value["claims"])
    permissions = fields.value["permissions"]
    if not isinstance(permissions, list) or not permissions:
        raise BadRequest(
            f"{where}.permissions must be a non-empty list of {', '.join(PERMISSIONS)}"
        )
    for permission in permissions:
        if permission not in PERMISSIONS:
            raise BadRequest(
                f"{where}.permissions: unknown permission {permission!r}; "
                f"known: {', '.join(PERMISSIONS)}"
            )
    if len(set(permissions)) != len(permissions):
        raise BadRequest(f"{where}.permissions lists a permission twice")
    ordered = tuple(p for p in PERMISSIONS if p in permissions)
    return PublisherConfig(str(provider), claims, ordered)


def parse_configs(body: object) -> list[PublisherConfig]:
    """The body npm's ``createConfig`` sends: a JSON array of configs (one object is taken as
    an array of one). No two may describe the same publisher."""
    items = [body] if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not items:
        raise BadRequest("The body must be a non-empty JSON array of trust configurations")
    if len(items) > MAX_CONFIGS_PER_REQUEST:
        raise BadRequest(f"At most {MAX_CONFIGS_PER_REQUEST} trust configurations per request")
    configs = [
        parse_config(item, f"trust configuration {index}" if len(items) > 1 else "trust")
        for index, item in enumerate(items, 1)
    ]
    if len({c.key() for c in configs}) != len(configs):
        raise BadRequest("The body lists the same trust configuration twice")
    return configs


def publisher_json(publisher: StoredPublisher, created_by: str | None = None) -> dict[str, Any]:
    """A publisher as the trust API answers it: npm reads ``id``, ``type``, ``claims`` and
    ``permissions`` (``bodyToOptions``); the rest is Assay's, for maintainers."""
    result: dict[str, Any] = {
        "id": publisher.id,
        "type": publisher.provider,
        "claims": dict(publisher.claims),
        "permissions": list(publisher.permissions),
        "created": iso(publisher.created_ms),
        "createdBy": created_by,
        "pending": publisher.pending,
    }
    if publisher.pending_until_ms is not None:
        result["pendingUntil"] = iso(publisher.pending_until_ms)
    if publisher.pins:
        result["pinned"] = dict(publisher.pins)
    return result


def live_pending_publishers(
    trust: TrustStore, package: str, now: int | None = None
) -> list[StoredPublisher]:
    """The pending publishers of a name that does not exist yet whose reservation has not
    lapsed: the ones the OIDC exchange may match for the name's first publish."""
    return trust.live_pending_publishers(package, now_ms() if now is None else now)


def current_publishers(
    trust: TrustStore, package: str, now: int | None = None
) -> list[StoredPublisher]:
    """The publishers that count for `package` now: settled ones and live pending ones (a
    lapsed reservation is ignored)."""
    moment = now_ms() if now is None else now
    return [
        p
        for p in trust.publishers(package)
        if p.pending_until_ms is None or p.pending_until_ms > moment
    ]


class TrustSettings:
    """The trust API over the registry's store and the trust store."""

    def __init__(self, store: RegistryStore, trust: TrustStore, settings: Settings) -> None:
        self.store = store
        self.trust = trust
        self.settings = settings

    def _names(self, publishers: Sequence[StoredPublisher]) -> dict[int, str]:
        names: dict[int, str] = {}
        for user_id in {p.created_by for p in publishers if p.created_by is not None}:
            user = self.store.user_by_id(user_id)
            if user is not None:
                names[user_id] = user.name
        return names

    def _json(self, publishers: Sequence[StoredPublisher]) -> list[dict[str, Any]]:
        names = self._names(publishers)
        return [
            publisher_json(p, None if p.created_by is None else names.get(p.created_by))
            for p in publishers
        ]

    def _manager(
        self, name: PackageName, who: Caller | None, action: str, *, write: bool
    ) -> tuple[Principal, PackageState | None, list[StoredPublisher]]:
        """Who asks, the package (None: not created yet) and the publishers they manage: all of
        an existing package's (maintainers only), or their own live pending ones of a name
        that does not exist (404 when they have none)."""
        principal = require(who, action, write=write)
        state = self.store.load_package(name.name)
        if state is not None:
            if not is_maintainer(state, principal):
                raise Forbidden(
                    f"You do not have permission to {action} of {name.name!r}: "
                    "only its maintainers may"
                )
            return principal, state, current_publishers(self.trust, name.name)
        own = [
            p
            for p in live_pending_publishers(self.trust, name.name)
            if p.created_by == principal.user.id
        ]
        return principal, None, own

    def list_publishers(self, name: PackageName, who: Caller | None) -> list[dict[str, Any]]:
        """``GET /-/package/<pkg>/trust`` (npm trust list)."""
        _principal, state, publishers = self._manager(
            name, who, "list the trusted publishers", write=False
        )
        if state is None and not publishers:
            raise NotFound("Not found")
        return self._json(publishers)

    def add_publishers(
        self, name: PackageName, body: object, who: Caller | None
    ) -> list[dict[str, Any]]:
        """``POST /-/package/<pkg>/trust`` (npm trust github|gitlab|circleci)."""
        principal, state, existing = self._manager(
            name, who, "change the trusted publishers", write=True
        )
        configs = parse_configs(body)
        if state is None:
            # A first publish's rule decides who may reserve the name (403 otherwise).
            scope = name.scope
            members = self.store.scope_members(scope) if scope else frozenset()
            owner = self.store.scope_owner(scope) if scope else None
            check_new_package(
                name, principal.user, self.settings.registry_scope_policy, owner, members
            )
        return self._add(
            name, configs, existing, principal.user, who=actor(principal), pending=state is None
        )

    def reserve(
        self, name: PackageName, configs: Sequence[PublisherConfig], for_user: StoredUser
    ) -> list[dict[str, Any]]:
        """An administrator registers pending publishers of a name that does not exist yet for
        `for_user` (``assay package reserve``), whatever the scope rules say."""
        if self.store.load_package(name.name) is not None:
            raise Conflict(f"{name.name} exists: its maintainers configure its publishers")
        existing = [
            p for p in live_pending_publishers(self.trust, name.name) if p.created_by == for_user.id
        ]
        return self._add(name, configs, existing, for_user, who="admin", pending=True)

    def _add(
        self,
        name: PackageName,
        configs: Sequence[PublisherConfig],
        existing: Sequence[StoredPublisher],
        creator: StoredUser,
        *,
        who: str,
        pending: bool,
    ) -> list[dict[str, Any]]:
        taken = {PublisherConfig(p.provider, p.claims, p.permissions).key() for p in existing}
        for config in configs:
            if config.key() in taken:
                raise Conflict(
                    f"A {config.provider} trusted publisher with these claims is already "
                    f"configured for {name.name}; revoke it first to change its permissions"
                )
        if len(existing) + len(configs) > MAX_PUBLISHERS_PER_PACKAGE:
            raise BadRequest(
                f"A package has at most {MAX_PUBLISHERS_PER_PACKAGE} trusted publishers"
            )
        now = now_ms()
        until = now + self.settings.trusted_publisher_pending_days * DAY_MS if pending else None
        publishers = [
            StoredPublisher(
                id=str(uuid.uuid4()),
                package=name.name,
                provider=config.provider,
                claims=config.claims,
                permissions=config.permissions,
                pins=None,
                created_by=creator.id,
                created_ms=now,
                pending_until_ms=until,
            )
            for config in configs
        ]
        events: list[AuditEvent] = [
            audit_event(
                name.name,
                who,
                "trust.add",
                publisher=_audit_publisher(p),
                **({"for": f"user:{creator.name}"} if who == "admin" else {}),
            )
            for p in publishers
        ]
        if not pending:
            self.trust.add_publishers(publishers, events)
        else:
            try:
                self.trust.add_pending_publishers(publishers, events, now=now)
            except StoreConflict as exc:
                raise Forbidden(
                    f"The package name {name.name} is reserved by another user's pending "
                    "trusted publisher (or was just created); it cannot be reserved again"
                ) from exc
        return [publisher_json(p, creator.name) for p in publishers]

    def revoke_publisher(self, name: PackageName, publisher_id: str, who: Caller | None) -> None:
        """``DELETE /-/package/<pkg>/trust/<id>`` (npm trust revoke): its exchanged tokens go
        with it."""
        principal, state, publishers = self._manager(
            name, who, "change the trusted publishers", write=True
        )
        # Maintainers may delete any row of their package; a reservation's creator only their
        # own live pending ones.
        rows = self.trust.publishers(name.name) if state is not None else publishers
        target = next((p for p in rows if p.id == publisher_id), None)
        if target is None:
            raise NotFound(f"No trusted publisher {publisher_id} for {name.name}")
        event = audit_event(
            name.name, actor(principal), "trust.revoke", publisher=_audit_publisher(target)
        )
        if not self.trust.delete_publisher(name.name, publisher_id, [event]):
            raise NotFound(f"No trusted publisher {publisher_id} for {name.name}")

    def audit_log(self, name: PackageName, who: Caller | None, limit: int) -> dict[str, Any]:
        """``GET /-/package/<pkg>/audit``: the package's audit trail, newest first, for its
        maintainers (or, for a reserved name, the reservation's creator)."""
        _principal, state, publishers = self._manager(
            name, who, "read the audit trail", write=False
        )
        if state is None and not publishers:
            raise NotFound("Not found")
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000")
        events = self.trust.audit_events(name.name, limit)
        return {
            "package": name.name,
            "events": [
                {
                    "id": e.id,
                    "time": iso(e.at_ms),
                    "actor": e.actor,
                    "action": e.action,
                    "detail": dict(e.detail),
                }
                for e in events
            ],
        }


def _audit_publisher(publisher: StoredPublisher) -> dict[str, Any]:
    return {
        "id": publisher.id,
        "type": publisher.provider,
        "claims": dict(publisher.claims),
        "permissions": list(publisher.permissions),
        **(
            {"pendingUntil": iso(publisher.pending_until_ms)}
            if publisher.pending_until_ms is not None
            else {}
        ),
    }


__all__ = [
    "MAX_BODY_BYTES",
    "PROVIDERS",
    "PublisherConfig",
    "TrustSettings",
    "current_publishers",
    "default_issuer",
    "issuer_url",
    "live_pending_publishers",
    "parse_config",
    "parse_configs",
    "publisher_json",
]
