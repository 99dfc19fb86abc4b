"""Token validation: every way a token can be wrong ends in TokenError, with a clear reason."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from assay.errors import ConfigError
from assay.keys import generate_ec
from assay.oidc.issuer import OIDCIssuer
from assay.oidc.validation import (
    GITHUB_ACTIONS,
    GITLAB_COM,
    TokenError,
    TokenValidator,
    TrustedIssuer,
    VerificationKey,
    parse_jwks,
)
from tests.unit.oidc.tokens import T0, MovableClock, claims_at, encode, sign

URL = "https://assay.example/-/oidc"
KEY = generate_ec()
ISSUER = OIDCIssuer(URL, KEY, lambda: T0)
HEADER = {"alg": "ES256", "kid": ISSUER.kid, "typ": "JWT"}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def validator(clock: MovableClock) -> TokenValidator:
    return TokenValidator([ISSUER.trusted_issuer()], clock)


def reason_of(validator: TokenValidator, token: str, audience: str = "sigstore") -> str:
    with pytest.raises(TokenError) as caught:
        validator.validate(token, audience)
    return str(caught.value.details["reason"])


def test_a_minted_token_validates(validator: TokenValidator) -> None:
    token = ISSUER.mint({"sub": "repo:acme/widget:ref:refs/heads/main"}, "sigstore")
    claims = validator.validate(token, "sigstore")
    assert claims["sub"] == "repo:acme/widget:ref:refs/heads/main"
    assert claims["iss"] == URL


def test_expired(validator: TokenValidator, clock: MovableClock) -> None:
    token = ISSUER.mint({"sub": "s"}, "sigstore")
    clock.advance(seconds=300 + 59)  # inside the 60 s leeway
    validator.validate(token, "sigstore")
    clock.advance(seconds=2)
    with pytest.raises(TokenError, match="token expired"):
        validator.validate(token, "sigstore")


def test_not_yet_valid(validator: TokenValidator) -> None:
    claims = claims_at(URL, T0, nbf=int(T0.timestamp()) + 120)
    with pytest.raises(TokenError, match="not valid before"):
        validator.validate(sign(KEY, HEADER, claims), "sigstore")
    within_leeway = claims_at(URL, T0, nbf=int(T0.timestamp()) + 30)
    validator.validate(sign(KEY, HEADER, within_leeway), "sigstore")


def test_issued_in_the_future(validator: TokenValidator) -> None:
    claims = claims_at(URL, T0 + timedelta(minutes=2))
    del claims["nbf"]
    with pytest.raises(TokenError, match="issued in the future") as caught:
        validator.validate(sign(KEY, HEADER, claims), "sigstore")
    assert caught.value.details["reason"] == "issued-in-future"


def test_wrong_audience(validator: TokenValidator) -> None:
    token = ISSUER.mint({"sub": "s"}, "npm:registry.example")
    with pytest.raises(
        TokenError, match=re.escape("audience 'npm:registry.example' is not 'sigstore'")
    ):
        validator.validate(token, "sigstore")


def test_audience_lists(validator: TokenValidator) -> None:
    good = sign(KEY, HEADER, claims_at(URL, T0, aud=["other", "sigstore"]))
    assert validator.validate(good, "sigstore")["aud"] == ["other", "sigstore"]
    bad = sign(KEY, HEADER, claims_at(URL, T0, aud=["other"]))
    with pytest.raises(TokenError, match="does not include 'sigstore'"):
        validator.validate(bad, "sigstore")


def test_unknown_issuer(validator: TokenValidator) -> None:
    token = OIDCIssuer("https://evil.example", KEY, lambda: T0).mint({"sub": "s"}, "sigstore")
    with pytest.raises(TokenError, match=re.escape("issuer 'https://evil.example' is not trusted")):
        validator.validate(token, "sigstore")


def test_wrong_key(validator: TokenValidator) -> None:
    # Same issuer URL and kid header, another key: only the signature can tell.
    forged = sign(generate_ec(), HEADER, claims_at(URL, T0))
    with pytest.raises(TokenError, match="signature does not verify"):
        validator.validate(forged, "sigstore")
    impostor = OIDCIssuer(URL, generate_ec(), lambda: T0).mint({"sub": "s"}, "sigstore")
    assert reason_of(validator, impostor) == "unknown-key"


def test_alg_none(validator: TokenValidator) -> None:
    token = sign(None, {"alg": "none", "typ": "JWT"}, claims_at(URL, T0))
    with pytest.raises(TokenError, match="algorithm 'none' is not allowed"):
        validator.validate(token, "sigstore")


def test_hs256_with_the_public_key_as_secret(validator: TokenValidator) -> None:
    # RFC 8725 §2.1: a verifier that lets the token pick HMAC would verify this with the PEM.
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, pem.strip()):
        token = sign(secret, {**HEADER, "alg": "HS256"}, claims_at(URL, T0))
        with pytest.raises(TokenError, match="algorithm 'HS256' is not allowed"):
            validator.validate(token, "sigstore")


def test_alg_must_match_the_key_type(validator: TokenValidator) -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    token = sign(rsa_key, {**HEADER, "alg": "RS256"}, claims_at(URL, T0))
    assert reason_of(validator, token) == "unknown-key"


def test_rs256_issuers(clock: MovableClock) -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    trusted = TrustedIssuer("https://rsa.example", jwks={"keys": [{**jwk, "kid": "r1"}]})
    validator = TokenValidator([trusted], clock)
    header = {"alg": "RS256", "kid": "r1"}
    assert validator.validate(
        sign(rsa_key, header, claims_at("https://rsa.example", T0)), "sigstore"
    )
    no_kid = sign(rsa_key, {"alg": "RS256"}, claims_at("https://rsa.example", T0))
    assert validator.validate(no_kid, "sigstore")["iss"] == "https://rsa.example"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sub": None}, "missing-claim"),
        ({"sub": ""}, "missing-claim"),
        ({"sub": 7}, "missing-claim"),
        ({"aud": None}, "missing-claim"),
        ({"aud": 3}, "missing-claim"),
        ({"aud": ["sigstore", 3]}, "missing-claim"),
        ({"exp": None}, "missing-claim"),
        ({"iat": None}, "missing-claim"),
        ({"exp": "soon"}, "malformed"),
        ({"exp": True}, "malformed"),
        ({"exp": 10**400}, "malformed"),
        ({"iat": -(10**400)}, "malformed"),
        ({"nbf": [1]}, "malformed"),
        ({"iss": None}, "missing-claim"),
        ({"iss": ["https://assay.example/-/oidc"]}, "missing-claim"),
        ({"iss": URL + "/"}, "untrusted-issuer"),
    ],
)
def test_claims_that_are_missing_or_malformed(
    validator: TokenValidator, change: dict[str, Any], reason: str
) -> None:
    claims = claims_at(URL, T0)
    for name, value in change.items():
        if value is None:
            del claims[name]
        else:
            claims[name] = value
    assert reason_of(validator, sign(KEY, HEADER, claims)) == reason


def test_strict_json(validator: TokenValidator) -> None:
    good = claims_at(URL, T0)
    body = ", ".join(f'"{name}": {value!r}'.replace("'", '"') for name, value in good.items())
    duplicated = ("{" + body + ', "sub": "someone-else"}').encode()
    assert reason_of(validator, sign(KEY, HEADER, duplicated)) == "malformed"
    infinite = ("{" + body.replace(f'"exp": {good["exp"]}', '"exp": Infinity') + "}").encode()
    assert reason_of(validator, sign(KEY, HEADER, infinite)) == "malformed"
    assert reason_of(validator, sign(KEY, {**HEADER, "crit": ["exp"]}, good)) == "malformed"
    assert reason_of(validator, sign(KEY, {**HEADER, "kid": 1}, good)) == "malformed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a",
        "a.b",
        "a.b.c",
        "...",
        "a.b.c.d",
        "e30.e30.",
        "W10.e30.",
        "!!!.###.$$$",
        "\x00.\x00.\x00",
        "é.é.é",
        "eyJhbGciOiJFUzI1NiJ9.eyJ.AAAA",
        f"{encode('[' * 5000)}.e30.",
        encode(bytes([0xFF, 0xFE])) + ".e30.",
        f"{encode({'alg': 'ES256'})}.{encode('x')}.",
        "A" * 20_000,
    ],
)
def test_garbage(validator: TokenValidator, token: str) -> None:
    with pytest.raises(TokenError):
        validator.validate(token, "sigstore")


def test_non_string_input(validator: TokenValidator) -> None:
    with pytest.raises(TokenError, match="not a string"):
        validator.validate(b"a.b.c", "sigstore")  # type: ignore[arg-type]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text())
def test_any_string_is_a_token_error(validator: TokenValidator, token: str) -> None:
    with pytest.raises(TokenError):
        validator.validate(token, "sigstore")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_CLAIM_NAMES = st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "x"])
_CLAIM_VALUES = _JSON | st.sampled_from([URL, "sigstore", int(T0.timestamp())])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit"]), _JSON | st.just("ES256")
    ),
    payload=st.dictionaries(_CLAIM_NAMES, _CLAIM_VALUES) | _JSON,
    signed=st.booleans(),
)
def test_any_signed_structure_validates_or_is_a_token_error(
    validator: TokenValidator, header: dict[str, Any], payload: object, signed: bool
) -> None:
    token = sign(KEY if signed else None, header, payload)
    try:
        claims = validator.validate(token, "sigstore")
    except TokenError:
        return
    assert claims["iss"] == URL
    assert claims["aud"] == "sigstore" or "sigstore" in claims["aud"]


def test_trusted_issuer_configuration() -> None:
    with pytest.raises(ConfigError, match="not both"):
        TrustedIssuer(URL, jwks=ISSUER.jwks(), jwks_uri=URL + "/jwks")
    with pytest.raises(ConfigError, match="no usable"):
        TrustedIssuer(URL, jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    with pytest.raises(ConfigError, match="configured twice"):
        TokenValidator([ISSUER.trusted_issuer(), ISSUER.trusted_issuer()])
    with pytest.raises(ConfigError):
        TrustedIssuer("")
    # A bare list of JWKs works as well as a JWK Set.
    assert TrustedIssuer(URL, jwks=ISSUER.jwks()["keys"]).keys
    assert GITHUB_ACTIONS.jwks_uri == "https://token.actions.githubusercontent.com/.well-known/jwks"
    assert GITLAB_COM.issuer == "https://gitlab.com"
    assert not GITHUB_ACTIONS.is_static


def test_jwks_parsing_skips_what_it_cannot_use() -> None:
    (ours,) = ISSUER.jwks()["keys"]
    small_rsa: dict[str, Any] = RSAAlgorithm.to_jwk(
        rsa.generate_private_key(65537, 1024).public_key(),  # noqa: S505 - too small on purpose
        as_dict=True,
    )
    keys = parse_jwks(
        {
            "keys": [
                ours,
                {**ours, "use": "enc"},
                {**ours, "alg": "ES384"},
                {**ours, "x": "AAAA"},
                {**ours, "kid": 5},
                {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"},
                small_rsa,
                "not a key",
            ]
        }
    )
    assert [key.kid for key in keys] == [ISSUER.kid]
    assert parse_jwks([]) == ()
    assert parse_jwks({"keys": "x"}) == ()
    assert VerificationKey.from_jwk({"kty": "RSA"}) is None
