"""npm attestations: ``GET /-/npm/v1/attestations/<name>@<version>``, verified for one tarball.

For each ``{"predicateType", "bundle"}`` of the response, in pacote's order (pacote
lib/registry.js; npm-registry.md §3.4, §4.3):

1. the bundle parses and signs a DSSE envelope; ``keyid`` is its first signature's keyid;
2. a keyed bundle (non-empty keyid: the registry's publish attestation) needs the registry key
   with that keyid (``EMISSINGSIGNATUREKEY``), its ``publicKey.hint`` must name the same key, and
   the entry's ``integratedTime`` must be strictly before the key's ``expires``
   (``EEXPIREDSIGNATUREKEY``); a Rekor v2 entry has no ``integratedTime``, so every time the
   verifier verified (its TSA timestamps) must be;
3. the statement's one subject is ``pkg:npm/<name>@<version>`` with the sha512 of the integrity,
   and its predicate type is the one the response claims (``EATTESTATIONSUBJECT``);
4. the bundle verifies (:class:`~assay.verify.verifier.Verifier`): keyless with the CA chain,
   SCT, log inclusion and body consistency; keyed with the registry key;
5. the provenance attestation satisfies the caller's policy, if any.

Everything raises :class:`~assay.errors.VerificationError`; its ``attestation`` detail is the
index in the response and ``code`` npm's error code where npm has one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assay.errors import AssayError, StatementError, VerificationError
from assay.provenance.bundle import Bundle
from assay.provenance.publish import PUBLISH_PREDICATE_TYPE, PublishPredicate
from assay.provenance.subject import Digest, npm_purl
from assay.verify.policy import SLSA_PREDICATE_TYPES, Policy, Subject
from assay.verify.result import VerificationResult
from assay.verify.trust import RegistryKey, RegistryKeys
from assay.verify.verifier import Verifier

__all__ = [
    "AttestationsResult",
    "VerifiedAttestation",
    "verify_attestations",
]


@dataclass(frozen=True, slots=True)
class VerifiedAttestation:
    """One attestation of the response that verified."""

    predicate_type: str
    result: VerificationResult
    registry_key: RegistryKey | None = None


@dataclass(frozen=True, slots=True)
class AttestationsResult:
    """Every attestation of one version, verified."""

    name: str
    version: str
    integrity: str
    attestations: tuple[VerifiedAttestation, ...]

    @property
    def provenance(self) -> VerificationResult | None:
        """The SLSA provenance attestation, if the version has one."""
        for attestation in self.attestations:
            if attestation.predicate_type in SLSA_PREDICATE_TYPES:
                return attestation.result
        return None

    @property
    def publish(self) -> VerificationResult | None:
        """The registry's publish attestation, if the version has one."""
        for attestation in self.attestations:
            if attestation.predicate_type == PUBLISH_PREDICATE_TYPE:
                return attestation.result
        return None


def _fail(index: int | None, message: str, **details: object) -> VerificationError:
    where = "" if index is None else f"attestation {index}: "
    if index is not None:
        details["attestation"] = index
    return VerificationError(where + message, step="attestations", **details)


def _attestations(response: Mapping[str, Any] | str | bytes) -> list[Any]:
    if isinstance(response, str | bytes):
        try:
            response = json.loads(response)
        except (ValueError, UnicodeDecodeError):
            raise _fail(None, "the attestations response is not JSON") from None
    items = response.get("attestations") if isinstance(response, Mapping) else None
    if not isinstance(items, list):
        raise _fail(None, 'the response has no "attestations" array')
    if not items:
        raise _fail(None, "the response holds no attestations")
    return items


def verify_attestations(
    response: Mapping[str, Any] | str | bytes,
    name: str,
    version: str,
    integrity: str,
    *,
    verifier: Verifier,
    registry_keys: RegistryKeys,
    provenance_policy: Policy | None = None,
) -> AttestationsResult:
    """Verify every attestation of ``name@version`` whose tarball has SRI ``integrity``."""
    try:
        purl = npm_purl(name, version)
        digest = Digest.from_sri(integrity)
    except StatementError as exc:
        raise _fail(None, exc.message) from exc
    if digest.algorithm != "sha512":
        raise _fail(None, f"integrity {integrity[:24]!r}… has no sha512 digest, which npm signs")
    subject = Subject(purl, digest)
    verified: list[VerifiedAttestation] = []
    for index, item in enumerate(_attestations(response)):
        if not isinstance(item, Mapping):
            raise _fail(index, "is not an object")
        predicate_type = item.get("predicateType")
        if not isinstance(predicate_type, str) or not predicate_type:
            raise _fail(index, "has no predicateType")
        try:
            bundle = Bundle.from_dict(item.get("bundle"))
        except AssayError as exc:
            raise _fail(index, f"the bundle is malformed: {exc.message}", **exc.details) from exc
        envelope = bundle.dsse_envelope
        if envelope is None:
            raise _fail(index, "the bundle does not sign a DSSE envelope")
        keyid = envelope.signatures[0].keyid
        key: RegistryKey | None = None
        if keyid:
            key = registry_keys.get(keyid)
            if key is None:
                raise _fail(
                    index,
                    f"{name}@{version} has attestations with keyid: {keyid} but no "
                    "corresponding public key can be found",
                    code="EMISSINGSIGNATUREKEY",
                )
            hint = bundle.public_key_hint
            if hint is not None and hint != keyid:
                raise _fail(index, f"the bundle's key hint {hint!r} differs from keyid {keyid!r}")
            entries = bundle.tlog_entries
            if entries and entries[0].integrated_time:
                integrated = datetime.fromtimestamp(entries[0].integrated_time, UTC)
                if not key.valid_at(integrated):
                    raise _fail(
                        index,
                        f"{name}@{version} has attestations with keyid: {keyid} but the "
                        f"corresponding public key has expired {key.expires}",
                        code="EEXPIREDSIGNATUREKEY",
                    )
        try:
            result = verifier.verify(bundle, public_key=None if key is None else key.public_key)
            subject.verify(result)
        except VerificationError as exc:
            code = "EATTESTATIONSUBJECT" if exc.details.get("step") == "policy" else None
            raise _fail(
                index,
                f"{predicate_type}: {exc.message}",
                code=code or "EATTESTATIONVERIFY",
                predicate_type=predicate_type,
                failed_step=exc.details.get("step"),
            ) from exc
        if key is not None and bundle.tlog_entries and not bundle.tlog_entries[0].integrated_time:
            # A Rekor v2 entry has no integrated time: npm's expiry rule is applied to the
            # times the verifier did verify (the TSA's), every one of them; none is a failure.
            times = result.verified_times
            if not times or not all(key.valid_at(moment) for moment in times):
                raise _fail(
                    index,
                    f"{name}@{version} has attestations with keyid: {keyid} but the "
                    f"corresponding public key has expired {key.expires}",
                    code="EEXPIREDSIGNATUREKEY",
                )
        statement = result.statement
        if statement is None or statement.predicate_type != predicate_type:
            raise _fail(
                index,
                f"the statement's predicate type is not {predicate_type!r}",
                code="EATTESTATIONSUBJECT",
            )
        if predicate_type == PUBLISH_PREDICATE_TYPE:
            # The registry vouches for this name and version (npm/attestation publish v0.1).
            try:
                predicate = PublishPredicate.from_statement(statement)
            except StatementError as exc:
                raise _fail(index, exc.message, code="EATTESTATIONSUBJECT") from exc
            if (predicate.name, predicate.version) != (name, version):
                raise _fail(
                    index,
                    f"the publish attestation is for {predicate.name}@{predicate.version}",
                    code="EATTESTATIONSUBJECT",
                )
        if provenance_policy is not None and predicate_type in SLSA_PREDICATE_TYPES:
            try:
                provenance_policy.verify(result)
            except VerificationError as exc:
                raise _fail(index, exc.message, failed_step="policy") from exc
        verified.append(VerifiedAttestation(predicate_type, result, key))
    return AttestationsResult(name, version, integrity, tuple(verified))
