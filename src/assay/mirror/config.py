"""Uplinks and package rules: which names come from which upstream registry (docs/mirror.md).

The file is TOML in the shape of Verdaccio's ``uplinks`` and ``packages`` sections, so that a
Verdaccio configuration translates line by line::

    [uplinks.npmjs]
    url = "https://registry.npmjs.org/"
    timeout = 30          # seconds per request (Verdaccio: timeout)
    ttl = 120             # seconds a packument is served without asking again (Verdaccio: maxage)
    verify-manifests = "on-fetch"   # or "before-serve" (docs/mirror.md)

    [packages."@acme/*"]
    proxy = []            # local only: never asked upstream

    [packages."**"]
    proxy = "npmjs"

Rules are tried in file order and the first whose pattern matches decides (Verdaccio's rule).
Patterns are globs over the package name where ``*`` stays inside one path segment and ``**``
matches anything: ``@acme/*`` is every package of the scope, ``*`` every unscoped name, ``@*/*``
every scoped one. A name no rule matches is local only.

``ASSAY_UPLINK_URL`` alone is the file ``[uplinks.upstream] url = …`` with one rule ``"**"``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError
from assay.verify.package import is_npmjs

__all__ = ["DEFAULT_TTL", "MirrorConfig", "PackageRule", "Uplink"]

DEFAULT_TTL = 120.0
"""Verdaccio's default ``maxage`` is 2 minutes."""
DEFAULT_STALE_WHILE_REVALIDATE = 600.0
_UPLINK_KEYS = frozenset(
    {"url", "token", "timeout", "connect-timeout", "ttl", "stale-while-revalidate",
     "trust", "trusted-root", "keys", "verify-manifests"}
)  # fmt: skip
_TOP_KEYS = frozenset({"uplinks", "packages", "policy"})


@dataclass(frozen=True, slots=True)
class Uplink:
    """One upstream registry."""

    name: str
    url: str
    """The registry URL, with a final slash (packuments are ``<url><escaped name>``)."""
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    connect_timeout: float = 5.0
    ttl: float = DEFAULT_TTL
    stale_while_revalidate: float = DEFAULT_STALE_WHILE_REVALIDATE
    """Past ``ttl`` and within this many more seconds, the cached packument is served at once
    and refreshed in the background (RFC 5861's stale-while-revalidate)."""
    trust: Literal["npmjs", "served"] = "served"
    """``npmjs``: npm's registry keys and the public-good trusted root (bundled, or ``assay
    trust update``'s copy); ``served``: the keys and trusted root the uplink serves itself
    (assay.verify.package's default-trust rule)."""
    trusted_root: Path | None = None
    keys: Path | None = None
    """Files that replace what ``trust`` names (pinned by the operator)."""
    verify_manifests: Literal["on-fetch", "before-serve"] = "on-fetch"
    """When a version's manifest is checked against its tarball's package.json
    (:mod:`assay.mirror.manifests`): ``on-fetch``, when the tarball is first downloaded (a
    mismatch refuses it before any byte is served); ``before-serve``, before the version is
    listed in the served packument at all (its tarball is fetched in the background)."""

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True, slots=True)
class PackageRule:
    """``[packages."<pattern>"] proxy = [...]``: which uplinks serve matching names."""

    pattern: str
    proxy: tuple[str, ...]

    def matches(self, name: str) -> bool:
        return glob_matches(self.pattern, name)


def glob_matches(pattern: str, name: str) -> bool:
    """Verdaccio's package globs: ``**`` matches anything, ``*`` one path segment."""
    if pattern == "**":
        return True
    parts, names = pattern.split("/"), name.split("/")
    return len(parts) == len(names) and all(
        fnmatch.fnmatchcase(part, glob) for part, glob in zip(names, parts, strict=True)
    )


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    uplinks: Mapping[str, Uplink]
    rules: tuple[PackageRule, ...]
    policy: Mapping[str, Any] | None = None
    """The ``[policy]`` table, read by :mod:`assay.mirror.policy`."""
    source: str = "uplinks"

    def uplinks_for(self, name: str) -> tuple[Uplink, ...]:
        """The uplinks that may serve ``name``, in order; empty: local only."""
        for rule in self.rules:
            if rule.matches(name):
                return tuple(self.uplinks[u] for u in rule.proxy)
        return ()

    @classmethod
    def single(cls, url: str, token: str | None = None) -> MirrorConfig:
        """``ASSAY_UPLINK_URL``: every name not local comes from ``url``."""
        entry: dict[str, Any] = {"url": url}
        if token is not None:
            entry["token"] = token
        uplink = _uplink("upstream", entry, Path.cwd())
        rules = (PackageRule("**", ("upstream",)),)
        return cls({"upstream": uplink}, rules, None, "ASSAY_UPLINK_URL")

    @classmethod
    def from_toml(cls, text: str, source: str, base: Path) -> MirrorConfig:
        try:
            value = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"uplinks {source} is not valid TOML: {exc}") from None
        unknown = sorted(set(value) - _TOP_KEYS)
        if unknown:
            raise ConfigError(f"uplinks {source}: unknown top-level keys {unknown}")
        uplinks_value = _table(value.get("uplinks", {}), "uplinks")
        uplinks = {
            name: _uplink(name, _table(entry, f"uplinks.{name}"), base)
            for name, entry in uplinks_value.items()
        }
        rules = []
        for pattern, entry in _table(value.get("packages", {}), "packages").items():
            where = f'packages."{pattern}"'
            table = _table(entry, where)
            # Verdaccio's access/publish keys are accepted and ignored: Assay's own accounts
            # decide who may publish.
            if set(table) - {"proxy", "access", "publish", "unpublish"}:
                raise ConfigError(f"uplinks {source}: {where} takes proxy = [...]")
            proxy = table.get("proxy", [])
            names = (proxy,) if isinstance(proxy, str) else proxy
            if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"uplinks {source}: {where}.proxy must be a list of uplinks")
            missing = [n for n in names if n not in uplinks]
            if missing:
                raise ConfigError(f"uplinks {source}: {where} names unknown uplinks {missing}")
            rules.append(PackageRule(pattern, tuple(names)))
        policy = value.get("policy")
        if policy is not None:
            policy = _table(policy, "policy")
        return cls(uplinks, tuple(rules), policy, source)

    @classmethod
    def from_file(cls, path: Path) -> MirrorConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read uplinks file {path}: {exc}") from None
        return cls.from_toml(text, str(path), path.parent)

    @classmethod
    def from_settings(
        cls, uplinks_file: Path | None, uplink_url: str | None, uplink_token: str | None = None
    ) -> MirrorConfig | None:
        """The configuration the settings name, or None: no mirror."""
        if uplinks_file is not None and uplink_url is not None:
            raise ConfigError(
                "set either ASSAY_UPLINKS_FILE (--uplinks) or ASSAY_UPLINK_URL, not both"
            )
        if uplinks_file is not None:
            return cls.from_file(uplinks_file)
        if uplink_url is not None:
            return cls.single(uplink_url, uplink_token)
        return None


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"uplinks: {where} must be a table", field=where)
    return value


def _seconds(entry: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"uplinks: {where}.{key} must be a number of seconds", field=key)
    return float(value)


def _uplink(name: str, entry: Mapping[str, Any], base: Path) -> Uplink:
    where = f"uplinks.{name}"
    unknown = sorted(set(entry) - _UPLINK_KEYS)
    if unknown:
        raise ConfigError(f"uplinks: {where} has unknown keys {unknown}", field=where)
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError(f"uplinks: {where}.url must be an http(s) URL", field=where)
    token = entry.get("token")
    if token is not None and not isinstance(token, str):
        raise ConfigError(f"uplinks: {where}.token must be a string", field=where)
    trust = entry.get("trust", "npmjs" if is_npmjs(url) else "served")
    if trust not in ("npmjs", "served"):
        raise ConfigError(f'uplinks: {where}.trust must be "npmjs" or "served"', field=where)

    verify_manifests = entry.get("verify-manifests", "on-fetch")
    if verify_manifests not in ("on-fetch", "before-serve"):
        raise ConfigError(
            f'uplinks: {where}.verify-manifests must be "on-fetch" or "before-serve"',
            field="verify-manifests",
        )

    def path(key: str) -> Path | None:
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"uplinks: {where}.{key} must be a file path", field=key)
        return base / value

    return Uplink(
        name=name,
        url=url if url.endswith("/") else url + "/",
        token=token,
        timeout=_seconds(entry, "timeout", 30.0, where),
        connect_timeout=_seconds(entry, "connect-timeout", 5.0, where),
        ttl=_seconds(entry, "ttl", DEFAULT_TTL, where),
        stale_while_revalidate=_seconds(
            entry, "stale-while-revalidate", DEFAULT_STALE_WHILE_REVALIDATE, where
        ),
        trust=trust,
        trusted_root=path("trusted-root"),
        keys=path("keys"),
        verify_manifests=verify_manifests,
    )
