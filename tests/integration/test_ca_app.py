"""The Fulcio v2 HTTP API: both request shapes, every refusal, and sigstore-python's own client.

The token verifier here is a minimal stand-in for ``assay.oidc``'s validator: PyJWT, one ES256
test key, ``aud == "sigstore"``, required ``iss/sub/aud/exp/iat``, a set of known issuers.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sigstore._internal.fulcio.client import FulcioClient, FulcioClientError
from sigstore._internal.sct import verify_sct
from sigstore.oidc import IdentityToken
from sigstore.verify.policy import Identity

from assay.ca.app import MAX_BODY_BYTES, create_app
from assay.ca.authority import CertificateAuthority, TokenVerifier
from assay.ca.chain import create_ca_chain
from assay.errors import VerificationError
from assay.keys import generate_ec, spki_der
from assay.transparency.sct import verify_embedded_sct
from tests.unit.ca.identities import (
    EMAIL_CLAIMS,
    EMAIL_ISSUER,
    GITHUB_CLAIMS,
    PROFILES,
    ct_keyring,
)

GITHUB_ISSUER: str = GITHUB_CLAIMS["iss"]
UNSERVED_ISSUER = "https://issuer.not-served.example"
SAN = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"


def token_verifier(key: ec.EllipticCurvePublicKey, issuers: set[str]) -> TokenVerifier:
    """Stand-in for the OIDC team's validator (signature, aud, exp/nbf/iat, known issuer)."""

    def verify(token: str) -> Mapping[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                audience="sigstore",
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise VerificationError(f"invalid identity token: {exc}") from exc
        if claims["iss"] not in issuers:
            raise VerificationError(f"unknown issuer {claims['iss']}")
        return claims

    return verify


@dataclass
class RealClock:
    reads: int = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return datetime.now(UTC)


@dataclass
class Service:
    client: httpx.Client
    url: str
    app: FastAPI
    oidc_key: ec.EllipticCurvePrivateKey
    ct_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    root: x509.Certificate
    clock: RealClock

    def token(self, claims: Mapping[str, Any], **changes: Any) -> str:
        now = int(time.time())
        payload = {"aud": "sigstore", "iat": now, "nbf": now, "exp": now + 300} | dict(claims)
        return jwt.encode(payload | changes, self.oidc_key, algorithm="ES256")


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    root_key, intermediate_key = generate_ec("P-384"), generate_ec("P-384")
    ct_key, oidc_key = generate_ec(), generate_ec()
    root, intermediate = create_ca_chain(
        root_key, intermediate_key, "assay-test", datetime.now(UTC) - timedelta(days=1)
    )
    clock = RealClock()
    authority = CertificateAuthority(root, intermediate, intermediate_key, ct_key, PROFILES, clock)
    verifier = token_verifier(
        oidc_key.public_key(), {profile.issuer_url for profile in PROFILES} | {UNSERVED_ISSUER}
    )
    app = create_app(authority, verifier)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        yield Service(client, url, app, oidc_key, ct_key, intermediate, root, clock)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on an ephemeral loopback port; yield its origin."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def csr_b64(key: ec.EllipticCurvePrivateKey) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def key_request(key: ec.EllipticCurvePrivateKey, signed: str) -> dict[str, Any]:
    return {
        "publicKey": {
            "algorithm": "ECDSA",
            "content": key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode(),
        },
        "proofOfPossession": base64.b64encode(
            key.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
        ).decode(),
    }


def chain_of(response: Any) -> list[x509.Certificate]:
    assert response.status_code == 200, response.text
    pems = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    assert len(pems) == 3
    assert all(pem.startswith("-----BEGIN CERTIFICATE-----\n") for pem in pems)
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in pems]


def check_chain(
    service: Service, chain: list[x509.Certificate], key: ec.EllipticCurvePrivateKey
) -> None:
    leaf, intermediate, root = chain
    assert (intermediate, root) == (service.intermediate, service.root)
    assert spki_der(leaf.public_key()) == spki_der(key)  # type: ignore[arg-type]
    verify_embedded_sct(leaf, intermediate, service.ct_key.public_key())
    verify_sct(leaf, [intermediate, root], ct_keyring(spki_der(service.ct_key)))


# --- the two request shapes ---------------------------------------------------------------------


def test_sigstore_python_shape_csr_and_bearer(service: Service) -> None:
    key = generate_ec()
    response = service.client.post(
        "/api/v2/signingCert",
        json={"certificateSigningRequest": csr_b64(key)},
        headers={
            "Authorization": f"Bearer {service.token(GITHUB_CLAIMS)}",
            "Accept": "application/pem-certificate-chain",
        },
    )
    chain = chain_of(response)
    check_chain(service, chain, key)
    Identity(identity=SAN, issuer=GITHUB_ISSUER).verify(chain[0])


def test_sigstore_js_shape_credentials_and_proof(service: Service) -> None:
    key = generate_ec()
    response = service.client.post(
        "/api/v2/signingCert",
        json={
            "credentials": {"oidcIdentityToken": service.token(GITHUB_CLAIMS)},
            "publicKeyRequest": key_request(key, GITHUB_CLAIMS["sub"]),
        },
    )
    chain = chain_of(response)
    check_chain(service, chain, key)
    Identity(identity=SAN, issuer=GITHUB_ISSUER).verify(chain[0])


def test_email_token_proves_possession_over_the_email(service: Service) -> None:
    key = generate_ec()
    response = service.client.post(
        "/api/v2/signingCert",
        json={
            "credentials": {"oidcIdentityToken": service.token(EMAIL_CLAIMS)},
            "publicKeyRequest": key_request(key, EMAIL_CLAIMS["email"]),
        },
    )
    Identity(identity="dev@example.com", issuer=EMAIL_ISSUER).verify(chain_of(response)[0])


def test_mounted_under_the_instance_prefix(service: Service) -> None:
    parent = FastAPI()
    parent.mount("/-/ca", service.app)
    with serve(parent) as url, httpx.Client(base_url=url) as client:
        key = generate_ec()
        response = client.post(
            "/-/ca/api/v2/signingCert",
            json={"certificateSigningRequest": csr_b64(key)},
            headers={"Authorization": f"Bearer {service.token(GITHUB_CLAIMS)}"},
        )
        check_chain(service, chain_of(response), key)
        missing = client.post(
            "/-/ca/api/v2/signingCert", json={"certificateSigningRequest": "AA=="}
        )
        assert missing.status_code == 401
        assert missing.json()["code"] == 16


# --- refusals: right status, Fulcio's error shape, nothing issued -------------------------------


def refusal(service: Service, status: int, code: int, **request: Any) -> str:
    before = service.clock.reads
    response = service.client.post("/api/v2/signingCert", **request)
    assert response.status_code == status, response.text
    document = response.json()
    assert set(document) == {"code", "message"}
    assert document["code"] == code
    assert service.clock.reads == before, "a certificate was issued"
    message: str = document["message"]
    return message


def test_bad_csr(service: Service) -> None:
    token = service.token(GITHUB_CLAIMS)
    headers = {"Authorization": f"Bearer {token}"}
    garbage = base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n").decode()
    message = refusal(service, 400, 3, json={"certificateSigningRequest": garbage}, headers=headers)
    assert "could not be parsed" in message
    good = base64.b64decode(csr_b64(generate_ec()))
    der = bytearray(x509.load_pem_x509_csr(good).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    message = refusal(
        service,
        400,
        3,
        json={"certificateSigningRequest": base64.b64encode(tampered).decode()},
        headers=headers,
    )
    assert "could not be verified" in message


def test_wrong_proof_of_possession(service: Service) -> None:
    key = generate_ec()
    message = refusal(
        service,
        400,
        3,
        json={
            "credentials": {"oidcIdentityToken": service.token(GITHUB_CLAIMS)},
            "publicKeyRequest": key_request(key, "repo:someone/else:ref:refs/heads/main"),
        },
    )
    assert "could not be verified" in message


def test_missing_token(service: Service) -> None:
    csr = {"certificateSigningRequest": csr_b64(generate_ec())}
    assert "no OIDC identity token" in refusal(service, 401, 16, json=csr)
    refusal(service, 401, 16, json=csr, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    refusal(service, 401, 16, json=csr, headers={"Authorization": "Bearer"})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"exp": 1}, "expired"),
        ({"aud": "not-sigstore"}, "audience"),
        ({"iss": "https://unknown.example"}, "unknown issuer"),
        ({"iss": UNSERVED_ISSUER}, "does not issue"),
    ],
)
def test_bad_tokens(service: Service, changes: dict[str, Any], expected: str) -> None:
    token = service.token(GITHUB_CLAIMS, **changes)
    csr = {"certificateSigningRequest": csr_b64(generate_ec())}
    message = refusal(service, 401, 16, json=csr, headers={"Authorization": f"Bearer {token}"})
    assert expected in message.lower()


def test_token_signed_by_another_key(service: Service) -> None:
    now = int(time.time())
    forged = jwt.encode(
        GITHUB_CLAIMS | {"iat": now, "exp": now + 300}, generate_ec(), algorithm="ES256"
    )
    csr = {"certificateSigningRequest": csr_b64(generate_ec())}
    message = refusal(service, 401, 16, json=csr, headers={"Authorization": f"Bearer {forged}"})
    assert "signature" in message.lower()


def test_token_lacking_claims_the_issuer_needs(service: Service) -> None:
    claims = {name: value for name, value in GITHUB_CLAIMS.items() if name != "job_workflow_ref"}
    csr = {"certificateSigningRequest": csr_b64(generate_ec())}
    headers = {"Authorization": f"Bearer {service.token(claims)}"}
    assert "job_workflow_ref" in refusal(service, 400, 3, json=csr, headers=headers)


def test_unverified_email_is_forbidden(service: Service) -> None:
    key = generate_ec()
    token = service.token(EMAIL_CLAIMS, email_verified=False)
    refusal(
        service,
        403,
        7,
        json={
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": key_request(key, EMAIL_CLAIMS["email"]),
        },
    )


def test_oversized_body(service: Service) -> None:
    token = service.token(GITHUB_CLAIMS)
    big = b'{"certificateSigningRequest": "' + b"A" * MAX_BODY_BYTES + b'"}'
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert "larger than the limit" in refusal(service, 413, 8, content=big, headers=headers)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size counts
        for _ in range(80):
            yield b" " * 1024

    refusal(service, 413, 8, content=chunks(), headers=headers)


@pytest.mark.parametrize(
    "content", [b"{", b"not json", b"[1, 2]", b"", b'{"certificateSigningRequest": "%%%"}']
)
def test_malformed_json(service: Service, content: bytes) -> None:
    headers = {"Authorization": f"Bearer {service.token(GITHUB_CLAIMS)}"}
    refusal(service, 400, 3, content=content, headers=headers)


def test_unknown_route_and_method_have_fulcio_shape(service: Service) -> None:
    response = service.client.get("/api/v2/nothing")
    assert response.status_code == 404
    assert response.json()["code"] == 5
    response = service.client.get("/api/v2/signingCert")
    assert response.status_code == 405
    assert response.json()["code"] == 12


# --- the other endpoints ------------------------------------------------------------------------


def test_trust_bundle(service: Service) -> None:
    response = service.client.get("/api/v2/trustBundle")
    assert response.status_code == 200
    [chain] = response.json()["chains"]
    certificates = [x509.load_pem_x509_certificate(p.encode()) for p in chain["certificates"]]
    assert certificates == [service.intermediate, service.root]


def test_configuration(service: Service) -> None:
    response = service.client.get("/api/v2/configuration")
    assert response.status_code == 200
    issuers = {issuer["issuerUrl"]: issuer for issuer in response.json()["issuers"]}
    assert issuers[GITHUB_ISSUER] == {
        "issuerUrl": GITHUB_ISSUER,
        "audience": "sigstore",
        "challengeClaim": "sub",
        "issuerType": "ci-provider",
    }
    assert issuers[EMAIL_ISSUER]["challengeClaim"] == "email"
    assert issuers[EMAIL_ISSUER]["issuerType"] == "email"


# --- sigstore-python's Fulcio client over real HTTP ---------------------------------------------


def test_sigstore_python_fulcio_client(service: Service) -> None:
    key = generate_ec()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    client = FulcioClient(service.url)
    response = client.signing_cert.post(csr, IdentityToken(service.token(GITHUB_CLAIMS)))
    check_chain(service, [response.cert, *response.chain], key)
    Identity(identity=SAN, issuer=GITHUB_ISSUER).verify(response.cert)
    assert client.trust_bundle.get().trust_bundle == [[service.intermediate, service.root]]

    # Its error path surfaces our message.
    other = generate_ec()
    claims = {name: value for name, value in GITHUB_CLAIMS.items() if name != "repository"}
    with pytest.raises(FulcioClientError):
        client.signing_cert.post(
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .sign(other, hashes.SHA256()),
            IdentityToken(service.token(claims)),
        )
