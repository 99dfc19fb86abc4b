"""Shared material for the CA tests: a fresh CA and token claim sets shaped like the real ones.

The GitHub claim set is the one the public-good Fulcio leaf in
tests/fixtures/npm-real/slsa-verifier/provenance-npm-test-cli-v1-prega.tgz.json records
(sigstore/sigstore-js release workflow, May 2024); the GitLab set follows GitLab's documented
ID token claims (docs.gitlab.com/ci/secrets/id_token_authentication).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore._internal.trust import CTKeyring, Keyring
from sigstore_models.common import v1 as common_v1

from assay.ca.authority import CertificateAuthority
from assay.ca.chain import create_ca_chain
from assay.ca.extensions import GITHUB_ACTIONS_ISSUER, GITLAB_ISSUER, IssuerProfile
from assay.keys import Curve, generate_ec
from tests.npm_real import ROOT, attestations

EMAIL_ISSUER = "https://accounts.example.com"
URI_ISSUER = "https://login.example.com"
CA_CREATED = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 5, 16, 17, 12, 2, 345_000, tzinfo=UTC)

SHA = "46e7056ff9912ebfee5298d94024895a9fea76c0"
GITHUB_CLAIMS: dict[str, Any] = {
    "iss": GITHUB_ACTIONS_ISSUER,
    "aud": "sigstore",
    "sub": "repo:sigstore/sigstore-js:ref:refs/heads/main",
    "repository": "sigstore/sigstore-js",
    "repository_id": "495574555",
    "repository_owner": "sigstore",
    "repository_owner_id": "71096353",
    "repository_visibility": "public",
    "workflow": "Release",
    "workflow_ref": "sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
    "workflow_sha": SHA,
    "job_workflow_ref": "sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
    "job_workflow_sha": SHA,
    "sha": SHA,
    "ref": "refs/heads/main",
    "ref_type": "branch",
    "event_name": "push",
    "runner_environment": "github-hosted",
    "run_id": "9116405766",
    "run_attempt": "1",
}

GITLAB_CLAIMS: dict[str, Any] = {
    "iss": GITLAB_ISSUER,
    "aud": "sigstore",
    "sub": "project_path:mygroup/myproject:ref_type:branch:ref:main",
    "namespace_id": "72",
    "namespace_path": "mygroup",
    "project_id": "20",
    "project_path": "mygroup/myproject",
    "project_visibility": "public",
    "pipeline_id": "574",
    "pipeline_source": "push",
    "job_id": "302",
    "ref": "main",
    "ref_type": "branch",
    "ref_protected": "true",
    "environment": "production",
    "runner_environment": "gitlab-hosted",
    "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
    "ci_config_ref_uri": "gitlab.com/mygroup/myproject//.gitlab-ci.yml@refs/heads/main",
    "ci_config_sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
}

EMAIL_CLAIMS: dict[str, Any] = {
    "iss": EMAIL_ISSUER,
    "aud": "sigstore",
    "sub": "12345",
    "email": "dev@example.com",
    "email_verified": True,
}

URI_CLAIMS: dict[str, Any] = {
    "iss": URI_ISSUER,
    "aud": "sigstore",
    "sub": "https://example.com/users/dev",
}

PROFILES = (
    IssuerProfile(GITHUB_ACTIONS_ISSUER, "github"),
    IssuerProfile(GITLAB_ISSUER, "gitlab"),
    IssuerProfile(EMAIL_ISSUER, "email"),
    IssuerProfile(URI_ISSUER, "uri", "https://example.com"),
)


@dataclass
class CountingClock:
    """A fixed clock that counts its reads: the CA reads it once per certificate it issues."""

    now: datetime = NOW
    reads: int = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.now


@dataclass
class TestCA:
    """A CA with its keys in reach, for tests."""

    __test__ = False

    authority: CertificateAuthority
    root: x509.Certificate
    intermediate: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    clock: CountingClock = field(default_factory=CountingClock)


def make_ca(
    profiles: Iterable[IssuerProfile] = PROFILES,
    curve: Curve = "P-384",
    clock: Callable[[], datetime] | None = None,
) -> TestCA:
    """A fresh root, intermediate, CT key and authority valid around :data:`NOW`."""
    root_key, intermediate_key, ct_key = generate_ec(curve), generate_ec(curve), generate_ec()
    root, intermediate = create_ca_chain(root_key, intermediate_key, "assay-test", CA_CREATED)
    counting = CountingClock()
    authority = CertificateAuthority(
        root, intermediate, intermediate_key, ct_key, profiles, clock or counting
    )
    return TestCA(authority, root, intermediate, ct_key, counting)


# --- the real public-good Fulcio leaf and the trust material it chains to -------------------------

REAL_BUNDLE = ROOT / "slsa-verifier" / "provenance-npm-test-cli-v1-prega.tgz.json"
PUBLIC_GOOD_ROOT = ROOT / "public-good" / "sigstore-js-main" / "targets" / "trusted_root.json"


def real_fulcio_leaf() -> x509.Certificate:
    """The leaf of the SLSA provenance bundle (public-good Fulcio, 16 May 2024)."""
    for attestation in attestations(REAL_BUNDLE):
        material = attestation["bundle"]["verificationMaterial"]
        if "x509CertificateChain" in material:
            raw = material["x509CertificateChain"]["certificates"][0]["rawBytes"]
            return x509.load_der_x509_certificate(base64.b64decode(raw))
    raise AssertionError("the fixture has no certificate chain")


def public_good_intermediate(leaf: x509.Certificate) -> x509.Certificate:
    """The public-good intermediate whose SKI is ``leaf``'s AKI."""
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    trusted_root = json.loads(PUBLIC_GOOD_ROOT.read_text(encoding="utf-8"))
    for authority in trusted_root["certificateAuthorities"]:
        for entry in authority["certChain"]["certificates"]:
            certificate = x509.load_der_x509_certificate(base64.b64decode(entry["rawBytes"]))
            try:
                ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == aki.key_identifier:
                return certificate
    raise AssertionError("no public-good intermediate issued the leaf")


def public_good_ct_keys() -> list[bytes]:
    """DER SPKIs of the public-good CT logs."""
    trusted_root = json.loads(PUBLIC_GOOD_ROOT.read_text(encoding="utf-8"))
    return [base64.b64decode(log["publicKey"]["rawBytes"]) for log in trusted_root["ctlogs"]]


def ct_keyring(*spkis: bytes) -> CTKeyring:
    """The keyring sigstore-python builds from ``trusted_root.ctlogs`` (models.ct_keyring)."""
    keys = [
        common_v1.PublicKey.model_validate_json(
            json.dumps(
                {
                    "rawBytes": base64.b64encode(spki).decode(),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                }
            )
        )
        for spki in spkis
    ]
    return CTKeyring(Keyring(keys))
