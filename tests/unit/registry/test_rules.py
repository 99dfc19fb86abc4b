"""Pure rules of the registry: passwords, tokens, publish documents (names and versions are
npm's, tested in tests/unit/npm)."""

from __future__ import annotations

import copy

import pytest

from assay.npm.names import PackageName
from assay.npm.tarball import TarballLimits
from assay.registry.accounts import (
    address_allowed,
    hash_password,
    hash_token,
    new_token,
    parse_cidrs,
    verify_password,
)
from assay.registry.errors import BadRequest, Unprocessable
from assay.registry.publish import PublishLimits, parse_publish
from tests.unit.registry.tarballs import publish_body, tarball


def test_passwords_and_tokens() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong", stored)
    assert not verify_password("x", "garbage")
    assert hash_password("correct horse") != stored  # salted
    token = new_token()
    assert token.secret.startswith("assay_")
    assert len(token.secret) >= 6 + 43
    assert token.token_hash == hash_token(token.secret)
    assert token.secret.startswith(token.preview)
    assert token.key not in token.secret
    assert parse_cidrs(["10.0.0.0/8", "192.168.1.7"]) == ("10.0.0.0/8", "192.168.1.7/32")
    with pytest.raises(BadRequest, match="IPv6"):
        parse_cidrs(["::1/128"])
    assert address_allowed(("10.0.0.0/8",), "10.2.3.4")
    assert not address_allowed(("10.0.0.0/8",), "127.0.0.1")
    assert address_allowed(None, None)


LIMITS = PublishLimits(max_tarball_bytes=1 << 20, tarball=TarballLimits())


def test_parse_publish_keeps_only_what_the_tarball_backs() -> None:
    data = tarball("p", "1.0.0", files={"README.md": b"# Read me\n"})
    body = publish_body("p", "1.0.0", data=data, description="d")
    body["versions"]["1.0.0"]["_npmUser"] = {"name": "someone-else"}
    body["versions"]["1.0.0"]["deprecated"] = "sneaky"
    parsed = parse_publish(PackageName.parse("p"), body, LIMITS)
    assert parsed.tarball == data
    assert parsed.readme == "# Read me\n"
    assert parsed.tags == {"latest": "1.0.0"}
    assert "_npmUser" not in parsed.manifest
    assert "deprecated" not in parsed.manifest
    assert "tarball" not in parsed.manifest["dist"]
    assert parsed.manifest["dist"]["fileCount"] == 3


def test_parse_publish_refusals() -> None:
    name = PackageName.parse("p")
    base = publish_body("p", "1.0.0")
    two = copy.deepcopy(base)
    two["versions"]["1.0.1"] = two["versions"]["1.0.0"]
    with pytest.raises(BadRequest, match="exactly one version"):
        parse_publish(name, two, LIMITS)
    tagged = copy.deepcopy(base)
    tagged["dist-tags"] = {"latest": "0.9.0"}
    with pytest.raises(BadRequest, match="can only tag"):
        parse_publish(name, tagged, LIMITS)
    ranged = copy.deepcopy(base)
    ranged["dist-tags"] = {"1.x": "1.0.0"}
    with pytest.raises(BadRequest, match="SemVer range"):
        parse_publish(name, ranged, LIMITS)
    # A provenance attachment is carried to verification, not trusted; empty is refused here.
    signed = copy.deepcopy(base)
    signed["_attachments"]["p-1.0.0.sigstore"] = {"data": '{"mediaType": "x"}'}
    assert parse_publish(name, signed, LIMITS).provenance == '{"mediaType": "x"}'
    signed["_attachments"]["p-1.0.0.sigstore"] = {"data": ""}
    with pytest.raises(Unprocessable, match=r"the \.sigstore attachment has no data"):
        parse_publish(name, signed, LIMITS)
    stray = copy.deepcopy(base)
    stray["_attachments"]["q-1.0.0.sigstore"] = {"data": "{}"}
    with pytest.raises(BadRequest, match="Expected an attachment"):
        parse_publish(name, stray, LIMITS)
    leading_zero = publish_body("p", "1.0.0-01")
    with pytest.raises(BadRequest, match="not a valid semver version"):
        parse_publish(name, leading_zero, LIMITS)
    lying = copy.deepcopy(base)
    lying["_attachments"]["p-1.0.0.tgz"]["length"] = 1
    with pytest.raises(BadRequest, match="length"):
        parse_publish(name, lying, LIMITS)
