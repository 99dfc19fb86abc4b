"""The authority: the leaf profile of sigstore.md §1.3, proof of possession, request parsing."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from sigstore.errors import VerificationError as SigstoreVerificationError
from sigstore.verify.policy import Identity

from assay.ca import CAError, CAFault
from assay.ca.app import http_status
from assay.ca.authority import (
    LEAF_LIFETIME,
    CertificateAuthority,
    CSRRequest,
    PublicKeyRequest,
    SigningRequest,
    challenge,
    check_leaf_key,
    create_signing_certificate,
)
from assay.ca.chain import create_ca_chain
from assay.ca.extensions import IssuerProfile
from assay.errors import ConfigError, VerificationError
from assay.keys import PrivateKey, generate_ec, generate_ed25519, spki_der
from tests.unit.ca.identities import (
    CA_CREATED,
    EMAIL_CLAIMS,
    EMAIL_ISSUER,
    GITHUB_CLAIMS,
    GITLAB_CLAIMS,
    NOW,
    PROFILES,
    TestCA,
    make_ca,
)

GITHUB_ISSUER: str = GITHUB_CLAIMS["iss"]


def csr_pem(key: PrivateKey) -> bytes:
    """A CSR as sigstore-python 4.5 builds one (sign.py ``_build_csr``)."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return builder.sign(key, None).public_bytes(serialization.Encoding.PEM)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def proof(key: PrivateKey, message: str) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message.encode())
    return key.sign(message.encode(), ec.ECDSA(hashes.SHA256()))


# --- the leaf profile ---------------------------------------------------------------------------


def test_leaf_profile() -> None:
    ca = make_ca()
    key = generate_ec()
    leaf, intermediate, root = ca.authority.issue(GITHUB_CLAIMS, key.public_key(), GITHUB_ISSUER)
    assert (intermediate, root) == (ca.intermediate, ca.root)
    assert leaf.version == x509.Version.v3
    assert 0 < leaf.serial_number < 1 << 159
    assert leaf.subject == x509.Name([])
    assert leaf.issuer == intermediate.subject
    assert leaf.not_valid_before_utc == NOW.replace(microsecond=0)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == LEAF_LIFETIME
    assert timedelta(minutes=10) == LEAF_LIFETIME
    assert spki_der(leaf.public_key()) == spki_der(key)  # type: ignore[arg-type]
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == "sha384"
    leaf.verify_directly_issued_by(intermediate)

    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not (usage.value.key_cert_sign)
    assert not (usage.value.crl_sign)
    assert not (usage.value.key_agreement)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuer_ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == issuer_ski.value.digest
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    critical = {e.oid for e in leaf.extensions if e.critical}
    assert critical == {ExtensionOID.KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME}
    assert ca.clock.reads == 1


def test_serials_are_fresh() -> None:
    ca = make_ca()
    serials = {
        ca.authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_ISSUER)[
            0
        ].serial_number
        for _ in range(5)
    }
    assert len(serials) == 5


@pytest.mark.parametrize(
    ("claims", "identity"),
    [
        (
            GITHUB_CLAIMS,
            "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
        ),
        (GITLAB_CLAIMS, "https://gitlab.com/mygroup/myproject//.gitlab-ci.yml@refs/heads/main"),
        (EMAIL_CLAIMS, "dev@example.com"),
    ],
)
def test_sigstore_python_identity_policy_accepts_our_leaf(
    claims: Mapping[str, Any], identity: str
) -> None:
    ca = make_ca()
    leaf = ca.authority.issue(claims, generate_ec().public_key(), claims["iss"])[0]
    Identity(identity=identity, issuer=claims["iss"]).verify(leaf)
    with pytest.raises(SigstoreVerificationError):
        Identity(identity=identity + "x", issuer=claims["iss"]).verify(leaf)
    with pytest.raises(SigstoreVerificationError):
        Identity(identity=identity, issuer="https://other.example").verify(leaf)


@pytest.mark.parametrize(
    "key",
    [generate_ec("P-256"), generate_ec("P-384"), generate_ed25519()],
    ids=["P-256", "P-384", "Ed25519"],
)
def test_accepted_leaf_keys(key: PrivateKey) -> None:
    leaf = make_ca().authority.issue(GITHUB_CLAIMS, key.public_key(), GITHUB_ISSUER)[0]
    assert spki_der(leaf.public_key()) == spki_der(key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (rsa.generate_private_key(65537, 2048).public_key(), "RSA"),
        (rsa.generate_private_key(65537, 1024).public_key(), "RSA"),  # noqa: S505
        (ec.generate_private_key(ec.SECP521R1()).public_key(), "secp521r1"),
        (ec.generate_private_key(ec.SECP256K1()).public_key(), "secp256k1"),
        ("not a key", "not accepted"),
    ],
    ids=["rsa2048", "rsa1024", "p521", "k256", "str"],
)
def test_refused_leaf_keys(key: object, message: str) -> None:
    with pytest.raises(CAError, match=message) as caught:
        check_leaf_key(key)
    assert http_status(caught.value) == 400


def test_unknown_issuer_is_refused_before_any_issuance() -> None:
    ca = make_ca(profiles=[IssuerProfile(EMAIL_ISSUER, "email")])
    with pytest.raises(CAError, match="does not issue") as caught:
        ca.authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_ISSUER)
    assert http_status(caught.value) == 401
    assert ca.clock.reads == 0


def test_issuer_argument_must_match_the_token() -> None:
    ca = make_ca()
    with pytest.raises(CAError, match="does not match"):
        ca.authority.issue(GITLAB_CLAIMS, generate_ec().public_key(), GITHUB_ISSUER)
    assert ca.clock.reads == 0


def test_trust_bundle_and_profiles() -> None:
    ca = make_ca()
    assert ca.authority.trust_bundle() == [[ca.intermediate, ca.root]]
    assert ca.authority.profiles == PROFILES
    assert ca.authority.root == ca.root
    assert ca.authority.intermediate == ca.intermediate


# --- construction -------------------------------------------------------------------------------


def test_constructor_refuses_inconsistent_material() -> None:
    root_key, intermediate_key, ct_key = generate_ec("P-384"), generate_ec("P-384"), generate_ec()
    root, intermediate = create_ca_chain(root_key, intermediate_key, "a", CA_CREATED)
    other_root, _ = create_ca_chain(generate_ec("P-384"), intermediate_key, "a", CA_CREATED)
    with pytest.raises(ConfigError, match="does not belong"):
        CertificateAuthority(root, intermediate, generate_ec("P-384"), ct_key, PROFILES)
    with pytest.raises(ConfigError, match="not issued by the root"):
        CertificateAuthority(other_root, intermediate, intermediate_key, ct_key, PROFILES)
    with pytest.raises(ConfigError, match="CT key"):
        CertificateAuthority(root, intermediate, intermediate_key, generate_ec("P-384"), PROFILES)
    with pytest.raises(ConfigError, match="twice"):
        CertificateAuthority(root, intermediate, intermediate_key, ct_key, PROFILES + PROFILES[:1])
    with pytest.raises(ConfigError, match="P-256 or P-384"):
        CertificateAuthority(root, intermediate, generate_ed25519(), ct_key, PROFILES)


def test_naive_clock_is_a_ca_fault() -> None:
    ca = make_ca(clock=lambda: NOW.replace(tzinfo=None))
    with pytest.raises(CAError, match="timezone") as caught:
        ca.authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_ISSUER)
    assert http_status(caught.value) == 500


# --- proof of possession ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [generate_ec("P-256"), generate_ec("P-384"), generate_ed25519()],
    ids=["P-256", "P-384", "Ed25519"],
)
def test_csr_proves_possession(key: PrivateKey) -> None:
    public = CSRRequest(csr_pem(key)).public_key(GITHUB_CLAIMS)
    assert spki_der(public) == spki_der(key)


def test_csr_with_bad_signature_is_refused() -> None:
    good = x509.load_pem_x509_csr(csr_pem(generate_ec()))
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature BIT STRING
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CAError, match="could not be verified"):
        CSRRequest(tampered).public_key(GITHUB_CLAIMS)


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"])
def test_unparseable_csr_is_refused(data: bytes) -> None:
    with pytest.raises(CAError, match="could not be parsed"):
        CSRRequest(data).public_key(GITHUB_CLAIMS)


def test_csr_with_rsa_key_is_refused() -> None:
    with pytest.raises(CAError, match="RSA"):
        CSRRequest(csr_pem(rsa.generate_private_key(65537, 2048))).public_key(GITHUB_CLAIMS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [generate_ec("P-256"), generate_ec("P-384"), generate_ed25519()],
    ids=["P-256", "P-384", "Ed25519"],
)
def test_proof_over_sub(key: PrivateKey) -> None:
    request = PublicKeyRequest(pem(key), proof(key, GITHUB_CLAIMS["sub"]))
    assert spki_der(request.public_key(GITHUB_CLAIMS)) == spki_der(key)
    der_request = PublicKeyRequest(spki_der(key), proof(key, GITHUB_CLAIMS["sub"]))
    assert spki_der(der_request.public_key(GITHUB_CLAIMS)) == spki_der(key)


def test_proof_over_email_when_the_token_has_one() -> None:
    key = generate_ec()
    assert challenge(EMAIL_CLAIMS) == "dev@example.com"
    PublicKeyRequest(pem(key), proof(key, "dev@example.com")).public_key(EMAIL_CLAIMS)
    with pytest.raises(CAError, match="could not be verified"):
        PublicKeyRequest(pem(key), proof(key, EMAIL_CLAIMS["sub"])).public_key(EMAIL_CLAIMS)
    with pytest.raises(CAError, match="not verified") as caught:
        PublicKeyRequest(pem(key), proof(key, "dev@example.com")).public_key(
            EMAIL_CLAIMS | {"email_verified": False}
        )
    assert http_status(caught.value) == 403


def test_wrong_proof_is_refused() -> None:
    key, other = generate_ec(), generate_ec()
    for bad in (proof(other, GITHUB_CLAIMS["sub"]), proof(key, "someone else"), b"", b"\x30\x00"):
        with pytest.raises(CAError, match="could not be verified"):
            PublicKeyRequest(pem(key), bad).public_key(GITHUB_CLAIMS)


def test_proof_with_the_curves_own_hash_is_refused() -> None:
    """Fulcio's CheckSignature verifies ECDSA with SHA-256 whatever the curve."""
    key = generate_ec("P-384")
    signature = key.sign(GITHUB_CLAIMS["sub"].encode(), ec.ECDSA(hashes.SHA384()))
    with pytest.raises(CAError, match="could not be verified"):
        PublicKeyRequest(pem(key), signature).public_key(GITHUB_CLAIMS)


def test_unparseable_public_key_is_refused() -> None:
    with pytest.raises(CAError, match="could not be parsed"):
        PublicKeyRequest(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", b"x"
        ).public_key(GITHUB_CLAIMS)
    with pytest.raises(CAError, match="could not be parsed"):
        PublicKeyRequest(b"\x30\x03\x02\x01\x01", b"x").public_key(GITHUB_CLAIMS)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": ""}, "no 'sub'"),
        ({}, "no 'sub'"),
        ({"sub": 5}, "no 'sub'"),
        ({"sub": "s", "email": ""}, "non-empty string"),
        ({"sub": "s", "email": "a@b.c"}, "not verified"),
    ],
)
def test_challenge_refusals(claims: dict[str, Any], message: str) -> None:
    with pytest.raises(CAError, match=message):
        challenge(claims)


# --- request parsing ----------------------------------------------------------------------------


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_parses_the_sigstore_python_shape() -> None:
    csr = csr_pem(generate_ec())
    request = SigningRequest.from_json(
        body({"certificateSigningRequest": base64.b64encode(csr).decode()})
    )
    assert request.token is None
    assert request.key_request == CSRRequest(csr)


def test_parses_the_sigstore_js_shape() -> None:
    key = generate_ec()
    signature = proof(key, "sub")
    request = SigningRequest.from_json(
        body(
            {
                "credentials": {"oidcIdentityToken": "a.b.c"},
                "publicKeyRequest": {
                    "publicKey": {"algorithm": "ECDSA", "content": pem(key).decode()},
                    "proofOfPossession": base64.b64encode(signature).decode(),
                },
            }
        )
    )
    assert request.token == "a.b.c"  # noqa: S105 - a placeholder, not a secret
    assert request.key_request == PublicKeyRequest(pem(key), signature)


def test_base64_variants_of_proto3_json() -> None:
    data = bytes(range(256))
    for text in (
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
        base64.b64encode(data).decode().rstrip("="),
    ):
        request = SigningRequest.from_json(body({"certificateSigningRequest": text}))
        assert request.key_request == CSRRequest(data)
    der = spki_der(generate_ec())
    request = SigningRequest.from_json(
        body(
            {
                "publicKeyRequest": {
                    "publicKey": {"content": base64.b64encode(der).decode()},
                    "proofOfPossession": "AA==",
                }
            }
        )
    )
    assert request.key_request == PublicKeyRequest(der, b"\x00")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"certificateSigningRequest": NaN}', "not valid JSON"),
        (b"[]", "JSON object"),
        (b"{}", "neither"),
        (b'{"certificateSigningRequest": 5}', "base64 string"),
        (b'{"certificateSigningRequest": "!!!"}', "not valid base64"),
        (b'{"credentials": "t", "certificateSigningRequest": "AA=="}', "'credentials'"),
        (
            b'{"credentials": {"oidcIdentityToken": 1}, "certificateSigningRequest": "AA=="}',
            "string",
        ),
        (b'{"publicKeyRequest": {}}', "publicKey"),
        (b'{"publicKeyRequest": {"publicKey": {"content": ""}}}', "content"),
        (b'{"publicKeyRequest": {"publicKey": {"content": "AA=="}}}', "proofOfPossession"),
        (
            b'{"publicKeyRequest": {"publicKey": {"content": "%%"}, "proofOfPossession": "AA=="}}',
            "could not be parsed",
        ),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_requests(raw: bytes, message: str) -> None:
    with pytest.raises(CAError, match=message) as caught:
        SigningRequest.from_json(raw)
    assert http_status(caught.value) == 400


# --- the whole request --------------------------------------------------------------------------


class Tokens:
    """A stand-in token verifier: a dict of token → claims."""

    def __init__(self, **tokens: Mapping[str, Any]) -> None:
        self.tokens = tokens

    def __call__(self, token: str) -> Mapping[str, Any]:
        if token not in self.tokens:
            raise VerificationError("token signature does not verify")
        return self.tokens[token]


def csr_request(token: str | None = None) -> SigningRequest:
    return SigningRequest(token=token, key_request=CSRRequest(csr_pem(generate_ec())))


def test_token_in_body_wins_over_the_bearer_header() -> None:
    ca = make_ca()
    verifier = Tokens(gh=GITHUB_CLAIMS, gl=GITLAB_CLAIMS)
    chain = create_signing_certificate(ca.authority, verifier, csr_request("gl"), "gh")
    Identity(
        identity="https://gitlab.com/mygroup/myproject//.gitlab-ci.yml@refs/heads/main",
        issuer=GITLAB_CLAIMS["iss"],
    ).verify(chain[0])
    chain = create_signing_certificate(ca.authority, verifier, csr_request(), "gh")
    assert chain[0].issuer == ca.intermediate.subject
    assert ca.clock.reads == 2


@pytest.mark.parametrize(
    ("tokens", "token", "status", "message"),
    [
        ({}, None, 401, "no OIDC identity token"),
        ({}, "forged", 401, "error processing the identity token"),
        ({"t": {"sub": "x"}}, "t", 401, "no issuer"),
        ({"t": GITHUB_CLAIMS | {"iss": "https://unknown.example"}}, "t", 401, "does not issue"),
        (
            {"t": {k: v for k, v in GITHUB_CLAIMS.items() if k != "repository"}},
            "t",
            400,
            "repository",
        ),
    ],
)
def test_refusals_issue_nothing(
    tokens: dict[str, Mapping[str, Any]], token: str | None, status: int, message: str
) -> None:
    ca: TestCA = make_ca()
    with pytest.raises(CAError, match=message) as caught:
        create_signing_certificate(ca.authority, Tokens(**tokens), csr_request(), token)
    assert http_status(caught.value) == status
    assert ca.clock.reads == 0


def test_bad_proof_issues_nothing() -> None:
    ca = make_ca()
    key = generate_ec()
    request = SigningRequest("t", PublicKeyRequest(pem(key), proof(key, "not the subject")))
    with pytest.raises(CAError, match="could not be verified"):
        create_signing_certificate(ca.authority, Tokens(t=GITHUB_CLAIMS), request, None)
    assert ca.clock.reads == 0


def test_ca_errors_from_the_verifier_keep_their_status() -> None:
    def verifier(token: str) -> Mapping[str, Any]:
        raise CAFault("token issuer is down")

    with pytest.raises(CAError, match="down") as caught:
        create_signing_certificate(make_ca().authority, verifier, csr_request("t"), None)
    assert http_status(caught.value) == 500
