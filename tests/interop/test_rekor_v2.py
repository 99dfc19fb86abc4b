"""Rekor v2 and the timestamp authority against the real clients.

sigstore-python signs through `assay up` with ``--rekor-version 2`` (and, by default, picks v2
itself from the signing config): a certificate from our CA, an RFC 3161 timestamp from our TSA
over the signature, a ``hashedrekord`` 0.0.2 entry from our log's v2 API. sigstore-python and
sigstore-js must verify the bundle against our trusted root; tampering with the timestamp, the
checkpoint or the inclusion proof must make both refuse. The TSA's own API is checked with
rfc3161-client (what sigstore-python uses) and OpenSSL.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rfc3161_client import TimestampRequestBuilder, VerifierBuilder, decode_timestamp_response
from rfc3161_client.base import HashAlgorithm

from assay.sign.config import SigningConfig
from assay.sign.errors import SigningError
from assay.sign.signer import sign_artifact
from tests.assay_up import Instance
from tests.interop.test_sign import assay, copy_package, job_env, py_verify_dsse
from tests.interop.test_sigstore_clients import (
    GITHUB_SAN,
    SLSA_V1,
    ci_job,
    fetch_token,
    js_verify,
    py_verify,
    sigstore,
)


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    return assay_up


@pytest.fixture(scope="module")
def trust(instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trust-v2")
    paths = {}
    for name in ("client_trust_config.json", "trusted_root.json", "signing_config.json"):
        paths[name] = folder / name
        paths[name].write_bytes(httpx.get(f"{instance.url}/-/trust/{name}").content)
    return paths


@pytest.fixture(scope="module")
def signed_v2(
    instance: Instance, trust: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """A file signed with ``--rekor-version 2`` and attested with the config's own choice."""
    folder = tmp_path_factory.mktemp("signed-v2")
    artifact = folder / "widget-2.0.0.tgz"
    artifact.write_bytes(b"pretend tarball, signed through Rekor v2\n")
    env = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    bundle = folder / "sign.sigstore.json"
    done = sigstore(
        trust["client_trust_config.json"],
        "sign",
        "--rekor-version",
        "2",
        "--identity-token",
        fetch_token(env),
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert done.returncode == 0, done.stderr
    predicate = folder / "predicate.json"
    predicate.write_text(
        json.dumps(
            {
                "buildDefinition": {
                    "buildType": "https://example.test/v1",
                    "externalParameters": {},
                },
                "runDetails": {"builder": {"id": "https://example.test/builder"}},
            }
        )
    )
    attestation = folder / "attest.sigstore.json"
    # No --rekor-version: sigstore-python takes the highest log API our signing config lists.
    done = sigstore(
        trust["client_trust_config.json"],
        "attest",
        "--predicate-type",
        SLSA_V1,
        "--predicate",
        str(predicate),
        "--identity-token",
        fetch_token(env),
        "--bundle",
        str(attestation),
        str(artifact),
    )
    assert done.returncode == 0, done.stderr
    return {"artifact": artifact, "sign": bundle, "attest": attestation}


def test_sigstore_python_signs_through_rekor_v2_and_the_tsa(
    instance: Instance, signed_v2: dict[str, Path]
) -> None:
    for kind in ("sign", "attest"):
        bundle = json.loads(signed_v2[kind].read_text())
        material = bundle["verificationMaterial"]
        (entry,) = material["tlogEntries"]
        assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}, kind
        assert entry.get("integratedTime", "0") == "0"
        assert "inclusionPromise" not in entry
        assert entry["inclusionProof"]["checkpoint"]["envelope"]
        body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
        assert body["apiVersion"] == "0.0.2"
        assert list(body["spec"]) == ["hashedRekordV002"]
        (timestamp,) = material["timestampVerificationData"]["rfc3161Timestamps"]
        response = decode_timestamp_response(base64.b64decode(timestamp["signedTimestamp"]))
        assert response.status == 0


def test_both_clients_verify_the_v2_bundles(
    instance: Instance, trust: dict[str, Path], signed_v2: dict[str, Path]
) -> None:
    issuer = f"{instance.url}/-/oidc"
    for kind in ("sign", "attest"):
        done = py_verify(
            trust["client_trust_config.json"],
            signed_v2[kind],
            signed_v2["artifact"],
            GITHUB_SAN,
            issuer,
        )
        assert done.returncode == 0, (kind, done.stderr)
    result = js_verify(
        trust["trusted_root.json"],
        signed_v2["sign"],
        str(signed_v2["artifact"]),
        GITHUB_SAN,
        issuer,
    )
    assert result == {"ok": True, "san": GITHUB_SAN, "issuer": issuer}


def _tampered(bundle: dict[str, Any], what: str) -> dict[str, Any]:
    copied = copy.deepcopy(bundle)
    material = copied["verificationMaterial"]
    entry = material["tlogEntries"][0]
    if what == "timestamp":
        stamp = bytearray(
            base64.b64decode(
                material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
            )
        )
        stamp[-10] ^= 0x01  # inside the ECDSA signature
        material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] = (
            base64.b64encode(bytes(stamp)).decode()
        )
    elif what == "no-timestamp":
        material["timestampVerificationData"] = {"rfc3161Timestamps": []}
    elif what == "checkpoint":
        envelope = entry["inclusionProof"]["checkpoint"]["envelope"]
        lines = envelope.split("\n")
        lines[1] = str(int(lines[1]) + 1)  # the tree size the log signed
        entry["inclusionProof"]["checkpoint"]["envelope"] = "\n".join(lines)
    elif what == "proof":
        # A sibling hash changed, or one too many: the path no longer leads to the root.
        hashes = entry["inclusionProof"]["hashes"]
        if hashes:
            first = bytearray(base64.b64decode(hashes[0]))
            first[0] ^= 0x01
            hashes[0] = base64.b64encode(bytes(first)).decode()
        else:
            hashes.append(base64.b64encode(b"\x00" * 32).decode())
    elif what == "index":
        entry["inclusionProof"]["logIndex"] = str(int(entry["inclusionProof"]["logIndex"]) + 1)
        entry["logIndex"] = entry["inclusionProof"]["logIndex"]
    return copied


@pytest.mark.parametrize("what", ["timestamp", "no-timestamp", "checkpoint", "proof", "index"])
def test_both_clients_refuse_a_tampered_v2_bundle(
    instance: Instance,
    trust: dict[str, Path],
    signed_v2: dict[str, Path],
    tmp_path: Path,
    what: str,
) -> None:
    issuer = f"{instance.url}/-/oidc"
    bundle = json.loads(signed_v2["sign"].read_text())
    path = tmp_path / f"{what}.sigstore.json"
    path.write_text(json.dumps(_tampered(bundle, what)))
    done = py_verify(
        trust["client_trust_config.json"], path, signed_v2["artifact"], GITHUB_SAN, issuer
    )
    assert done.returncode != 0, what
    assert not js_verify(
        trust["trusted_root.json"], path, str(signed_v2["artifact"]), GITHUB_SAN, issuer
    )["ok"]


def test_signing_config_lists_both_log_apis_and_the_tsa(
    instance: Instance, trust: dict[str, Path]
) -> None:
    config = json.loads(trust["signing_config.json"].read_text())
    assert config["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    logs = {(log["url"], log["majorApiVersion"]) for log in config["rekorTlogUrls"]}
    assert logs == {(f"{instance.url}/-/tlog", 1), (f"{instance.url}/-/tlog", 2)}
    assert [tsa["url"] for tsa in config["tsaUrls"]] == [f"{instance.url}/-/tsa/api/v1/timestamp"]
    assert config["rekorTlogConfig"] == config["tsaConfig"] == {"selector": "ANY"}
    root = json.loads(trust["trusted_root.json"].read_text())
    (tsa,) = root["timestampAuthorities"]
    assert tsa["uri"] == f"{instance.url}/-/tsa/api/v1/timestamp"
    assert len(tsa["certChain"]["certificates"]) == 2
    assert tsa["validFor"]["start"]


def test_the_tsa_speaks_rfc3161(instance: Instance, trust: dict[str, Path], tmp_path: Path) -> None:
    url = f"{instance.url}/-/tsa/api/v1/timestamp"
    pem = httpx.get(f"{url}/certchain")
    assert pem.status_code == 200
    leaf, root = x509.load_pem_x509_certificates(pem.content)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    message = b"the bytes of a signature"
    request = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA512).data(message).build()
    answer = httpx.post(
        url, content=request.as_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    response = decode_timestamp_response(answer.content)
    assert response.tst_info.nonce == request.nonce
    assert response.tst_info.message_imprint.message == request.message_imprint.message
    assert len(response.signed_data.certificates) == 1  # certReq TRUE: the TSA certificate
    verifier = VerifierBuilder().tsa_certificate(leaf).add_root_certificate(root).build()
    assert verifier.verify_message(response, message)
    # OpenSSL's own RFC 3161 verifier (ESS signing-certificate binding, EKU, chain) agrees.
    (tmp_path / "reply.tsr").write_bytes(answer.content)
    (tmp_path / "message").write_bytes(message)
    for name, certificate in (("leaf.pem", leaf), ("root.pem", root)):
        (tmp_path / name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    openssl = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-in",
            str(tmp_path / "reply.tsr"),
            "-data",
            str(tmp_path / "message"),
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Verification: OK" in openssl.stdout, openssl.stderr
    # sigstore-js's JSON form.
    digest = base64.b64encode(hashlib.sha256(message).digest()).decode()
    answer = httpx.post(url, json={"artifactHash": digest, "hashAlgorithm": "sha256"})
    assert answer.status_code == 200
    assert decode_timestamp_response(answer.content).tst_info.nonce is None


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\x30\x03\x02\x01\x01", "application/timestamp-query", 400),  # no messageImprint
        (b"not der at all", "application/timestamp-query", 400),
        # SHA-1 (weak) and MD5 (unknown) imprints.
        (
            bytes.fromhex("30220201013019300906052b0e03021a05000414") + b"\x00" * 20,
            "application/timestamp-query",
            400,
        ),
        (
            bytes.fromhex("3024020101301b300c06082a864886f70d020505000410") + b"\x00" * 16,
            "application/timestamp-query",
            400,
        ),
        (b"{}", "text/plain", 415),
        (b"x" * 9000, "application/timestamp-query", 413),
    ],
)
def test_the_tsa_refuses_bad_requests(
    instance: Instance, body: bytes, content_type: str, status: int
) -> None:
    answer = httpx.post(
        f"{instance.url}/-/tsa/api/v1/timestamp",
        content=body,
        headers={"Content-Type": content_type},
    )
    assert answer.status_code == status
    assert answer.json()["code"] == status
    assert answer.json()["message"]


def test_the_v2_api_refuses_a_bad_signature(instance: Instance, signed_v2: dict[str, Path]) -> None:
    bundle = json.loads(signed_v2["sign"].read_text())
    body = json.loads(
        base64.b64decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
    )
    spec = body["spec"]["hashedRekordV002"]
    digest = bytearray(base64.b64decode(spec["data"]["digest"]))
    digest[0] ^= 1
    request = {
        "hashedRekordRequestV002": {
            "digest": base64.b64encode(bytes(digest)).decode(),
            "signature": spec["signature"],
        }
    }
    before = httpx.get(f"{instance.url}/-/tlog/api/v2/checkpoint").text
    answer = httpx.post(f"{instance.url}/-/tlog/api/v2/log/entries", json=request)
    assert answer.status_code == 400
    assert "does not verify" in answer.json()["message"]
    # The same request, unaltered, is answered idempotently with the existing entry.
    request["hashedRekordRequestV002"]["digest"] = spec["data"]["digest"]
    again = httpx.post(f"{instance.url}/-/tlog/api/v2/log/entries", json=request)
    assert again.status_code == 200, again.text
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    assert again.json()["logIndex"] == entry["logIndex"]
    assert again.json()["canonicalizedBody"] == entry["canonicalizedBody"]
    assert (
        before.split("\n")[0]
        == httpx.get(f"{instance.url}/-/tlog/api/v2/checkpoint").text.split("\n")[0]
    )


# --- our own signer through Rekor v2 -----------------------------------------------------------


def test_assay_provenance_with_rekor_v2_verifies_in_npms_verifier(
    instance: Instance, trust: dict[str, Path], tmp_path: Path
) -> None:
    package = copy_package("scoped", tmp_path)
    job = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    output = tmp_path / "v2.sigstore"
    done = assay(
        "provenance",
        str(package),
        "--instance",
        instance.url,
        "--rekor-version",
        "2",
        "--output",
        str(output),
        env=job_env(job, tmp_path / "home"),
    )
    assert done.returncode == 0, done.stderr
    assert "(Rekor v2)" in done.stderr
    bundle = json.loads(output.read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    material = bundle["verificationMaterial"]
    (entry,) = material["tlogEntries"]
    # dsse 0.0.2, as @sigstore/sign logs DSSE through Rekor v2: what npm's verifier
    # (@sigstore/verify 3.x) accepts; sigstore-python 4.x accepts only hashedrekord-over-DSSE.
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.2"}
    assert entry["integratedTime"] == "0"
    assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    issuer = f"{instance.url}/-/oidc"
    result = js_verify(trust["trusted_root.json"], output, "-", GITHUB_SAN, issuer)
    assert result == {"ok": True, "san": GITHUB_SAN, "issuer": issuer}
    with pytest.raises(Exception, match=r"dsse|0\.0\.2"):
        py_verify_dsse(trust["trusted_root.json"], output.read_text(), GITHUB_SAN, issuer)


def test_assay_signs_artifacts_through_rekor_v2(
    instance: Instance, trust: dict[str, Path], tmp_path: Path
) -> None:
    env = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(b"an artifact signed by assay through Rekor v2\n")
    config = SigningConfig.fetch(instance.url)
    bundle = sign_artifact(artifact.read_bytes(), fetch_token(env), config, rekor_version=2)
    path = tmp_path / "artifact.sigstore.json"
    path.write_text(bundle.to_json())
    issuer = f"{instance.url}/-/oidc"
    done = py_verify(trust["client_trust_config.json"], path, artifact, GITHUB_SAN, issuer)
    assert done.returncode == 0, done.stderr
    assert js_verify(trust["trusted_root.json"], path, str(artifact), GITHUB_SAN, issuer)["ok"]


def test_rekor_v2_needs_a_tsa_in_the_signing_config(instance: Instance) -> None:
    config = SigningConfig.fetch(instance.url)
    without_tsa = SigningConfig(config.ca_url, config.tlog_url, tlog_v2_url=config.tlog_v2_url)
    env = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    with pytest.raises(SigningError, match="timestamp authority"):
        sign_artifact(b"x", fetch_token(env), without_tsa, rekor_version=2)


def test_assay_verify_accepts_the_v2_bundles(
    instance: Instance, trust: dict[str, Path], signed_v2: dict[str, Path]
) -> None:
    """`assay conformance verify-bundle` (the one verification path, as the conformance suite
    runs it) accepts what sigstore-python made through Rekor v2 and our TSA."""
    digest = hashlib.sha256(signed_v2["artifact"].read_bytes()).hexdigest()
    for kind, target in (("sign", str(signed_v2["artifact"])), ("attest", f"sha256:{digest}")):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "assay",
                "conformance",
                "verify-bundle",
                "--bundle",
                str(signed_v2[kind]),
                "--certificate-identity",
                GITHUB_SAN,
                "--certificate-oidc-issuer",
                f"{instance.url}/-/oidc",
                "--trusted-root",
                str(trust["trusted_root.json"]),
                target,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (kind, done.stderr)
