"""`assay.npm.versions`: the one semver, as node-semver parses, cleans and orders versions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import ManifestError, StatementError
from assay.npm.versions import Version, clean, highest, is_version, looks_like_range
from assay.provenance.subject import npm_purl


@pytest.mark.parametrize(
    "text",
    ["0.0.0", "1.2.3", "1.0.0-alpha.1+build", "1.0.0-0a", "1.0.0-x-y.0", "1.0.0+001",
     "1.0.0-rc.1+build.5.sha-abc", f"{2**53 - 1}.0.0"],
)  # fmt: skip
def test_exact_versions(text: str) -> None:
    assert is_version(text)
    assert Version.parse(text).text == text
    assert clean(text) == text


@pytest.mark.parametrize(
    "text",
    ["", "1", "1.0", "01.0.0", "1.01.0", "1.0.00", "1.0.0-", "1.0.0+", "1.0.0-a..b",
     "1.0.0-01", "1.0.0-alpha.01", "v1.0.0", "=1.0.0", " 1.0.0", "1.0.0beta", "1.0.0-é",
     "1\u0661.0.0", "1.0.0-\u0661",
     f"{2**53}.0.0", "1.0.0-" + "a" * 251],
)  # fmt: skip
def test_not_exact_versions(text: str) -> None:
    assert not is_version(text)
    assert Version.parse_or_none(text) is None
    with pytest.raises(ManifestError, match="not a valid semver version"):
        Version.parse(text)


def test_a_leading_zero_prerelease_is_invalid_everywhere() -> None:
    """`1.0.0-01` used to be a valid purl version but not a registry version; it is neither
    (semver 2.0.0 §9: numeric identifiers must not include leading zeros)."""
    assert not is_version("1.0.0-01")
    with pytest.raises(ManifestError):
        clean("1.0.0-01")
    with pytest.raises(StatementError):
        npm_purl("x", "1.0.0-01")
    assert npm_purl("x", "1.0.0-0a") == "pkg:npm/x@1.0.0-0a"  # alphanumeric: allowed


@pytest.mark.parametrize(
    ("loose", "cleaned"),
    [(" 1.0.0 ", "1.0.0"), ("v1.0.0", "1.0.0"), ("=v1.2.3", "1.2.3"), ("1.0.0beta", "1.0.0-beta"),
     ("v1.0.0-rc.1+b", "1.0.0-rc.1+b")],
)  # fmt: skip
def test_clean(loose: str, cleaned: str) -> None:
    assert clean(loose) == cleaned


@pytest.mark.parametrize(("value", "message"), [(1, "Invalid version: 1"), ("x", '"x"')])
def test_clean_refusals_use_npm_wording(value: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        clean(value)


def test_precedence() -> None:
    # semver 2.0.0 §11's own example, then numeric fields compared as numbers.
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.10.0", "2.0.0", "10.0.0"]  # fmt: skip
    parsed = [Version.parse(v) for v in ordered]
    assert all(a < b for a, b in itertools.pairwise(parsed))
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")  # build metadata is ignored
    assert Version.parse("1.0.0-1") < Version.parse("1.0.0-a")  # numbers below strings


def test_highest_and_ranges() -> None:
    assert highest(["1.0.0", "2.0.0-rc.1", "1.5.0"]) == "1.5.0"
    assert highest(["2.0.0-rc.1", "2.0.0-rc.2"]) == "2.0.0-rc.2"
    assert highest(["2.0.0-rc.1"], include_prerelease=False) is None
    assert highest(["x", "1.0.0-01"]) is None
    assert [looks_like_range(t) for t in ("latest", "next", "x", "1", "v2", "^1", "xyz")] == [
        False, False, True, True, True, True, False,
    ]  # fmt: skip


_NUMBER = st.integers(0, 10**6)
_WORD = st.from_regex(r"[0-9]*[a-zA-Z-][0-9a-zA-Z-]*", fullmatch=True)
_IDENTIFIER = st.one_of(_NUMBER.map(str), _WORD)


@given(_NUMBER, _NUMBER, _NUMBER, st.lists(_IDENTIFIER, max_size=4))
def test_built_versions_round_trip(major: int, minor: int, patch: int, pre: list[str]) -> None:
    text = f"{major}.{minor}.{patch}" + (f"-{'.'.join(pre)}" if pre else "")
    version = Version.parse(text)
    assert str(version) == text
    assert (version.major, version.minor, version.patch) == (major, minor, patch)
    assert version.is_prerelease == bool(pre)
