"""npm subjects: purls as npm-package-arg writes them, SRI and hex digests."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import StatementError
from assay.provenance.subject import Digest, hex_to_sri, npm_purl, parse_npm_purl, sri_to_hex
from tests.npm_real import statements


@pytest.mark.parametrize(
    ("name", "version", "purl"),
    [
        ("sigstore", "2.3.1", "pkg:npm/sigstore@2.3.1"),
        ("@playwright/cli", "0.1.1", "pkg:npm/%40playwright/cli@0.1.1"),
        (
            "@laurentsimon/provenance-npm-test",
            "1.0.3",
            "pkg:npm/%40laurentsimon/provenance-npm-test@1.0.3",
        ),
        ("x", "1.0.0-beta.1+build.5", "pkg:npm/x@1.0.0-beta.1+build.5"),
    ],
)
def test_purl(name: str, version: str, purl: str) -> None:
    assert npm_purl(name, version) == purl
    assert parse_npm_purl(purl) == (name, version)


def test_every_real_subject_is_an_npm_purl() -> None:
    seen = 0
    for _, _, statement in statements():
        for subject in statement["subject"]:
            name, version = parse_npm_purl(subject["name"])
            assert npm_purl(name, version) == subject["name"]
            seen += 1
    assert seen >= 20


@pytest.mark.parametrize(
    "purl",
    [
        "pkg:pypi/x@1.0.0",
        "pkg:npm/x",
        "pkg:npm/@scope/x@1.0.0",  # npm always writes %40
        "pkg:npm/x@latest",
        "pkg:npm/@1.0.0",
    ],
)
def test_bad_purls_refused(purl: str) -> None:
    with pytest.raises(StatementError):
        parse_npm_purl(purl)


@pytest.mark.parametrize(("name", "version"), [("", "1.0.0"), ("a b", "1.0.0"), ("x", "1.0")])
def test_bad_names_and_versions_refused(name: str, version: str) -> None:
    with pytest.raises(StatementError):
        npm_purl(name, version)


def test_sri_and_hex() -> None:
    data = b"a tarball"
    digest = Digest.of(data)
    assert digest.hex == hashlib.sha512(data).hexdigest()
    assert sri_to_hex(digest.sri) == digest.hex
    assert hex_to_sri(digest.hex) == digest.sri
    assert Digest.from_sri(digest.sri) == digest
    # Several hashes: the strongest wins, unknown algorithms and options are ignored.
    sha1 = Digest.of(data, "sha1")
    assert Digest.from_sri(f"{sha1.sri} md5-xyz {digest.sri}?opt") == digest
    assert Digest.from_hex("sha512", digest.hex.upper()) == digest


@pytest.mark.parametrize(
    "sri", ["", "md5-abc", "sha512-***", "sha512-AAAA", "sha512", "sha256-" + "A" * 10]
)
def test_bad_sri_refused(sri: str) -> None:
    with pytest.raises(StatementError):
        Digest.from_sri(sri)


@given(st.text(max_size=200))
def test_any_sri_text_gives_our_error_or_a_digest(text: str) -> None:
    with contextlib.suppress(StatementError):
        Digest.from_sri(text)


@given(st.binary(max_size=100))
def test_sri_hex_round_trip(data: bytes) -> None:
    digest = Digest.of(data)
    assert Digest.from_sri(digest.sri) == digest
    assert Digest.from_hex("sha512", digest.hex) == digest
