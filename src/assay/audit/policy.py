"""The audit policy file (TOML; format and examples in docs/policy.md).

npm's audit has no policy at all (anchors.md §5): it proves a version was signed by the registry
and, if it has provenance, that the provenance is a valid Sigstore attestation of *some* build.
The policy says which builds are acceptable, for the attacks of anchors.md §7:

* ``[[require-provenance]] packages = [...]`` — these packages must have verified provenance
  (ua-parser-js, coa/rc: hijacked accounts publish from a laptop);
* ``[packages."<pattern>"]`` — provenance of matching packages must come from this repository,
  workflow file, ref, trigger events, runner and OIDC issuer (TanStack: a
  ``pull_request_target`` job); ``pull_request_target`` is refused for every package unless a
  matching rule lists it;
* ``issuer = [...]`` (top level) — the OIDC issuers (which CI systems) any provenance may be
  signed through; a matching rule's own ``issuer`` replaces it for its packages (issue 10 §3:
  a registry that trusts several CAs, or an instance's emulated CI, signs for any repository);
* ``[downgrade]`` — a version without provenance, or built from another repository, after
  earlier versions had provenance (@rspack/core, nx, axios), with per-version exceptions.

Patterns are shell globs (``fnmatch``, case-sensitive): ``@acme/*``, ``left-pad``, ``*``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, VerificationError
from assay.npm.hosted import repository_key
from assay.verify.facts import GITHUB_ACTIONS_ISSUER, GITLAB_ISSUER, ci_label
from assay.verify.policy import Event, Ref, RunnerEnvironment, Workflow
from assay.verify.result import VerificationResult

__all__ = [
    "ISSUER_ALIASES",
    "PULL_REQUEST_TARGET",
    "AuditPolicy",
    "PackageRule",
    "source_repository",
]

PULL_REQUEST_TARGET = "pull_request_target"
_RULE_KEYS = frozenset({"repository", "workflow", "ref", "events", "runner", "issuer"})
_TOP_KEYS = frozenset({"require-provenance", "packages", "downgrade", "issuer"})
ISSUER_ALIASES = {"github-actions": GITHUB_ACTIONS_ISSUER, "gitlab.com": GITLAB_ISSUER}
"""Short names of the public CI issuers (the names ``ASSAY_OIDC_TRUSTED_ISSUERS`` uses)."""


def source_repository(result: VerificationResult) -> str | None:
    """The repository a keyless provenance was built from: the certificate's Source Repository
    URI (``.1.12``), else GitHub's legacy ``.1.5`` (sigstore.md §1.4)."""
    signer = result.signer
    if signer is None:
        return None
    return signer.source_repository_uri


def _trigger(result: VerificationResult) -> str | None:
    signer = result.signer
    if signer is None:
        return None
    return signer.build_trigger


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"policy: {where} must be a string or a list of strings", field=where)
    return tuple(value)


def _string(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"policy: {where} must be a non-empty string", field=where)
    return value


def _reason(exc: VerificationError) -> str:
    return exc.message.removeprefix("policy: ")


def _issuers(value: object, where: str) -> tuple[str, ...]:
    """An ``issuer`` value: a URL or an alias, or a list of them; URLs without a final slash."""
    issuers = []
    for item in _strings(value, where):
        issuer = ISSUER_ALIASES.get(item, item).rstrip("/")
        if not issuer.startswith(("https://", "http://")):
            raise ConfigError(
                f"policy: {where}: {item!r} is neither an issuer URL nor one of "
                f"{sorted(ISSUER_ALIASES)}",
                field=where,
            )
        issuers.append(issuer)
    if not issuers:
        raise ConfigError(f"policy: {where} must name at least one issuer", field=where)
    return tuple(issuers)


def issuer_violation(
    result: VerificationResult, allowed: tuple[str, ...], *, instance_issuer: str | None = None
) -> str | None:
    """Why ``result``'s OIDC issuer is not one of ``allowed`` (None if it is).

    Every issuer the certificate states (``.1.1`` and ``.1.8``, which sigstore-python and
    sigstore-js read in turn) must be allowed, as :class:`assay.verify.policy.Identity` does.
    """
    signer = result.signer
    if signer is None:
        return "signed with a bare key, not through a CI system's OIDC identity"
    stated = signer.issuers
    if not stated:
        return "the signing certificate names no OIDC issuer"
    for issuer in stated:
        if issuer.rstrip("/") not in allowed:
            label = ci_label(issuer, instance_issuer)
            return (
                f"signed through OIDC issuer {issuer!r} ({label}), expected one of {list(allowed)}"
            )
    return None


@dataclass(frozen=True, slots=True)
class PackageRule:
    """``[packages."<pattern>"]``: what the provenance of matching packages must show."""

    pattern: str
    repository: str | None = None
    """A glob over the normalised repository URL: ``github.com/acme/*``."""
    workflow: str | None = None
    ref: str | None = None
    events: tuple[str, ...] | None = None
    runner: str | None = None
    issuer: tuple[str, ...] | None = None
    """OIDC issuer URLs (no final slash); replaces the policy's top-level ``issuer``."""

    @property
    def label(self) -> str:
        return f'packages."{self.pattern}"'

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)

    def violations(
        self, result: VerificationResult, *, instance_issuer: str | None = None
    ) -> list[str]:
        """Why ``result`` (a verified keyless provenance) breaks this rule; empty if it holds.

        ``instance_issuer``: the OIDC issuer of the package's registry, if an Assay instance
        (to name its emulated CI as such in a finding)."""
        reasons: list[str] = []
        if self.issuer is not None:
            reason = issuer_violation(result, self.issuer, instance_issuer=instance_issuer)
            if reason is not None:
                reasons.append(reason)
        if self.repository is not None:
            actual = source_repository(result)
            wanted = repository_key(self.repository)
            if actual is None or not fnmatch.fnmatchcase(repository_key(actual), wanted):
                reasons.append(f"built from repository {actual!r}, expected {self.repository!r}")
        checks = (
            Workflow(self.workflow) if self.workflow is not None else None,
            Ref(self.ref) if self.ref is not None else None,
            Event(self.events) if self.events is not None else None,
            RunnerEnvironment(self.runner) if self.runner is not None else None,
        )
        for check in checks:
            if check is None:
                continue
            try:
                check.verify(result)
            except VerificationError as exc:
                reasons.append(_reason(exc))
        return reasons

    @classmethod
    def read(cls, pattern: str, value: object) -> PackageRule:
        where = f'packages."{pattern}"'
        if not isinstance(value, dict):
            raise ConfigError(f"policy: {where} must be a table", field=where)
        unknown = sorted(set(value) - _RULE_KEYS)
        if unknown:
            raise ConfigError(f"policy: {where} has unknown keys {unknown}", field=where)
        events = value.get("events")
        return cls(
            pattern=pattern,
            repository=_string(value.get("repository"), f"{where}.repository"),
            workflow=_string(value.get("workflow"), f"{where}.workflow"),
            ref=_string(value.get("ref"), f"{where}.ref"),
            events=None if events is None else _strings(events, f"{where}.events"),
            runner=_string(value.get("runner"), f"{where}.runner"),
            issuer=None
            if value.get("issuer") is None
            else _issuers(value.get("issuer"), f"{where}.issuer"),
        )


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """A parsed policy file. The empty policy (no file) still refuses ``pull_request_target``
    builds only when a file is given: without ``--policy`` the audit is npm's, unchanged."""

    require_provenance: tuple[str, ...] = ()
    rules: tuple[PackageRule, ...] = ()
    downgrade: bool = True
    downgrade_allow: frozenset[str] = frozenset()
    source: str = "policy"
    issuers: tuple[str, ...] | None = None
    """Top-level ``issuer``: the OIDC issuers every provenance may be signed through, unless a
    matching rule names its own."""

    def requires_provenance(self, name: str) -> bool:
        """Listed in ``require-provenance``, or named by a rule with identity constraints."""
        return any(fnmatch.fnmatchcase(name, p) for p in self.require_provenance) or bool(
            self.rules_for(name)
        )

    def rules_for(self, name: str) -> tuple[PackageRule, ...]:
        return tuple(rule for rule in self.rules if rule.matches(name))

    def downgrade_allowed(self, name: str, version: str) -> bool:
        """``[downgrade] allow`` names the package (every version) or ``name@version``."""
        return name in self.downgrade_allow or f"{name}@{version}" in self.downgrade_allow

    def violations(
        self,
        name: str,
        provenance: VerificationResult | None,
        *,
        instance_issuer: str | None = None,
    ) -> list[tuple[str, str]]:
        """(rule, reason) for each way ``name``'s verified provenance (or its absence) breaks
        the policy. Downgrades need the package's history: see :mod:`assay.audit.verify`.
        ``instance_issuer``: the OIDC issuer of the package's registry if it is an Assay
        instance (findings then call its emulated CI so)."""
        rules = self.rules_for(name)
        if provenance is None:
            if self.requires_provenance(name):
                label = next(
                    (f'require-provenance "{p}"' for p in self.require_provenance
                     if fnmatch.fnmatchcase(name, p)),
                    rules[0].label if rules else "require-provenance",
                )  # fmt: skip
                return [(label, "no provenance attestation")]
            return []
        found: list[tuple[str, str]] = []
        for matching in rules:
            found.extend(
                (matching.label, reason)
                for reason in matching.violations(provenance, instance_issuer=instance_issuer)
            )
        if self.issuers is not None and not any(rule.issuer is not None for rule in rules):
            reason = issuer_violation(provenance, self.issuers, instance_issuer=instance_issuer)
            if reason is not None:
                found.append(("issuer", reason))
        # TanStack (anchors.md §7): a pull_request_target job runs with the base repository's
        # secrets and OIDC token on attacker-controlled code; never acceptable by default.
        if _trigger(provenance) == PULL_REQUEST_TARGET and not any(
            rule.events is not None and PULL_REQUEST_TARGET in rule.events for rule in rules
        ):
            found.append(
                ("events", "built by a pull_request_target workflow, which may run untrusted code")
            )
        return found

    @classmethod
    def from_dict(cls, value: Mapping[str, Any], source: str = "policy") -> AuditPolicy:
        unknown = sorted(set(value) - _TOP_KEYS)
        if unknown:
            raise ConfigError(f"policy: unknown top-level keys {unknown}", field="policy")
        required: list[str] = []
        entries = value.get("require-provenance", [])
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            raise ConfigError("policy: [[require-provenance]] must be an array of tables")
        for index, entry in enumerate(entries):
            where = f"require-provenance[{index}]"
            if not isinstance(entry, dict) or set(entry) - {"packages"}:
                raise ConfigError(f"policy: {where} takes only packages = [...]", field=where)
            required.extend(_strings(entry.get("packages"), f"{where}.packages"))
        packages = value.get("packages", {})
        if not isinstance(packages, dict):
            raise ConfigError("policy: [packages] must be a table of patterns")
        rules = tuple(PackageRule.read(pattern, rule) for pattern, rule in packages.items())
        downgrade = value.get("downgrade", {})
        if not isinstance(downgrade, dict) or set(downgrade) - {"check", "allow"}:
            raise ConfigError("policy: [downgrade] takes check = true|false and allow = [...]")
        check = downgrade.get("check", True)
        if not isinstance(check, bool):
            raise ConfigError("policy: downgrade.check must be true or false")
        allow: Sequence[str] = _strings(downgrade.get("allow", []), "downgrade.allow")
        issuers = None if value.get("issuer") is None else _issuers(value["issuer"], "issuer")
        return cls(tuple(required), rules, check, frozenset(allow), source, issuers)

    @classmethod
    def from_toml(cls, text: str, source: str = "policy") -> AuditPolicy:
        try:
            value = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"policy {source} is not valid TOML: {exc}") from None
        return cls.from_dict(value, source)

    @classmethod
    def from_file(cls, path: Path) -> AuditPolicy:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read policy {path}: {exc}") from None
        return cls.from_toml(text, str(path))
