"""`assay check`: is everything the instance stores still true and whole?

1. **Blobs against rows.** Every blob a live row names exists and hashes to the row's integrity
   (sha512, the SRI npm installs check). A live row without its blob is an *error*; a blob no
   row names (an orphan: a crashed or refused publish) is a *warning* — `assay gc` collects it.
2. **Attestations.** Every stored attestation verifies with the one verification path
   (:func:`assay.verify.attestations.verify_attestations`): a provenance bundle against the
   trusted roots the registry accepts provenance from, the registry's publish attestation
   against the registry's keys and the instance's log.
3. **The log.** The entries recompute to the latest checkpoint's root hash (RFC 9162 §2.1.1),
   every entry's ID is its leaf hash, every stored subtree hash is the one the entries give,
   every stored checkpoint carries a valid signature of the log key and is consistent with the
   latest (a consistency proof from the recomputed tree verifies: RFC 9162 §2.1.4.2) — so a
   client holding any checkpoint the log ever served can still be proven an extension of it.
4. **The registry's log entries.** Every log entry the registry key signed is the publish
   attestation of a version in the database (its DSSE payload hash matches that version's
   publish statement). A version whose publish attestation is not stored yet is a *warning*:
   the registry logs it after the version commits and completes it when it is next read
   (registry/attestations.py), so a crash in between leaves exactly that.

The report is a list of findings; the exit code is non-zero when any is an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization

from assay.errors import AssayError
from assay.instance.material import InstanceMaterial
from assay.instance.trust import trusted_root
from assay.keys import public_of, spki_der
from assay.operations.site import Site
from assay.provenance.publish import PUBLISH_PREDICATE_TYPE, publish_statement
from assay.provenance.subject import Digest
from assay.registry.signing import RegistryKeys as SigningKeys
from assay.transparency.checkpoint import verify_checkpoint
from assay.transparency.merkle import (
    MemoryTree,
    NodeId,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)
from assay.verify.attestations import verify_attestations
from assay.verify.trust import RegistryKeys, TrustedRoot
from assay.verify.verifier import Verifier

__all__ = ["CheckReport", "Finding", "check"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    kind: str
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def add(self, severity: Severity, kind: str, subject: str, message: str) -> None:
        self.findings.append(Finding(severity, kind, subject, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": self.counts,
            "findings": [f.to_json() for f in self.findings],
        }

    def lines(self) -> Iterator[str]:
        for name, value in self.counts.items():
            yield f"{name}: {value}"
        for finding in self.findings:
            yield f"{finding.severity}: {finding.kind}: {finding.subject}: {finding.message}"
        verdict = "ok" if self.ok else "FAILED"
        yield f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"


def _provenance_roots(site: Site, material: InstanceMaterial) -> list[Verifier]:
    roots = {
        "instance": lambda: TrustedRoot.from_dict(trusted_root(material, site.settings.origin)),
        "public-good": lambda: TrustedRoot.public_good(site.settings.trust_dir),
    }
    return [Verifier(roots[name]()) for name in site.settings.provenance_trusted_roots]


def check(site: Site) -> CheckReport:
    """Check the instance of `site` (read-only; safe while it serves)."""
    report = CheckReport()
    material = InstanceMaterial.load(site.data_dir)
    signing = SigningKeys.load_or_create(site.data_dir.keys)
    registry_keys = RegistryKeys.from_dict(signing.npm_keys())
    registry_spkis = {spki_der(key.public_key) for key in signing.all}
    instance_verifier = Verifier(
        TrustedRoot.from_dict(trusted_root(material, site.settings.origin))
    )
    provenance_verifiers = _provenance_roots(site, material) or [instance_verifier]

    referenced = _check_blobs(site, report)
    _check_orphans(site, report, referenced)
    publish_payloads = _check_attestations(
        site, report, instance_verifier, provenance_verifiers, registry_keys
    )
    _check_log(site, report, material, registry_spkis, publish_payloads)
    return report


# --- 1. blobs ---------------------------------------------------------------------------------


def _check_blobs(site: Site, report: CheckReport) -> set[str]:
    refs = site.inventory.blob_references()
    report.counts["blob references"] = len(refs)
    seen: dict[str, bytes | None] = {}
    for ref in refs:
        subject = f"{ref.table} {ref.row}"
        if ref.key not in seen:
            seen[ref.key] = site.blobs.get(ref.key)
        data = seen[ref.key]
        if data is None:
            report.add("error", "missing-blob", subject, f"its blob {ref.key} does not exist")
            continue
        if ref.integrity is None:
            continue
        try:
            digest = Digest.from_sri(ref.integrity)
        except AssayError as exc:
            report.add("error", "integrity", subject, f"unreadable integrity: {exc.message}")
            continue
        if hashlib.new(digest.algorithm, data).digest() != digest.value:
            report.add(
                "error", "integrity", subject, f"blob {ref.key} does not match {digest.algorithm}"
            )
    return set(seen)


def _check_orphans(site: Site, report: CheckReport, referenced: set[str]) -> None:
    count = size = 0
    for info in site.blobs.list():
        count += 1
        if info.key not in referenced:
            size += info.size
            report.add(
                "warning",
                "orphan-blob",
                info.key,
                f"no row names it ({info.size} bytes; `assay gc`)",
            )
    report.counts["blobs"] = count
    report.counts["orphan bytes"] = size


# --- 2. attestations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Publish:
    """What the registry's signed log entries may name: one version's publish statement."""

    subject: str
    live: bool
    stored: bool


def _payload_hash(bundle: object) -> str | None:
    try:
        payload = bundle["dsseEnvelope"]["payload"]  # type: ignore[index]
        return hashlib.sha256(base64.b64decode(payload, validate=True)).hexdigest()
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


def _records(text: str | None) -> list[Any]:
    try:
        records = json.loads(text or "[]")
    except ValueError:
        return []
    return records if isinstance(records, list) else []


def _publish_registry(bundle: object) -> str | None:
    try:
        payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])  # type: ignore[index]
        registry = json.loads(payload)["predicate"]["registry"]
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    return registry if isinstance(registry, str) else None


def _check_attestations(
    site: Site,
    report: CheckReport,
    instance_verifier: Verifier,
    provenance_verifiers: list[Verifier],
    registry_keys: RegistryKeys,
) -> dict[str, _Publish]:
    payloads: dict[str, _Publish] = {}
    checked = 0
    rows = list(site.inventory.version_attestations())
    # The registry URLs publish statements were made for: this instance's origin now, and any
    # it had before (a stored publish attestation names its registry).
    origins = {site.settings.origin.rstrip("/")}
    for row in rows:
        for record in _records(row.attestations):
            if isinstance(record, dict) and record.get("predicateType") == PUBLISH_PREDICATE_TYPE:
                registry = _publish_registry(record.get("bundle"))
                if registry:
                    origins.add(registry)
    for row in rows:
        subject = f"{row.package}@{row.version}"
        for origin in sorted(origins):
            try:
                expected = publish_statement(
                    row.package, row.version, origin, Digest.from_sri(row.integrity)
                ).to_json()
            except AssayError:
                break  # not an npm sha512 integrity: reported by the blob check if live
            payloads.setdefault(
                hashlib.sha256(expected).hexdigest(), _Publish(subject, row.live, stored=False)
            )
        if row.attestations is None:
            continue
        try:
            records = json.loads(row.attestations)
            if not isinstance(records, list):
                raise ValueError("not a list")
        except ValueError as exc:
            report.add("error", "attestation", subject, f"stored attestations unreadable: {exc}")
            continue
        publish = [r for r in records if r.get("predicateType") == PUBLISH_PREDICATE_TYPE]
        for record in publish:
            digest = _payload_hash(record.get("bundle"))
            if digest is not None:
                payloads[digest] = _Publish(subject, row.live, stored=True)
        if not row.live:
            continue  # a tombstone's attestations are kept, not served
        for record in records:
            checked += 1
            is_publish = record.get("predicateType") == PUBLISH_PREDICATE_TYPE
            verifiers = [instance_verifier] if is_publish else provenance_verifiers
            failure = None
            for verifier in verifiers:
                try:
                    verify_attestations(
                        {"attestations": [record]},
                        row.package,
                        row.version,
                        row.integrity,
                        verifier=verifier,
                        registry_keys=registry_keys,
                    )
                    failure = None
                    break
                except AssayError as exc:
                    failure = exc.message
            if failure is not None:
                report.add("error", "attestation", subject, failure)
        if records and not publish:
            report.add(
                "warning",
                "publish-attestation-pending",
                subject,
                "has provenance but no publish attestation yet (the registry signs and logs it "
                "after the version commits; it completes it when the attestations are read)",
            )
    report.counts["attestations verified"] = checked
    return payloads


# --- 3, 4. the log ----------------------------------------------------------------------------


def _registry_payload(body: bytes, registry_spkis: set[bytes]) -> str | None:
    """The payload hash of a dsse entry signed by a registry key, else None."""
    try:
        entry = json.loads(body)
        if entry.get("kind") != "dsse":
            return None
        spec = entry["spec"]
        for signature in spec["signatures"]:
            pem = base64.b64decode(signature["verifier"])
            key = serialization.load_pem_public_key(pem)
            if spki_der(key) in registry_spkis:  # type: ignore[arg-type]
                return str(spec["payloadHash"]["value"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return None


def _check_log(
    site: Site,
    report: CheckReport,
    material: InstanceMaterial,
    registry_spkis: set[bytes],
    publish_payloads: dict[str, _Publish],
) -> None:
    checkpoints = site.inventory.checkpoints()
    report.counts["checkpoints"] = len(checkpoints)
    if not checkpoints:
        report.counts["log entries"] = 0
        return
    latest = checkpoints[-1]
    leaves: list[bytes] = []
    registry_entries = 0
    for index, uuid, body in site.inventory.log_bodies(latest.tree_size):
        if index != len(leaves):
            break
        leaf = leaf_hash(body)
        leaves.append(leaf)
        if uuid != leaf.hex():
            report.add("error", "log-entry", f"entry {index}", "its ID is not its leaf hash")
        payload = _registry_payload(body, registry_spkis)
        if payload is None:
            continue
        registry_entries += 1
        version = publish_payloads.get(payload)
        if version is None:
            report.add(
                "error",
                "registry-entry-without-version",
                f"entry {index}",
                "signed by the registry key, but names no version in the database",
            )
        elif version.live and not version.stored:
            report.add(
                "warning",
                "publish-attestation-not-stored",
                version.subject,
                f"its publish attestation is logged (entry {index}) but not stored yet; the "
                "registry completes it when the version's attestations are next read",
            )
    report.counts["log entries"] = len(leaves)
    report.counts["registry log entries"] = registry_entries
    if len(leaves) != latest.tree_size:
        report.add(
            "error",
            "log-entries-missing",
            f"tree size {latest.tree_size}",
            f"only entries 0..{len(leaves) - 1} are stored contiguously",
        )
        return
    tree = MemoryTree(leaves)
    if tree.root != latest.root_hash:
        report.add(
            "error",
            "log-root",
            f"tree size {latest.tree_size}",
            "the entries do not recompute to the latest checkpoint's root hash",
        )
        return
    mismatched = stored = 0
    for level, node_index, value in site.inventory.log_nodes():
        stored += 1
        if (node_index + 1) << level > tree.size:
            mismatched += 1
            continue
        if tree.read_hashes([NodeId(level, node_index)])[0] != value:
            mismatched += 1
    expected_nodes = 2 * tree.size - bin(tree.size).count("1")
    if mismatched or stored != expected_nodes:
        report.add(
            "error",
            "log-nodes",
            f"tree size {tree.size}",
            f"{mismatched} stored subtree hash(es) differ from the entries; {stored} stored, "
            f"{expected_nodes} expected (proofs and tiles are served from them)",
        )
    public = public_of(material.tlog_key)
    for checkpoint in checkpoints:
        subject = f"checkpoint {checkpoint.tree_size}"
        try:
            signed = verify_checkpoint(checkpoint.note, None, public)
        except AssayError as exc:
            report.add("error", "checkpoint-signature", subject, exc.message)
            continue
        if (signed.size, signed.root_hash) != (checkpoint.tree_size, checkpoint.root_hash):
            report.add("error", "checkpoint", subject, "its note names another tree")
            continue
        try:
            proof = (
                consistency_proof(checkpoint.tree_size, tree.size, tree)
                if 0 < checkpoint.tree_size < tree.size
                else []
            )
            verify_consistency(
                checkpoint.tree_size, tree.size, proof, checkpoint.root_hash, tree.root
            )
        except AssayError as exc:
            report.add("error", "checkpoint-inconsistent", subject, exc.message)
