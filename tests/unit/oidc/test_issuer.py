"""The issuer: discovery, JWKS with RFC 7638 kids, ES256 tokens that outside decoders accept."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import jwt
import pytest
from sigstore.oidc import IdentityToken

from assay.errors import ConfigError
from assay.keys import generate_ec
from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer, jwk_thumbprint
from assay.oidc.validation import TokenError, TokenValidator
from tests.unit.oidc.tokens import T0, MovableClock

URL = "https://assay.example/-/oidc"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def issuer(clock: MovableClock) -> OIDCIssuer:
    return OIDCIssuer(URL, generate_ec(), clock)


def test_discovery_document(issuer: OIDCIssuer) -> None:
    document = issuer.discovery()
    assert document["issuer"] == URL
    assert document["jwks_uri"] == f"{URL}/.well-known/jwks"
    assert document["response_types_supported"] == ["id_token"]
    assert document["subject_types_supported"] == ["public"]
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]
    for claim in ("sub", "aud", "repository", "workflow_ref", "project_path", "runner_id"):
        assert claim in document["claims_supported"]


def test_jwks_kid_is_the_rfc7638_thumbprint(issuer: OIDCIssuer) -> None:
    (jwk,) = issuer.jwks()["keys"]
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert jwk["alg"] == "ES256"
    assert jwk["use"] == "sig"
    assert "d" not in jwk
    # RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256.
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    digest = hashlib.sha256(canonical.encode()).digest()
    assert jwk["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert issuer.kid == jwk["kid"]


def test_thumbprint_ignores_member_order_and_optional_members() -> None:
    jwk = {"kty": "EC", "crv": "P-256", "x": "abc", "y": "def"}
    reordered = {"y": "def", "x": "abc", "kid": "whatever", "crv": "P-256", "kty": "EC"}
    assert jwk_thumbprint(jwk) == jwk_thumbprint(reordered)
    with pytest.raises(ConfigError):
        jwk_thumbprint({"kty": "oct", "k": "secret"})


def test_minted_token_decodes_with_pyjwt(issuer: OIDCIssuer) -> None:
    token = issuer.mint({"sub": "repo:acme/widget:ref:refs/heads/main", "extra": "x"}, "sigstore")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": issuer.kid, "typ": "JWT"}
    (jwk,) = issuer.jwks()["keys"]
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        audience="sigstore",
        issuer=URL,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    issued = int(T0.timestamp())
    assert claims["iat"] == claims["nbf"] == issued
    assert claims["exp"] == issued + 300
    assert claims["extra"] == "x"
    assert (
        claims["jti"]
        != jwt.decode(issuer.mint({"sub": "s"}, "sigstore"), options={"verify_signature": False})[
            "jti"
        ]
    )


def test_sigstore_python_accepts_the_token() -> None:
    issuer = OIDCIssuer(URL, generate_ec())  # real clock: IdentityToken checks exp against now
    job = CIJob.github("acme/widget")
    token = IdentityToken(issuer.mint(job.token_claims(), "sigstore"))
    assert token.identity == "repo:acme/widget:ref:refs/heads/main"
    assert token.issuer == URL
    assert token.in_validity_period()


def test_mint_refuses_registered_claims_and_bad_audiences(issuer: OIDCIssuer) -> None:
    for reserved in ("iss", "aud", "exp", "nbf", "iat", "jti"):
        with pytest.raises(ConfigError, match="set by the issuer"):
            issuer.mint({"sub": "s", reserved: 1}, "sigstore")
    with pytest.raises(ConfigError, match="audience"):
        issuer.mint({"sub": "s"}, "")
    with pytest.raises(ConfigError, match="audience"):
        issuer.mint({"sub": "s"}, "a" * 2000)
    with pytest.raises(ConfigError, match="lifetime"):
        issuer.mint({"sub": "s"}, "sigstore", timedelta(0))


def test_issuer_needs_a_p256_key_and_an_http_url() -> None:
    with pytest.raises(ConfigError, match="P-256"):
        OIDCIssuer(URL, generate_ec("P-384"))
    with pytest.raises(ConfigError, match="http"):
        OIDCIssuer("assay.example", generate_ec())
    assert OIDCIssuer(URL + "/", generate_ec()).issuer_url == URL


def test_request_url_already_has_a_query(issuer: OIDCIssuer) -> None:
    assert issuer.request_url == f"{URL}/ci/token?api-version=2.0"


def test_job_tokens(issuer: OIDCIssuer, clock: MovableClock) -> None:
    job = CIJob.github("acme/widget", claims={"environment": "release"})
    request_token = issuer.register_job(job)
    validator = TokenValidator([issuer.trusted_issuer()], clock)

    claims = validator.validate(issuer.job_token(request_token, "sigstore"), "sigstore")
    assert claims["sub"] == "repo:acme/widget:environment:release"
    assert claims["environment"] == "release"
    assert {name: claims[name] for name in job.claims} == dict(job.claims)

    # Without an audience: GitHub's default, the repository owner's URL.
    default = validator.validate(issuer.job_token(request_token), "https://github.com/acme")
    assert default["aud"] == "https://github.com/acme"

    with pytest.raises(TokenError, match="unknown CI request token"):
        issuer.job_token(request_token + "x", "sigstore")

    clock.advance(hours=6)
    with pytest.raises(TokenError, match="expired") as caught:
        issuer.job_token(request_token, "sigstore")
    assert caught.value.details["reason"] == "expired-request-token"


def test_gitlab_job_tokens_live_an_hour(issuer: OIDCIssuer) -> None:
    request_token = issuer.register_job(CIJob.gitlab("group/widget"))
    token = issuer.job_token(request_token, "sigstore")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600
    assert isinstance(claims["runner_id"], int)
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] == issuer.kid
