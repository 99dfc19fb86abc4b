"""Verify ``name@version`` from a registry: the one rule for default trust, and the checks.

``assay verify NAME@VERSION`` and ``assay audit signatures`` both come here; they differ only in
how they fetch (one request at a time, or concurrently with retries and a response cache) and in
how they report. This module does no network I/O: callers fetch what :func:`trust_plan` and
:class:`PackageVersion` name and pass the answers in.

**Default trust** (one rule, so both commands reach the same verdict on the same registry):

* ``registry.npmjs.org``: the Sigstore public-good trusted root and npm's registry keys — what
  npm gets from Sigstore's TUF repository (the bundled snapshot, or ``assay trust update``'s
  newer copy);
* any other registry: what it serves itself — its keys from ``<registry>/-/npm/v1/keys`` (npm
  ``verify-signatures.js``: 404 and 400 mean "this registry has no keys", Nexus answers 400,
  npm/cli #5479) and its trusted root from ``<origin>/-/trust/trusted_root.json`` (an Assay
  instance logs provenance in its own transparency log and serves that log's root there;
  anything but a 200 means the public-good root);
* a trusted root or keys the user names (``--trusted-root``, ``--registry-keys``) replace that.

**The checks**, in pacote's order (npm-registry.md §4.3; pacote ``lib/registry.js``), the first
failure deciding the verdict:

1. the packument has the version (``ETARGET``), its manifest names ``name`` and, if it has an
   ``_id``, ``name@version`` (``EMANIFESTMISMATCH``), with a ``dist.integrity``; an integrity
   recorded at install (the lockfile) must be the one the registry signs
   (``EINTEGRITYMISMATCH``, ours: pacote does not compare);
2. if the registry has keys: every ``dist.signatures[]`` verifies
   (:func:`~assay.verify.registry_signatures.verify_registry_signatures`); none at all is
   *missing*, which the caller reports;
3. if ``dist.attestations`` is declared: every attestation of the response verifies — the
   registry's publish attestation with its key, the SLSA provenance keylessly — and the
   provenance satisfies the caller's policy, if any
   (:func:`~assay.verify.attestations.verify_attestations`);
4. the provenance statement agrees with its verified signing certificate
   (:func:`~assay.verify.facts.check_statement`): the registry refuses a contradicting statement
   at publish, but a consumer does not take a registry's word for it — an upstream or tampered
   registry could serve one (``EATTESTATIONVERIFY``).

Every failure is a :class:`~assay.errors.VerificationError` whose details carry npm's ``code``,
the ``kind`` of check (``manifest``, ``signature``, ``attestation``) and, where known, the
``keyid`` and ``sig`` of the signature or the ``predicate_type`` of the attestation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from assay.errors import ConfigError, VerificationError
from assay.verify.attestations import AttestationsResult, verify_attestations
from assay.verify.facts import VerifiedFacts, check_statement
from assay.verify.policy import Policy
from assay.verify.registry_signatures import verify_registry_signatures
from assay.verify.result import VerificationResult
from assay.verify.trust import RegistryKey, RegistryKeys, TrustedRoot
from assay.verify.verifier import Verifier

__all__ = [
    "NPMJS_HOST",
    "PackageVersion",
    "RegistryTrust",
    "Served",
    "TrustPlan",
    "VerifiedPackage",
    "attestations_url",
    "is_npmjs",
    "registry_trust",
    "trust_plan",
    "verify_package",
]

NPMJS_HOST = "registry.npmjs.org"
KEYS_PATH = "/-/npm/v1/keys"
TRUSTED_ROOT_PATH = "/-/trust/trusted_root.json"
_NO_KEYS_STATUSES = frozenset({400, 404})

# --- default trust -------------------------------------------------------------------------------


def is_npmjs(registry: str) -> bool:
    return urlsplit(registry).hostname == NPMJS_HOST


def attestations_url(registry: str, url: str) -> str:
    """Where ``dist.attestations.url`` is fetched: pacote ``new URL(new URL(url).pathname,
    registry)`` — only its path counts, so the host a packument names is never contacted."""
    path = urlsplit(url).path
    return urljoin(registry if registry.endswith("/") else registry + "/", path)


@dataclass(frozen=True, slots=True)
class TrustPlan:
    """What to fetch for a registry's default trust; ``None``: nothing (bundled or given)."""

    keys_url: str | None
    trusted_root_url: str | None


def trust_plan(
    registry: str,
    *,
    registry_keys: RegistryKeys | None = None,
    trusted_root: TrustedRoot | None = None,
) -> TrustPlan:
    """The requests the default-trust rule needs for ``registry``, given what the user named."""
    npmjs = is_npmjs(registry)
    parts = urlsplit(registry)
    return TrustPlan(
        keys_url=None if npmjs or registry_keys is not None else registry.rstrip("/") + KEYS_PATH,
        trusted_root_url=None
        if npmjs or trusted_root is not None
        else f"{parts.scheme}://{parts.netloc}{TRUSTED_ROOT_PATH}",
    )


@dataclass(frozen=True, slots=True)
class Served:
    """One answer of a registry, as the caller fetched it."""

    url: str
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class RegistryTrust:
    """What one registry's packages are verified with."""

    trusted_root: TrustedRoot
    keys: RegistryKeys | None
    """``None``: the registry has no signing keys (nothing of it is "audited", as in npm)."""


def registry_trust(
    registry: str,
    *,
    served_keys: Served | None = None,
    served_root: Served | None = None,
    registry_keys: RegistryKeys | None = None,
    trusted_root: TrustedRoot | None = None,
    public_good: Path | None = None,
) -> RegistryTrust:
    """The default-trust rule (module docstring) for ``registry``.

    ``served_keys``/``served_root``: the answers to :func:`trust_plan`'s requests (``None`` where
    it asked for nothing). ``registry_keys``/``trusted_root``: what the user named.
    ``public_good``: where ``assay trust update`` keeps newer public-good material.
    Raises :class:`VerificationError` for a keys request that failed (not 200, 400 or 404) and
    :class:`~assay.errors.ConfigError` for malformed trust material.
    """
    npmjs = is_npmjs(registry)
    keys: RegistryKeys | None
    if registry_keys is not None:
        keys = registry_keys
    elif npmjs:
        keys = RegistryKeys.npmjs(public_good)
    elif served_keys is None or served_keys.status in _NO_KEYS_STATUSES:
        keys = None
    elif served_keys.status != 200:
        raise VerificationError(
            f"GET {served_keys.url} answered HTTP {served_keys.status}",
            url=served_keys.url,
            status=served_keys.status,
        )
    else:
        keys = RegistryKeys.from_json(served_keys.body)
    root = trusted_root
    if root is None and not npmjs and served_root is not None and served_root.status == 200:
        root = TrustedRoot.from_json(served_root.body)
    if root is None:
        root = TrustedRoot.public_good(public_good)
    return RegistryTrust(root, keys)


# --- the checks ----------------------------------------------------------------------------------


def _invalid(code: str, kind: str, message: str, **details: object) -> VerificationError:
    known = {key: value for key, value in details.items() if value is not None}
    return VerificationError(message, code=code, kind=kind, **known)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class PackageVersion:
    """``name@version`` as its registry's packument describes it: what the checks read."""

    name: str
    version: str
    manifest: Mapping[str, Any]
    integrity: str | None
    tarball: str | None
    signatures: tuple[Any, ...]
    published: str | None
    """``time[version]``, if the packument has it."""
    attestations: Mapping[str, Any] | None
    """``dist.attestations`` (``{"url", "provenance"}``), if declared."""

    @classmethod
    def from_packument(
        cls, packument: Mapping[str, Any], name: str, version: str
    ) -> PackageVersion:
        """The version in ``packument``; ``ETARGET`` if it has none."""
        versions = packument.get("versions")
        manifest = versions.get(version) if isinstance(versions, dict) else None
        if not isinstance(manifest, dict):
            raise _invalid(
                "ETARGET", "manifest", f"No matching version found for {name}@{version}."
            )
        dist_value = manifest.get("dist")
        dist: Mapping[str, Any] = dist_value if isinstance(dist_value, dict) else {}
        signatures = dist.get("signatures")
        times = packument.get("time")
        declared = dist.get("attestations")
        return cls(
            name=name,
            version=version,
            manifest=manifest,
            integrity=_text(dist.get("integrity")),
            tarball=_text(dist.get("tarball")),
            signatures=tuple(signatures) if isinstance(signatures, list) else (),
            published=_text(times.get(version)) if isinstance(times, dict) else None,
            attestations=declared
            if isinstance(declared, dict) and isinstance(declared.get("url"), str)
            else None,
        )

    @property
    def attestations_path(self) -> str | None:
        """``dist.attestations.url`` as declared (fetch it with :func:`attestations_url`)."""
        return None if self.attestations is None else str(self.attestations["url"])


@dataclass(frozen=True, slots=True)
class VerifiedPackage:
    """What :func:`verify_package` established."""

    package: PackageVersion
    signatures: Literal["verified", "missing", "unchecked"]
    """``unchecked``: the registry has no keys; ``missing``: it has keys, the version no
    signature (npm reports it, the caller decides)."""
    signature_keys: tuple[RegistryKey, ...]
    attestations: AttestationsResult | None
    """``None``: no attestations declared, or none given to check."""

    @property
    def integrity(self) -> str:
        return str(self.package.integrity)

    @property
    def provenance(self) -> VerificationResult | None:
        return None if self.attestations is None else self.attestations.provenance


def verify_package(
    package: PackageVersion,
    attestations: Mapping[str, Any] | str | bytes | None,
    *,
    verifier: Verifier,
    keys: RegistryKeys | None,
    installed_integrity: str | None = None,
    provenance_policy: Policy | None = None,
) -> VerifiedPackage:
    """Verify ``package`` (steps 1–3 of the module docstring) with a registry's trust.

    ``attestations``: the body of ``GET`` :func:`attestations_url` when the version declares
    attestations (``None`` to check only steps 1–2). ``verifier`` holds the trusted root and
    ``keys`` the registry keys (:func:`registry_trust`). With a ``provenance_policy``, a version
    without a verified provenance attestation fails.
    """
    name, version = package.name, package.version
    manifest = package.manifest
    # 1. the manifest
    _id = manifest.get("_id")
    if manifest.get("name") != name or (_id is not None and _id != f"{name}@{version}"):
        message = f"{name}@{version}: the registry's manifest names {_id or manifest.get('name')!r}"
        raise _invalid("EMANIFESTMISMATCH", "manifest", message)
    integrity = package.integrity
    if integrity is None:
        message = f"{name}@{version} has no dist.integrity in the packument"
        raise _invalid("EINTEGRITYMISMATCH", "manifest", message)
    if installed_integrity is not None and installed_integrity != integrity:
        message = (
            f"{name}@{version} was installed with integrity {installed_integrity[:30]}…, "
            f"but the registry signs {integrity[:30]}…"
        )
        raise _invalid("EINTEGRITYMISMATCH", "signature", message)

    # 2. registry signatures (pacote verifies them only when it has keys for the registry)
    signatures: Literal["verified", "missing", "unchecked"] = "unchecked"
    used: tuple[RegistryKey, ...] = ()
    if keys is not None:
        if not package.signatures:
            signatures = "missing"
        else:
            used = _registry_signatures(package, integrity, keys)
            signatures = "verified"

    # 3. attestations
    verified: AttestationsResult | None = None
    if package.attestations is not None and attestations is not None:
        try:
            verified = verify_attestations(
                attestations, name, version, integrity,
                verifier=verifier, registry_keys=keys or RegistryKeys(()),
                provenance_policy=provenance_policy,
            )  # fmt: skip
        except VerificationError as exc:
            details = {"code": "EATTESTATIONVERIFY", **exc.details, "kind": "attestation"}
            raise VerificationError(exc.message, **details) from exc
    # 4. the statement against the certificate
    provenance = verified.provenance if verified is not None else None
    if provenance is not None and provenance.signer is not None and provenance.statement:
        try:
            check_statement(provenance.statement, VerifiedFacts.from_result(provenance))
        except VerificationError as exc:
            message = f"{name}@{version}: the provenance contradicts its certificate: {exc.message}"
            raise _invalid(
                "EATTESTATIONVERIFY", "attestation", message, predicate_type="provenance"
            ) from exc
    if provenance_policy is not None and (verified is None or verified.provenance is None):
        raise _invalid(
            "EATTESTATIONVERIFY", "attestation", f"{name}@{version} has no provenance attestation"
        )
    return VerifiedPackage(package, signatures, used, verified)


def _registry_signatures(
    package: PackageVersion, integrity: str, keys: RegistryKeys
) -> tuple[RegistryKey, ...]:
    entries = package.signatures
    try:
        return verify_registry_signatures(
            package.name, package.version, integrity, entries, keys, published=package.published
        )
    except (VerificationError, ConfigError) as exc:
        keyid = exc.details.get("keyid")
        failed = next(
            (s for s in entries if isinstance(s, dict) and s.get("keyid") == keyid),
            entries[0] if isinstance(entries[0], dict) else {},
        )
        raise _invalid(
            str(exc.details.get("code") or "EINTEGRITYSIGNATURE"),
            "signature",
            exc.message,
            keyid=str(keyid) if keyid else failed.get("keyid"),
            sig=failed.get("sig"),
        ) from exc
