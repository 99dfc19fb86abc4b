"""Signing configs and identity tokens as `assay.sign` reads them (no network)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assay.sign.config import SigningConfig
from assay.sign.errors import SigningError, TokenError
from assay.sign.identity import IdentityToken

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def service(url: str, version: int = 1, start: str = "2024-01-01T00:00:00Z", **more: Any) -> Any:
    return {"url": url, "majorApiVersion": version, "validFor": {"start": start, **more},
            "operator": "example"}  # fmt: skip


def config(**members: Any) -> dict[str, Any]:
    return {
        "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
        "caUrls": [service("https://ca.example/")],
        "oidcUrls": [],
        "rekorTlogUrls": [service("https://log.example")],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaUrls": [],
        **members,
    }


def test_reads_signing_config_and_client_trust_config(tmp_path: Path) -> None:
    parsed = SigningConfig.from_dict(config(), now=NOW)
    assert parsed == SigningConfig("https://ca.example", "https://log.example", None)
    wrapped = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": {},
        "signingConfig": config(oidcUrls=[service("https://oidc.example")]),
    }
    path = tmp_path / "tc.json"
    path.write_text(json.dumps(wrapped))
    assert SigningConfig.from_file(path).oidc_url == "https://oidc.example"


def test_selects_a_v1_service_valid_now() -> None:
    logs = [
        service("https://v2.example", version=2),
        service("https://future.example", start="2030-01-01T00:00:00Z"),
        service("https://ended.example", end="2025-01-01T00:00:00Z"),
        service("https://good.example"),
    ]
    assert SigningConfig.from_dict(config(rekorTlogUrls=logs), now=NOW).tlog_url == (
        "https://good.example"
    )
    with pytest.raises(SigningError, match="no rekorTlogUrls entry"):
        SigningConfig.from_dict(config(rekorTlogUrls=logs[:3]), now=NOW)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({"mediaType": "application/json"}, "not a signing config"),
        (config(caUrls={}), "caUrls must be a list"),
        (config(caUrls=[{"majorApiVersion": 1}]), r"caUrls\[0\] has no url"),
        (config(caUrls=[service("file:///etc/passwd")]), "not an http"),
        (config(caUrls=[service("https://x", start="yesterday")]), "not an RFC 3339"),
    ],
)
def test_refuses_bad_configs(document: object, message: str) -> None:
    with pytest.raises(SigningError, match=message):
        SigningConfig.from_dict(document, now=NOW)


def test_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="cannot read"):
        SigningConfig.from_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SigningError, match="is not JSON"):
        SigningConfig.from_file(tmp_path / "bad.json")


def jwt(claims: dict[str, Any]) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


def test_token_challenge_is_what_fulcio_checks() -> None:
    # @sigstore/sign util/oidc.js: a verified email wins over sub; an unverified one is refused.
    assert IdentityToken.parse(jwt({"sub": "repo:acme/w"})).challenge == "repo:acme/w"
    verified = jwt({"sub": "x", "email": "a@b.example", "email_verified": True})
    assert IdentityToken.parse(verified).challenge == "a@b.example"
    with pytest.raises(TokenError, match="email not verified"):
        _ = IdentityToken.parse(jwt({"sub": "x", "email": "a@b.example"})).challenge
    with pytest.raises(TokenError, match="subject not found"):
        _ = IdentityToken.parse(jwt({"iss": "x"})).challenge


def test_token_checks() -> None:
    IdentityToken.parse(jwt({"aud": ["other", "sigstore"], "exp": 2000})).check(now=1000)
    with pytest.raises(TokenError, match="expired"):
        IdentityToken.parse(jwt({"aud": "sigstore", "exp": 1000})).check(now=1006)
    with pytest.raises(TokenError, match="audience"):
        IdentityToken.parse(jwt({"aud": "npm:registry.npmjs.org"})).check(now=0)
    for bad in ("a.b", "a.!!!.c", f"a.{base64.urlsafe_b64encode(b'[1]').decode()}.c"):
        with pytest.raises(TokenError):
            IdentityToken.parse(bad)
