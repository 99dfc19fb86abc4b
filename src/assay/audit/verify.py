"""Verify every installed package as ``npm audit signatures`` does, then apply the policy.

Per package, in pacote's order (npm-registry.md §4.3; pacote ``lib/registry.js``):

1. the packument from the package's registry; the installed version's manifest must be named
   ``name`` and, if it has an ``_id``, ``name@version`` (``EMANIFESTMISMATCH``);
2. if the registry has keys: every ``dist.signatures[]`` verifies over
   ``"<name>@<version>:<dist.integrity>"`` with npm's key-expiry rule — none at all is
   *missing*, a bad one *invalid* (``EINTEGRITYSIGNATURE``);
3. if ``dist.attestations``: every attestation verifies (:func:`assay.verify.attestations.
   verify_attestations`) — a bad one is *invalid* (``EATTESTATIONVERIFY``);
4. our policy (:mod:`assay.audit.policy`) and provenance-downgrade check, as *policy* findings.

The first failure of steps 1–3 decides the package's verdict, as pacote throws at the first
one. Where npm aborts the whole run (``EMISSINGSIGNATUREKEY``, ``EEXPIREDSIGNATUREKEY``,
``EATTESTATIONSUBJECT``, ``EMANIFESTMISMATCH``, an HTTP error for one package) we report the
package as *invalid* with that code instead and audit the rest. We also compare the installed
integrity (lockfile) with the packument's — pacote does not, so a lockfile that installed a
different tarball than the registry signed would pass npm (``EINTEGRITYMISMATCH``, ours).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from assay.audit.fetch import (
    Fetcher,
    FetchError,
    as_mapping,
    attestations_url,
    packument_url,
    registry_origin,
    status_error,
)
from assay.audit.policy import AuditPolicy, normalise_repository, source_repository
from assay.audit.tree import InstalledPackage
from assay.errors import ConfigError, VerificationError
from assay.npm.versions import Version
from assay.npmrc import NpmConfig
from assay.verify.attestations import AttestationsResult, verify_attestations
from assay.verify.registry_signatures import verify_registry_signatures
from assay.verify.result import VerificationResult
from assay.verify.trust import RegistryKeys, TrustedRoot, parse_time
from assay.verify.verifier import Verifier

__all__ = [
    "AuditResult",
    "Auditor",
    "Invalid",
    "PackageResult",
    "PolicyFinding",
    "Trust",
]

NPMJS_HOST = "registry.npmjs.org"
_NO_KEYS = RegistryKeys(())


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a package is *invalid*, in pacote's terms (``code`` is npm's error code)."""

    code: str
    message: str
    kind: Literal["signature", "attestation", "manifest"]
    keyid: str | None = None
    signature: str | None = None
    predicate_type: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyFinding:
    """A way a package breaks the policy: the rule (as written in the file) and why."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class PackageResult:
    package: InstalledPackage
    registry: str
    has_keys: bool
    integrity: str | None = None
    resolved: str | None = None
    signatures: Literal["verified", "missing", "unchecked"] = "unchecked"
    attestations: Literal["verified", "none"] = "none"
    invalid: Invalid | None = None
    policy: tuple[PolicyFinding, ...] = ()
    dist_attestations: Mapping[str, Any] | None = field(default=None, repr=False)
    bundles: tuple[Any, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class AuditResult:
    results: tuple[PackageResult, ...]
    elapsed: float
    policy: AuditPolicy | None = None

    @property
    def audited(self) -> int:
        """npm's "audited N packages": only packages whose registry has keys."""
        return sum(1 for r in self.results if r.has_keys)

    @property
    def verified_signatures(self) -> int:
        return sum(1 for r in self.results if r.signatures == "verified" and r.invalid is None)

    @property
    def verified_attestations(self) -> int:
        return sum(1 for r in self.results if r.attestations == "verified" and r.invalid is None)

    @property
    def missing(self) -> tuple[PackageResult, ...]:
        return tuple(r for r in self.results if r.signatures == "missing" and r.invalid is None)

    @property
    def invalid(self) -> tuple[PackageResult, ...]:
        return tuple(r for r in self.results if r.invalid is not None)

    @property
    def policy_findings(self) -> tuple[PackageResult, ...]:
        return tuple(r for r in self.results if r.policy)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.invalid or self.policy_findings)


@dataclass(frozen=True, slots=True)
class Trust:
    """What one registry's packages are verified with."""

    verifier: Verifier
    keys: RegistryKeys | None
    """``None``: the registry has no signing keys (nothing of it is "audited", as in npm)."""


class Auditor:
    """Audits installed packages against their registries; one instance per run.

    ``trusted_root``/``registry_keys`` override what each registry serves (``--trusted-root``,
    ``--registry-keys``). Registry ``registry.npmjs.org`` uses the bundled npmjs keys and
    public-good root, which is what npm gets from Sigstore's TUF repository.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        config: NpmConfig,
        *,
        trusted_root: TrustedRoot | None = None,
        registry_keys: RegistryKeys | None = None,
        policy: AuditPolicy | None = None,
        include_bundles: bool = False,
        progress: Callable[[PackageResult], None] | None = None,
        public_good: Path | None = None,
    ) -> None:
        self.fetcher = fetcher
        # Where `assay trust update` keeps newer public-good material (None: the bundled copy).
        self.public_good = public_good
        self.config = config
        self.trusted_root = trusted_root
        self.registry_keys = registry_keys
        self.policy = policy
        self.include_bundles = include_bundles
        self.progress = progress
        self._trust: dict[str, asyncio.Future[Trust]] = {}
        self._packuments: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._attestations: dict[str, asyncio.Future[AttestationsResult]] = {}
        self._verifiers: dict[int, Verifier] = {}

    # --- trust ------------------------------------------------------------------------------

    def trust(self, registry: str) -> asyncio.Future[Trust]:
        return _memo_future(self._trust, registry, lambda: self._load_trust(registry))

    async def _load_trust(self, registry: str) -> Trust:
        npmjs = urlsplit(registry).hostname == NPMJS_HOST
        keys: RegistryKeys | None
        if self.registry_keys is not None:
            keys = self.registry_keys
        elif npmjs:
            keys = RegistryKeys.npmjs(self.public_good)
        else:
            url = registry.rstrip("/") + "/-/npm/v1/keys"
            response = await self.fetcher.get(url, registry)
            if response.status in (400, 404):
                keys = None  # npm: E404/E400 → the registry has no keys
            elif response.status != 200:
                raise status_error(url, response)
            else:
                keys = RegistryKeys.from_json(response.body)
        root = self.trusted_root
        if root is None and not npmjs:
            url = registry_origin(registry) + "/-/trust/trusted_root.json"
            response = await self.fetcher.get(url, registry)
            if response.status == 200:
                root = TrustedRoot.from_json(response.body)
        if root is None:
            root = TrustedRoot.public_good(self.public_good)
        verifier = self._verifiers.get(id(root))
        if verifier is None:  # one Verifier (and certificate stores) per trusted root
            verifier = self._verifiers[id(root)] = Verifier(root)
        return Trust(verifier, keys)

    # --- fetching -----------------------------------------------------------------------------

    def packument(self, registry: str, name: str) -> asyncio.Future[Mapping[str, Any]]:
        url = packument_url(registry, name)

        async def load() -> Mapping[str, Any]:
            response = await self.fetcher.get(url, registry)
            if response.status != 200:
                raise status_error(url, response)
            return as_mapping(response.json(f"the packument of {name}"), f"packument {name}")

        return _memo_future(self._packuments, url, load)

    # --- one package --------------------------------------------------------------------------

    async def audit(self, packages: Sequence[InstalledPackage]) -> AuditResult:
        start = time.monotonic()
        results = await asyncio.gather(*(self._audit_one(p) for p in packages))
        return AuditResult(tuple(results), time.monotonic() - start, self.policy)

    async def _audit_one(self, package: InstalledPackage) -> PackageResult:
        registry = self.config.registry_for(package.name)
        trust = await self.trust(registry)
        result = await self._verify(package, registry, trust)
        if self.progress is not None:
            self.progress(result)
        return result

    async def _verify(
        self, package: InstalledPackage, registry: str, trust: Trust
    ) -> PackageResult:
        name, version = package.name, package.version
        base = PackageResult(package, registry, trust.keys is not None)
        try:
            packument = await self.packument(registry, name)
        except FetchError as exc:
            if "status" not in exc.details:
                raise  # unreachable, or not saved for --offline: an error, not a verdict
            return _replace(base, invalid=Invalid(_http_code(exc), exc.message, "manifest"))
        versions = packument.get("versions")
        manifest = versions.get(version) if isinstance(versions, dict) else None
        if not isinstance(manifest, dict):
            message = f"No matching version found for {name}@{version}."
            return _replace(base, invalid=Invalid("ETARGET", message, "manifest"))
        dist_value = manifest.get("dist")
        dist: dict[str, Any] = dist_value if isinstance(dist_value, dict) else {}
        integrity = dist.get("integrity") if isinstance(dist.get("integrity"), str) else None
        tarball = dist.get("tarball") if isinstance(dist.get("tarball"), str) else None
        result = _replace(base, integrity=integrity, resolved=package.resolved or tarball)
        _id = manifest.get("_id")
        if manifest.get("name") != name or (_id is not None and _id != f"{name}@{version}"):
            message = (
                f"{name}@{version}: the registry's manifest names {_id or manifest.get('name')!r}"
            )
            return _replace(result, invalid=Invalid("EMANIFESTMISMATCH", message, "manifest"))
        if integrity is None:
            message = f"{name}@{version} has no dist.integrity in the packument"
            return _replace(result, invalid=Invalid("EINTEGRITYMISMATCH", message, "manifest"))
        if package.integrity is not None and package.integrity != integrity:
            message = (
                f"{name}@{version} was installed with integrity {package.integrity[:30]}…, "
                f"but the registry signs {integrity[:30]}…"
            )
            return _replace(result, invalid=Invalid("EINTEGRITYMISMATCH", message, "signature"))

        # 2. registry signatures (pacote verifies them only when it has keys for the registry)
        if trust.keys is not None:
            signatures = dist.get("signatures") or []
            if not signatures:
                result = _replace(result, signatures="missing")
            else:
                times = packument.get("time")
                published = times.get(version) if isinstance(times, dict) else None
                try:
                    verify_registry_signatures(
                        name, version, integrity, signatures, trust.keys,
                        published=published if isinstance(published, str) else None,
                    )  # fmt: skip
                except (VerificationError, ConfigError) as exc:
                    keyid = exc.details.get("keyid")
                    failed = next(
                        (s for s in signatures if isinstance(s, dict) and s.get("keyid") == keyid),
                        signatures[0] if isinstance(signatures[0], dict) else {},
                    )
                    code = str(exc.details.get("code") or "EINTEGRITYSIGNATURE")
                    invalid = Invalid(
                        code, exc.message, "signature",
                        keyid=str(keyid) if keyid else failed.get("keyid"),
                        signature=failed.get("sig"),
                    )  # fmt: skip
                    return _replace(result, invalid=invalid)
                result = _replace(result, signatures="verified")

        # 3. attestations
        provenance: VerificationResult | None = None
        declared = dist.get("attestations")
        if isinstance(declared, dict) and isinstance(declared.get("url"), str):
            try:
                verified = await self._verified_attestations(
                    registry, name, version, integrity=integrity, url=declared["url"], trust=trust
                )
            except FetchError as exc:
                if "status" not in exc.details:
                    raise
                invalid = Invalid(_http_code(exc), exc.message, "attestation")
                return _replace(result, invalid=invalid, dist_attestations=declared)
            except VerificationError as exc:
                predicate = exc.details.get("predicate_type")
                invalid = Invalid(
                    str(exc.details.get("code") or "EATTESTATIONVERIFY"), exc.message,
                    "attestation", predicate_type=str(predicate) if predicate else None,
                )  # fmt: skip
                return _replace(result, invalid=invalid, dist_attestations=declared)
            provenance = verified.provenance
            bundles: tuple[Any, ...] = ()
            if self.include_bundles:
                bundles = tuple(
                    {"predicateType": a.predicate_type, "bundle": a.result.bundle.to_dict()}
                    for a in verified.attestations
                )
            result = _replace(
                result, attestations="verified", dist_attestations=declared, bundles=bundles
            )

        # 4. policy
        if self.policy is not None:
            findings = [
                PolicyFinding(rule, reason)
                for rule, reason in self.policy.violations(name, provenance)
            ]
            findings.extend(
                await self._downgrade(
                    registry=registry,
                    name=name,
                    version=version,
                    packument=packument,
                    provenance=provenance,
                    trust=trust,
                )
            )
            result = _replace(result, policy=tuple(findings))
        return result

    def _verified_attestations(
        self, registry: str, name: str, version: str, *, integrity: str, url: str, trust: Trust
    ) -> asyncio.Future[AttestationsResult]:
        target = attestations_url(registry, url)

        async def load() -> AttestationsResult:
            response = await self.fetcher.get(target, registry)
            if response.status != 200:
                raise status_error(target, response)
            return verify_attestations(
                response.body, name, version, integrity,
                verifier=trust.verifier, registry_keys=trust.keys or _NO_KEYS,
            )  # fmt: skip

        return _memo_future(self._attestations, target, load)

    # --- provenance downgrade -----------------------------------------------------------------

    async def _downgrade(
        self,
        *,
        registry: str,
        name: str,
        version: str,
        packument: Mapping[str, Any],
        provenance: VerificationResult | None,
        trust: Trust,
    ) -> list[PolicyFinding]:
        """pnpm's ``trustPolicy: no-downgrade`` idea, on provenance: a version without
        provenance, or built from another repository, after earlier versions had it."""
        policy = self.policy
        if policy is None or not policy.downgrade or policy.downgrade_allowed(name, version):
            return []
        earlier = _earlier_with_provenance(packument, version)
        if not earlier:
            return []
        latest = earlier[-1]
        if provenance is None:
            return [
                PolicyFinding(
                    "downgrade",
                    f"published without provenance after {latest} had it",
                )
            ]
        repository = source_repository(provenance)
        manifest = packument["versions"][latest]
        dist = manifest.get("dist", {})
        integrity = dist.get("integrity")
        url = dist.get("attestations", {}).get("url")
        if not isinstance(integrity, str) or not isinstance(url, str):
            return []
        try:
            previous = await self._verified_attestations(
                registry, name, latest, integrity=integrity, url=url, trust=trust
            )
        except (FetchError, VerificationError):
            return []  # an earlier version we cannot verify is no reference
        before = previous.provenance
        before_repository = source_repository(before) if before is not None else None
        if (
            before_repository is not None
            and repository is not None
            and normalise_repository(before_repository) != normalise_repository(repository)
        ):
            return [
                PolicyFinding(
                    "downgrade",
                    f"built from {repository}, but {latest} was built from {before_repository}",
                )
            ]
        return []


def _earlier_with_provenance(packument: Mapping[str, Any], version: str) -> list[str]:
    """Versions published before ``version`` (by ``time``; by semver order where a time is
    missing) whose ``dist.attestations`` declare provenance, oldest first."""
    versions = packument.get("versions")
    if not isinstance(versions, dict):
        return []
    time_value = packument.get("time")
    times: dict[str, Any] = time_value if isinstance(time_value, dict) else {}
    current = Version.parse_or_none(version)

    def moment(text: str) -> float | None:
        value = times.get(text)
        if not isinstance(value, str):
            return None
        try:
            return parse_time(value, "time").timestamp()
        except ConfigError:
            return None

    now = moment(version)
    found: list[tuple[float, Version, str]] = []
    for other, manifest in versions.items():
        if other == version or not isinstance(manifest, dict):
            continue
        dist = manifest.get("dist")
        attestations = dist.get("attestations") if isinstance(dist, dict) else None
        if not isinstance(attestations, dict) or "provenance" not in attestations:
            continue
        parsed = Version.parse_or_none(other)
        when = moment(other)
        if now is not None and when is not None:
            is_earlier = when < now
        else:
            is_earlier = parsed is not None and current is not None and parsed < current
        if is_earlier and parsed is not None:
            found.append((when or 0.0, parsed, other))
    found.sort()
    return [text for _, _, text in found]


def _http_code(exc: FetchError) -> str:
    status = exc.details.get("status")
    return f"E{status}" if status else "EFETCH"


def _replace(result: PackageResult, **changes: Any) -> PackageResult:
    return dataclasses.replace(result, **changes)


def _memo_future(
    cache: dict[str, asyncio.Future[Any]], key: str, make: Callable[[], Any]
) -> asyncio.Future[Any]:
    future = cache.get(key)
    if future is None:
        future = asyncio.ensure_future(make())
        cache[key] = future
    return future
