"""Verification on ingest: the verdict of one upstream version, decided once.

For each version of an upstream packument, with the uplink's trust (:mod:`assay.mirror.trust`),
through the one verification path, :func:`assay.verify.package.verify_package`:

1. the manifest names the package and version and has a ``dist.integrity``;
2. every registry signature in ``dist.signatures`` verifies with the uplink's keys, npm's
   key-expiry rule applied to ``time[version]`` (a version without signatures from an uplink
   that has keys is refused: a registry that signs signs everything, so a missing signature
   was stripped);
3. if ``dist.attestations`` is declared: the attestations response, fetched from the uplink at
   that path, verifies — the provenance keylessly against the uplink's trusted root, the
   publish attestation with its keys — and its subject is ``dist.integrity``'s sha512;
4. the provenance statement agrees with its certificate.

The tarball itself is fetched on first download and its bytes must match ``dist.integrity``
(:mod:`assay.mirror.service`): subject = integrity = the bytes served.

A transient failure (the attestations could not be fetched) decides nothing: the version is
left out for now and verified at the next refresh.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from assay.errors import ConfigError, VerificationError
from assay.mirror.trust import UplinkTrust
from assay.mirror.upstream import UpstreamClient, UpstreamError
from assay.storage.account_store import now_ms
from assay.storage.mirror_store import StoredVerdict
from assay.verify.facts import VerifiedFacts
from assay.verify.package import PackageVersion, attestations_url, verify_package

__all__ = ["Pending", "verify_version"]


class Pending(Exception):
    """The verdict could not be decided now (the uplink failed); try again later."""


def verify_version(
    document: Mapping[str, Any],
    name: str,
    version: str,
    *,
    uplink: str,
    trust: UplinkTrust,
    client: UpstreamClient,
) -> StoredVerdict:
    """The verdict of ``name@version`` in the upstream ``document``."""
    manifest = document.get("versions", {}).get(version)
    dist = manifest.get("dist") if isinstance(manifest, dict) else None
    integrity = dist.get("integrity") if isinstance(dist, dict) else None
    integrity = integrity if isinstance(integrity, str) else ""

    def refused(reason: str) -> StoredVerdict:
        return StoredVerdict(
            name, version, uplink, integrity, "refused", reason, "unchecked", None, None, None,
            now_ms(),
        )  # fmt: skip

    try:
        found = PackageVersion.from_packument(document, name, version)
    except VerificationError as exc:
        return refused(exc.message)
    body: bytes | None = None
    if found.attestations_path is not None:
        url = attestations_url(client.uplink.url, found.attestations_path)
        try:
            answer = client.document(url)
        except UpstreamError as exc:
            raise Pending(exc.message) from exc
        if answer.status != 200:
            return refused(f"declares attestations, but {url} answered HTTP {answer.status}")
        body = answer.body
    try:
        verified = verify_package(found, body, verifier=trust.verifier, keys=trust.keys)
    except (VerificationError, ConfigError) as exc:
        code = exc.details.get("code")
        return refused(f"{code}: {exc.message}" if code else exc.message)
    if verified.signatures == "missing":
        return refused(
            "EMISSINGSIGNATURE: no registry signature, but the uplink provides signing keys"
        )
    provenance = verified.provenance
    facts = None
    predicate = None
    if provenance is not None:
        predicate = next(
            a.predicate_type
            for a in (verified.attestations.attestations if verified.attestations else ())
            if a.result is provenance
        )
        if provenance.signer is not None:
            facts = json.dumps(VerifiedFacts.from_result(provenance).to_json(), sort_keys=True)
    return StoredVerdict(
        name, version, uplink, found.integrity or "", "verified", None, verified.signatures,
        predicate, facts, None if body is None else body.decode("utf-8", "replace"), now_ms(),
    )  # fmt: skip
