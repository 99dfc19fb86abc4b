"""Verify every installed package as ``npm audit signatures`` does, then apply the policy.

Per package, in pacote's order (npm-registry.md §4.3; pacote ``lib/registry.js``):

1.–3. the packument from the package's registry, then :func:`assay.verify.package.
   verify_package` — the manifest (``ETARGET``, ``EMANIFESTMISMATCH``), the registry signatures
   if the registry has keys (none at all is *missing*, a bad one *invalid*), the attestations if
   ``dist.attestations`` declares them (``EATTESTATIONVERIFY``) — with the registry's trust by
   the one default-trust rule :mod:`assay.verify.package` states (shared with ``assay verify``);
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

from assay.audit.facts import instance_issuer, provenance_facts
from assay.audit.fetch import (
    Fetcher,
    FetchError,
    Response,
    as_mapping,
    packument_url,
    status_error,
)
from assay.audit.pins import PinOutcome, TrustPins
from assay.audit.policy import AuditPolicy, source_repository
from assay.audit.tree import InstalledPackage
from assay.errors import ConfigError, VerificationError
from assay.npm.hosted import repository_key
from assay.npm.versions import Version
from assay.npmrc import NpmConfig
from assay.verify.attestations import AttestationsResult, verify_attestations
from assay.verify.facts import VerifiedFacts
from assay.verify.package import (
    PackageVersion,
    Served,
    VerifiedPackage,
    attestations_url,
    registry_trust,
    trust_plan,
    verify_package,
)
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
    facts: VerifiedFacts | None = None
    """The verified facts of the package's provenance (from its signing certificate)."""


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
    public-good root, which is what npm gets from Sigstore's TUF repository. ``pins``: what
    other registries serve is pinned on first use and compared later (:mod:`assay.audit.pins`);
    :attr:`pin_outcomes` then says what happened, for the caller to report.
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
        pins: TrustPins | None = None,
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
        # Trust on first use for registries that serve their own trust (assay.audit.pins).
        self.pins = pins
        self.pin_outcomes: list[PinOutcome] = []
        self._trust: dict[str, asyncio.Future[Trust]] = {}
        self._packuments: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._attestations: dict[str, asyncio.Future[AttestationsResult]] = {}
        self._verdicts: dict[str, asyncio.Future[VerifiedPackage]] = {}
        self._verifiers: dict[int, Verifier] = {}

    # --- trust ------------------------------------------------------------------------------

    def trust(self, registry: str) -> asyncio.Future[Trust]:
        return _memo_future(self._trust, registry, lambda: self._load_trust(registry))

    async def _load_trust(self, registry: str) -> Trust:
        # The default-trust rule is assay.verify.package's, shared with `assay verify`.
        plan = trust_plan(
            registry, registry_keys=self.registry_keys, trusted_root=self.trusted_root
        )
        served_keys = None if plan.keys_url is None else await self._served(plan.keys_url, registry)
        served_root = (
            None
            if plan.trusted_root_url is None
            else await self._served(plan.trusted_root_url, registry)
        )
        if self.pins is not None:
            outcome = self.pins.apply(registry, served_root, served_keys)
            self.pin_outcomes.append(outcome)
            served_root, served_keys = outcome.served_root, outcome.served_keys
        trust = registry_trust(
            registry,
            served_keys=served_keys,
            served_root=served_root,
            registry_keys=self.registry_keys,
            trusted_root=self.trusted_root,
            public_good=self.public_good,
        )
        root = trust.trusted_root
        verifier = self._verifiers.get(id(root))
        if verifier is None:  # one Verifier (and certificate stores) per trusted root
            verifier = self._verifiers[id(root)] = Verifier(root)
        return Trust(verifier, trust.keys)

    async def _served(self, url: str, registry: str) -> Served:
        response = await self.fetcher.get(url, registry)
        return Served(url, response.status, response.body)

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
        try:
            found = PackageVersion.from_packument(packument, name, version)
        except VerificationError as exc:
            return _replace(base, invalid=_invalid(exc))
        result = _replace(
            base, integrity=found.integrity, resolved=package.resolved or found.tarball
        )
        # 1–3: assay.verify.package, with the attestations fetched first (memoised per URL).
        # pacote fetches them after the signatures verified, so a failed fetch counts only
        # when every check before it passed.
        declared = found.attestations
        target: str | None = None
        response: Response | None = None
        failed_fetch: FetchError | None = None
        if declared is not None and found.integrity is not None:
            target = attestations_url(registry, declared["url"])
            try:
                response = await self._attestations_response(target, registry)
            except FetchError as exc:
                failed_fetch = exc
        try:
            verified = await self._verify_package(
                found, response, trust, installed_integrity=package.integrity, target=target
            )
        except VerificationError as exc:
            dist_attestations = declared if exc.details.get("kind") == "attestation" else None
            return _replace(result, invalid=_invalid(exc), dist_attestations=dist_attestations)
        result = _replace(result, signatures=verified.signatures)
        if failed_fetch is not None:
            if "status" not in failed_fetch.details:
                raise failed_fetch
            invalid = Invalid(_http_code(failed_fetch), failed_fetch.message, "attestation")
            return _replace(result, invalid=invalid, dist_attestations=declared)
        provenance = verified.provenance
        if verified.attestations is not None:
            bundles: tuple[Any, ...] = ()
            if self.include_bundles:
                bundles = tuple(
                    {"predicateType": a.predicate_type, "bundle": a.result.bundle.to_dict()}
                    for a in verified.attestations.attestations
                )
            result = _replace(
                result,
                attestations="verified",
                dist_attestations=declared,
                bundles=bundles,
                facts=provenance_facts(provenance, registry),
            )

        # 4. policy
        if self.policy is not None:
            findings = [
                PolicyFinding(rule, reason)
                for rule, reason in self.policy.violations(
                    name, provenance, instance_issuer=instance_issuer(registry)
                )
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

    async def _attestations_response(self, target: str, registry: str) -> Response:
        response = await self.fetcher.get(target, registry)
        if response.status != 200:
            raise status_error(target, response)
        return response

    def _verify_package(
        self,
        found: PackageVersion,
        response: Response | None,
        trust: Trust,
        *,
        installed_integrity: str | None,
        target: str | None,
    ) -> asyncio.Future[VerifiedPackage]:
        """assay.verify.package for one installed package, once per version and integrity
        (a tree often holds one version at several paths)."""
        key = f"{found.name}@{found.version}\n{installed_integrity}\n{id(trust)}"

        async def load() -> VerifiedPackage:
            verified = verify_package(
                found, None if response is None else response.body,
                verifier=trust.verifier, keys=trust.keys, installed_integrity=installed_integrity,
            )  # fmt: skip
            if verified.attestations is not None and target is not None:
                # The downgrade check may want these again, as an earlier version's.
                self._attestations.setdefault(target, _done(verified.attestations))
            return verified

        return _memo_future(self._verdicts, key, load)

    def _verified_attestations(
        self, registry: str, name: str, version: str, *, integrity: str, url: str, trust: Trust
    ) -> asyncio.Future[AttestationsResult]:
        target = attestations_url(registry, url)

        async def load() -> AttestationsResult:
            response = await self._attestations_response(target, registry)
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
            and repository_key(before_repository) != repository_key(repository)
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


def _invalid(exc: VerificationError) -> Invalid:
    """A verdict of assay.verify.package, in the audit's terms."""
    details = exc.details
    kind = details.get("kind")
    predicate = details.get("predicate_type")
    keyid = details.get("keyid")
    sig = details.get("sig")
    return Invalid(
        str(details.get("code") or "EINTEGRITYSIGNATURE"),
        exc.message,
        kind if kind in ("signature", "attestation", "manifest") else "signature",
        keyid=str(keyid) if keyid else None,
        signature=str(sig) if sig else None,
        predicate_type=str(predicate) if predicate else None,
    )


def _done(value: AttestationsResult) -> asyncio.Future[AttestationsResult]:
    future: asyncio.Future[AttestationsResult] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


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
