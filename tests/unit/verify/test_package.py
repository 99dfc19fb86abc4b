"""assay.verify.package: the default-trust rule and the checks of name@version, on real npm data
(sigstore@1.0.0 as registry.npmjs.org serves it: its registry signature and attestations)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from assay.errors import VerificationError
from assay.provenance.subject import Digest
from assay.verify import NpmProvenancePolicy, RegistryKeys, TrustedRoot, Verifier
from assay.verify.package import (
    PackageVersion,
    Served,
    attestations_url,
    registry_trust,
    trust_plan,
    verify_package,
)
from tests.npm_real import ROOT
from tests.unit.verify.fixtures import TRUSTED_ROOT, responses

SIGSTORE = next(r for r in responses() if r.name == "sigstore" and r.version == "1.0.0")
TAMPERED = next(r for r in responses() if r.negative)
AUDIT = json.loads((ROOT / "npm-cli" / "registry-signatures-from-audit-test.json").read_text())
SIGNED = next(e for e in AUDIT["entries"] if e["name"] == "sigstore")
KEYS = RegistryKeys.from_dict({"keys": [AUDIT["key"]]})
VERIFIER = Verifier(TrustedRoot.from_file(TRUSTED_ROOT))
PROVENANCE = "https://slsa.dev/provenance/v0.2"


def packument() -> dict[str, Any]:
    return {
        "name": "sigstore",
        "time": {"1.0.0": "2023-02-09T17:56:03.000Z"},
        "versions": {
            "1.0.0": {
                "name": "sigstore",
                "version": "1.0.0",
                "_id": "sigstore@1.0.0",
                "dist": {
                    "integrity": SIGNED["integrity"],
                    "tarball": SIGNED["tarball"],
                    "signatures": [{"keyid": SIGNED["keyid"], "sig": SIGNED["sig"]}],
                    "attestations": {
                        "url": "https://registry.npmjs.org/-/npm/v1/attestations/sigstore@1.0.0",
                        "provenance": {"predicateType": PROVENANCE},
                    },
                },
            }
        },
    }


def found(document: dict[str, Any] | None = None) -> PackageVersion:
    return PackageVersion.from_packument(document or packument(), "sigstore", "1.0.0")


def failure(document: dict[str, Any], **options: Any) -> VerificationError:
    options.setdefault("verifier", VERIFIER)
    options.setdefault("keys", KEYS)
    attestations = options.pop("attestations", SIGSTORE.data)
    with pytest.raises(VerificationError) as raised:
        verify_package(found(document), attestations, **options)
    return raised.value


# --- default trust -------------------------------------------------------------------------------


def test_npmjs_uses_the_public_good_material() -> None:
    plan = trust_plan("https://registry.npmjs.org/")
    assert (plan.keys_url, plan.trusted_root_url) == (None, None)
    trust = registry_trust("https://registry.npmjs.org/")
    assert trust.trusted_root is TrustedRoot.public_good()
    assert trust.keys is RegistryKeys.npmjs()


def test_other_registries_serve_their_own_trust() -> None:
    plan = trust_plan("http://127.0.0.1:4873/npm/")
    assert plan.keys_url == "http://127.0.0.1:4873/npm/-/npm/v1/keys"
    assert plan.trusted_root_url == "http://127.0.0.1:4873/-/trust/trusted_root.json"
    served_root = Served(plan.trusted_root_url, 200, TRUSTED_ROOT.read_bytes())
    served_keys = Served(plan.keys_url, 200, json.dumps({"keys": [AUDIT["key"]]}).encode())
    trust = registry_trust(
        "http://127.0.0.1:4873/npm/", served_keys=served_keys, served_root=served_root
    )
    assert trust.trusted_root is not TrustedRoot.public_good()
    assert trust.trusted_root.tlogs == TrustedRoot.from_file(TRUSTED_ROOT).tlogs
    assert trust.keys is not None
    assert trust.keys.get(AUDIT["key"]["keyid"]) is not None


def test_a_registry_without_keys_or_root() -> None:
    registry = "http://127.0.0.1:4873"
    plan = trust_plan(registry)
    assert plan.keys_url is not None
    assert plan.trusted_root_url is not None
    for status in (400, 404):  # npm: "this registry has no keys"
        trust = registry_trust(
            registry,
            served_keys=Served(plan.keys_url, status, b""),
            served_root=Served(plan.trusted_root_url, 404, b""),
        )
        assert trust.keys is None
        assert trust.trusted_root is TrustedRoot.public_good()
    with pytest.raises(VerificationError, match="HTTP 500"):
        registry_trust(registry, served_keys=Served(plan.keys_url, 500, b""))


def test_given_trust_replaces_the_default() -> None:
    root = TrustedRoot.from_file(TRUSTED_ROOT)
    plan = trust_plan("http://127.0.0.1:4873", registry_keys=KEYS, trusted_root=root)
    assert (plan.keys_url, plan.trusted_root_url) == (None, None)
    trust = registry_trust("https://registry.npmjs.org", registry_keys=KEYS, trusted_root=root)
    assert (trust.trusted_root, trust.keys) == (root, KEYS)


def test_attestations_are_fetched_from_the_registry_by_path() -> None:
    declared = "https://elsewhere.example/-/npm/v1/attestations/sigstore@1.0.0"
    assert (
        attestations_url("http://127.0.0.1:4873", declared)
        == "http://127.0.0.1:4873/-/npm/v1/attestations/sigstore@1.0.0"
    )


# --- the checks ----------------------------------------------------------------------------------


def test_a_real_version_verifies() -> None:
    verified = verify_package(found(), SIGSTORE.data, verifier=VERIFIER, keys=KEYS)
    assert verified.signatures == "verified"
    assert [k.keyid for k in verified.signature_keys] == [SIGNED["keyid"]]
    assert verified.attestations is not None
    assert verified.provenance is not None
    assert verified.integrity == SIGNED["integrity"]
    policy = NpmProvenancePolicy(
        "sigstore",
        "1.0.0",
        Digest.from_sri(SIGNED["integrity"]),
        repository="github.com/sigstore/sigstore-js",
    )
    verify_package(found(), SIGSTORE.data, verifier=VERIFIER, keys=KEYS, provenance_policy=policy)


def test_without_keys_or_attestations_those_checks_are_skipped() -> None:
    verified = verify_package(found(), None, verifier=VERIFIER, keys=None)
    assert (verified.signatures, verified.attestations) == ("unchecked", None)
    document = packument()
    del document["versions"]["1.0.0"]["dist"]["signatures"]
    assert verify_package(found(document), None, verifier=VERIFIER, keys=KEYS).signatures == (
        "missing"
    )


def test_manifest_failures() -> None:
    assert failure({"versions": {}}).details == {"code": "ETARGET", "kind": "manifest"}
    renamed = packument()
    renamed["versions"]["1.0.0"]["_id"] = "other@1.0.0"
    assert failure(renamed).details == {"code": "EMANIFESTMISMATCH", "kind": "manifest"}
    no_integrity = packument()
    del no_integrity["versions"]["1.0.0"]["dist"]["integrity"]
    assert failure(no_integrity).details["code"] == "EINTEGRITYMISMATCH"
    installed = failure(packument(), installed_integrity="sha512-" + "A" * 86 + "==")
    assert installed.details == {"code": "EINTEGRITYMISMATCH", "kind": "signature"}


def test_a_bad_registry_signature() -> None:
    document = packument()
    other = AUDIT["entries"][0]["sig"]
    document["versions"]["1.0.0"]["dist"]["signatures"][0]["sig"] = other
    error = failure(document)
    assert error.details["code"] == "EINTEGRITYSIGNATURE"
    assert error.details["kind"] == "signature"
    assert (error.details["keyid"], error.details["sig"]) == (SIGNED["keyid"], other)
    unknown = failure(packument(), keys=RegistryKeys(()))
    assert unknown.details["code"] == "EMISSINGSIGNATUREKEY"


def test_bad_attestations() -> None:
    tampered = copy.deepcopy(SIGSTORE.data)
    tampered["attestations"] = TAMPERED.data["attestations"]
    error = failure(packument(), attestations=tampered)
    assert error.details["kind"] == "attestation"
    assert str(error.details["code"]).startswith("EATTESTATION")
    policy = NpmProvenancePolicy(
        "sigstore", "1.0.0", Digest.from_sri(SIGNED["integrity"]), repository="github.com/evil/x"
    )
    refused = failure(packument(), provenance_policy=policy)
    assert refused.details["kind"] == "attestation"
    assert "repository" in refused.message
    # A policy needs provenance: a version with none fails it.
    missing = failure(packument(), attestations=None, provenance_policy=policy)
    assert "no provenance attestation" in missing.message
