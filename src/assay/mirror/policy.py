"""The mirror's policy: which verified upstream versions it serves (docs/mirror.md, "Policy").

The ``[policy]`` table of the uplinks file speaks the language of ``assay audit signatures``
(:class:`assay.audit.policy.AuditPolicy`, docs/policy.md: ``[[require-provenance]]``,
``[packages."<pattern>"]`` repository/workflow/ref/events/runner/issuer, ``issuer``,
``[downgrade]``) plus three keys of the mirror's own::

    [policy]
    min-release-age = "3d"           # versions younger than this are quarantined (s, m, h, d;
                                     # a bare number is days, as npm's min-release-age)
    deny = ["event-stream@3.3.6", "evil-*"]
    allow = ["left-pad@1.3.0"]       # exempt from the policy (never from verification)

    [[policy.require-provenance]]
    packages = ["@acme-public/*"]

A version the policy refuses is left out of the served packument, like one that failed
verification, and its tarball answers 403 with the reason. The policy is applied when the
packument is built, not stored: changing it (and restarting) changes what is served, and a
quarantine ends by itself.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.audit.policy import AuditPolicy, source_repository
from assay.errors import ConfigError
from assay.npm.hosted import repository_key
from assay.storage.mirror_store import StoredVerdict
from assay.verify.result import VerificationResult
from assay.verify.trust import parse_time

__all__ = ["Decisions", "MirrorPolicy"]

_OWN_KEYS = frozenset({"min-release-age", "allow", "deny"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 86400}

Provenance = Callable[[str], VerificationResult | None]
"""The verified provenance of a version of the package being decided (None: it has none)."""


@dataclass(frozen=True, slots=True)
class Decisions:
    held: dict[str, str] = field(default_factory=dict)
    changes_in: float | None = None
    """Seconds until a decision changes by itself (the first quarantine to end)."""


def _duration(value: object) -> float:
    if isinstance(value, bool):
        raise ConfigError('policy: min-release-age must be a duration such as "3d" or "72h"')
    if isinstance(value, int | float):
        return float(value) * 86400
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError('policy: min-release-age must be a duration such as "3d" or "72h"')
    return float(match.group(1)) * _UNITS[match.group(2)]


def _entries(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"policy: {key} must be a list of package names or name@version")
    return tuple(value)


def _listed(entries: tuple[str, ...], name: str, version: str) -> str | None:
    for entry in entries:
        at = entry.rfind("@")
        pattern, wanted = (entry[:at], entry[at + 1 :]) if at > 0 else (entry, None)
        if fnmatch.fnmatchcase(name, pattern) and (wanted is None or wanted == version):
            return entry
    return None


@dataclass(frozen=True, slots=True)
class MirrorPolicy:
    audit: AuditPolicy | None = None
    min_release_age: float | None = None
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> MirrorPolicy:
        if table is None:
            return cls()
        rest = {k: v for k, v in table.items() if k not in _OWN_KEYS}
        age = table.get("min-release-age")
        return cls(
            audit=AuditPolicy.from_dict(rest, "uplinks [policy]") if rest else None,
            min_release_age=None if age is None else _duration(age),
            allow=_entries(table.get("allow"), "allow"),
            deny=_entries(table.get("deny"), "deny"),
        )

    @property
    def empty(self) -> bool:
        return self.audit is None and self.min_release_age is None and not self.deny

    def decide(
        self,
        name: str,
        document: Mapping[str, Any],
        verdicts: Mapping[str, StoredVerdict],
        held: Mapping[str, str],
        provenance: Provenance,
        *,
        now: float | None = None,
    ) -> Decisions:
        """The versions of ``name`` (verified, not already ``held``) the policy refuses."""
        if self.empty:
            return Decisions()
        moment = time.time() if now is None else now
        times = document.get("time")
        published = times if isinstance(times, dict) else {}
        decisions: dict[str, str] = {}
        changes_in: float | None = None
        candidates = [v for v in verdicts if v not in held and verdicts[v].verified]
        for version in candidates:
            denied = _listed(self.deny, name, version)
            if denied is not None:
                decisions[version] = f"denied by policy (deny = {denied!r})"
                continue
            if _listed(self.allow, name, version) is not None:
                continue
            # Lasting reasons first; the quarantine, which ends by itself, last.
            if self.audit is not None:
                reason = self._audit(name, version, verdicts, published, provenance)
                if reason is not None:
                    decisions[version] = reason
                    continue
            if self.min_release_age is not None:
                when = _published(published.get(version))
                if when is None:
                    decisions[version] = "no publish time upstream; min-release-age needs one"
                    continue
                remaining = when + self.min_release_age - moment
                if remaining > 0:
                    decisions[version] = (
                        f"quarantined by min-release-age: published {_human(moment - when)} "
                        f"ago, served from {_human(self.min_release_age)} after publish"
                    )
                    changes_in = remaining if changes_in is None else min(changes_in, remaining)
        return Decisions(decisions, changes_in)

    def _audit(
        self,
        name: str,
        version: str,
        verdicts: Mapping[str, StoredVerdict],
        published: Mapping[str, Any],
        provenance: Provenance,
    ) -> str | None:
        audit = self.audit
        assert audit is not None  # noqa: S101 - the caller checked
        needs = verdicts[version].provenance is not None
        result = provenance(version) if needs or audit.rules_for(name) else None
        found = audit.violations(name, result)
        if found:
            rule, reason = found[0]
            return f"policy {rule}: {reason}"
        if not audit.downgrade or audit.downgrade_allowed(name, version):
            return None
        # No downgrade (pnpm's trustPolicy: no-downgrade, on provenance): not without
        # provenance, nor from another repository, after an earlier version had it.
        when = _published(published.get(version))
        earlier = [
            (stamp, other)
            for other, verdict in verdicts.items()
            if other != version and verdict.verified and verdict.provenance is not None
            and (stamp := _published(published.get(other))) is not None
            and when is not None and stamp < when
        ]  # fmt: skip
        if not earlier:
            return None
        _, latest = max(earlier)
        if result is None:
            return f"policy downgrade: published without provenance after {latest} had it"
        before = provenance(latest)
        repository = source_repository(result)
        before_repository = source_repository(before) if before is not None else None
        if (
            repository is not None
            and before_repository is not None
            and repository_key(repository) != repository_key(before_repository)
        ):
            return (
                f"policy downgrade: built from {repository}, but {latest} was built from "
                f"{before_repository}"
            )
        return None


def _published(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, "time").timestamp()
    except ConfigError:
        return None


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{max(seconds, 0):.0f}s"
