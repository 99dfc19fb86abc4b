"""The composed instance in-process: the CA trusts exactly the configured issuers, and refuses
every bad token with a 401 in Fulcio's shape while issuing nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.instance.app import create_instance_app
from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.setup import initialize
from assay.keys import generate_ec
from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer
from assay.settings import Settings
from tests.servers import loopback_socket, serve_app, socket_url


def _serve(tmp_path: Path, *, ci_emulation: bool) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "data"
    initialize(DataDir(data))
    sock = loopback_socket()
    url = socket_url(sock)
    settings = Settings(
        data_dir=data,
        public_url=url,
        oidc_trusted_issuers=("github-actions",),
        ci_emulation=ci_emulation,
    )
    with serve_app(create_instance_app(settings), sock) as served:
        yield served, data


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """With CI emulation on: the CA certifies the instance's own issuer too."""
    yield from _serve(tmp_path, ci_emulation=True)


@pytest.fixture
def without_emulation(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from _serve(tmp_path, ci_emulation=False)


def _request(token: str, key: ec.EllipticCurvePrivateKey, subject: str) -> dict[str, object]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    proof = key.sign(subject.encode(), ec.ECDSA(hashes.SHA256()))
    return {
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }


def test_configuration_lists_our_issuer_and_the_configured_ones(
    instance: tuple[str, Path],
) -> None:
    url, _ = instance
    issuers = httpx.get(f"{url}/api/v2/configuration").json()["issuers"]
    assert {i["issuerUrl"] for i in issuers} == {
        f"{url}/-/oidc",
        "https://token.actions.githubusercontent.com",
    }
    assert httpx.get(f"{url}/-/ca/api/v2/configuration").json()["issuers"] == issuers


def test_good_token_gets_a_certificate_and_bad_ones_get_401(instance: tuple[str, Path]) -> None:
    url, data = instance
    material = InstanceMaterial.load(DataDir(data))
    job = CIJob.github("acme/widget")
    claims = job.token_claims()
    subject = str(claims["sub"])
    now = datetime.now(UTC)

    def minted(
        clock: datetime,
        issuer_url: str = f"{url}/-/oidc",
        key: ec.EllipticCurvePrivateKey | None = None,
        audience: str = "sigstore",
    ) -> str:
        issuer = OIDCIssuer(issuer_url, key or material.oidc_key, clock=lambda: clock)
        return issuer.mint(claims, audience)

    leaf_key = generate_ec()
    good = httpx.post(f"{url}/api/v2/signingCert", json=_request(minted(now), leaf_key, subject))
    assert good.status_code == 200, good.text
    chain = good.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    assert len(chain) == 3

    bad_tokens = {
        "expired": minted(now - timedelta(hours=2)),
        "from the future": minted(now + timedelta(hours=2)),
        "wrong audience": minted(now, audience="other"),
        "unknown issuer": minted(now, issuer_url="https://issuer.example", key=generate_ec()),
        "our URL, wrong key": minted(now, key=generate_ec()),
    }
    for reason, token in bad_tokens.items():
        response = httpx.post(f"{url}/api/v2/signingCert", json=_request(token, leaf_key, subject))
        assert response.status_code == 401, (reason, response.text)
        assert response.json()["code"] == 16
    # Proof of possession by another key: refused too.
    wrong = _request(minted(now), leaf_key, subject)
    wrong["publicKeyRequest"]["proofOfPossession"] = base64.b64encode(  # type: ignore[index]
        generate_ec().sign(subject.encode(), ec.ECDSA(hashes.SHA256()))
    ).decode()
    assert httpx.post(f"{url}/api/v2/signingCert", json=wrong).status_code in (400, 401)
    assert httpx.post(f"{url}/api/v2/signingCert", content=b"{").status_code == 400
    huge = httpx.post(f"{url}/api/v2/signingCert", content=b"x" * (1 << 20))
    assert huge.status_code == 413


def test_without_emulation_the_ca_does_not_certify_the_instances_own_tokens(
    without_emulation: tuple[str, Path],
) -> None:
    """The instance's issuer mints tokens only for emulated CI jobs: with emulation off the CA
    neither lists it nor certifies a token it signed (even one minted with its real key)."""
    url, data = without_emulation
    issuers = httpx.get(f"{url}/api/v2/configuration").json()["issuers"]
    assert {i["issuerUrl"] for i in issuers} == {"https://token.actions.githubusercontent.com"}
    material = InstanceMaterial.load(DataDir(data))
    claims = CIJob.github("acme/widget").token_claims()
    token = OIDCIssuer(f"{url}/-/oidc", material.oidc_key).mint(claims, "sigstore")
    response = httpx.post(
        f"{url}/api/v2/signingCert", json=_request(token, generate_ec(), str(claims["sub"]))
    )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 16
