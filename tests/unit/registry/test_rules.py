"""Pure rules: package names and paths, versions, passwords, tokens, publish documents."""

from __future__ import annotations

import copy
import itertools

import pytest

from assay.provenance.tarball import TarballLimits
from assay.registry.accounts import (
    address_allowed,
    hash_password,
    hash_token,
    new_token,
    parse_cidrs,
    verify_password,
)
from assay.registry.errors import BadRequest, Unprocessable
from assay.registry.names import PackageName, name_problem, parse_package_path
from assay.registry.publish import PublishLimits, parse_publish
from assay.registry.versions import Version, highest, looks_like_range
from tests.unit.registry.tarballs import publish_body, tarball


@pytest.mark.parametrize(
    "name", ["a", "lodash", "@scope/pkg", "my-pkg.js", "a_b", "-dash", "x" * 214]
)
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    ["", ".x", "_x", "Upper", " x", "x ", "fs", "http", "node_modules", "favicon.ico",
     "a/b", "@scope", "@scope/", "@/x", "@scope/.x", "@scope/..", "@../x", "a~b", "a!b",
     "a(b)", "a'b", "a*b", "a b", "x" * 215, "..", "a\\b", "@s/a/b", "%2e%2e"],
)  # fmt: skip
def test_invalid_names(name: str) -> None:
    assert name_problem(name) is not None


def test_package_paths() -> None:
    assert parse_package_path("@s/p").kind == "doc"
    assert parse_package_path("p/-rev/3-abc").rev == "3-abc"
    tarball_path = parse_package_path("@s/p/-/p-1.0.0.tgz/-rev/2-x")
    assert (tarball_path.name.name, tarball_path.filename, tarball_path.rev) == (
        "@s/p",
        "p-1.0.0.tgz",
        "2-x",
    )
    assert parse_package_path("p/latest").version == "latest"
    for bad in ("../etc", "p/-/../x.tgz", "p/-/.x.tgz", "p\\..", "@s", "p/a/b", "p/-/x.txt"):
        with pytest.raises(BadRequest):
            parse_package_path(bad)
    assert PackageName.parse("@s/p").tarball_filename("1.0.0") == "p-1.0.0.tgz"
    assert PackageName.parse("@s/p").attachment_key("1.0.0") == "@s/p-1.0.0.tgz"


def test_versions() -> None:
    assert Version.parse("1.0.0-alpha.1+build") is not None
    for bad in ("1.0", "01.0.0", "1.0.0-01", "v1.0.0", "1.0.0-", ""):
        assert Version.parse(bad) is None
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.10.0"]  # fmt: skip
    parsed = [Version.parse(v) for v in ordered]
    assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(parsed))
    assert highest(["1.0.0", "2.0.0-rc.1", "1.5.0"]) == "1.5.0"
    assert highest(["2.0.0-rc.1", "2.0.0-rc.2"]) == "2.0.0-rc.2"
    assert [looks_like_range(t) for t in ("latest", "next", "x", "1", "v2", "^1", "xyz")] == [
        False, False, True, True, True, True, False,
    ]  # fmt: skip


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
    lying = copy.deepcopy(base)
    lying["_attachments"]["p-1.0.0.tgz"]["length"] = 1
    with pytest.raises(BadRequest, match="length"):
        parse_publish(name, lying, LIMITS)
