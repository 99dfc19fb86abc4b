"""The one semver: versions as npm's ``semver`` package parses, cleans and orders them.

Every place that meets a version uses this module: the registry (``PUT`` of a version, dist-tags,
packuments), the publisher (``version`` of package.json), purls of provenance subjects, audit.

* Grammar (semver 2.0.0 §2, §9, §10; node-semver ``internal/re.js`` ``FULLPLAIN``):
  ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``; numbers have no leading zeros, and neither do
  *numeric* pre-release identifiers (``1.0.0-01`` is invalid, ``1.0.0-0a`` is valid); build
  metadata is allowed and ignored by precedence. Versions longer than 256 characters, and
  major/minor/patch above ``Number.MAX_SAFE_INTEGER``, are invalid (node-semver ``MAX_LENGTH``,
  ``MAX_SAFE_INTEGER``).
* Exact versions (:meth:`Version.parse`) are what the registry stores and purls name:
  libnpmpublish sends only ``semver.clean`` output and refuses others ("invalid semver").
* Cleaning (:func:`clean`) is what @npmcli/package-json ``fixVersionField`` and libnpmpublish
  ``patchManifest`` do to ``package.json``: trim, drop a leading ``v``/``=``, and accept the
  loose pre-release form without its hyphen (``1.0.0beta`` → ``1.0.0-beta``). node-semver's
  loose mode would also accept leading zeros (``01.0.0``, ``1.0.0-01``); we do not, so a
  version means the same thing on the publisher, in the registry and in a purl.
* Precedence (semver 2.0.0 §11, node-semver ``compareMain``/``comparePre``): numeric
  major.minor.patch, then a release above its pre-releases, then pre-release identifiers left
  to right — numbers numerically, strings lexically (by code unit), numbers below strings, a
  longer list above its prefix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import total_ordering

from assay.errors import ManifestError

__all__ = ["MAX_LENGTH", "Version", "clean", "highest", "is_version", "looks_like_range"]

MAX_LENGTH = 256  # node-semver internal/constants.js MAX_LENGTH
_MAX_SAFE_INTEGER = 2**53 - 1  # Number.MAX_SAFE_INTEGER

_NUMBER = r"0|[1-9]\d*"
_IDENTIFIER = rf"(?:{_NUMBER}|\d*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_IDENTIFIER = r"[0-9A-Za-z-]+"
# The one semver grammar. Group `hyphen` is empty only in the loose form `1.0.0beta`.
_SEMVER = re.compile(
    rf"(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:(?P<hyphen>-?)(?P<pre>{_IDENTIFIER}(?:\.{_IDENTIFIER})*))?"
    rf"(?:\+(?P<build>{_BUILD_IDENTIFIER}(?:\.{_BUILD_IDENTIFIER})*))?",
    re.ASCII,  # JavaScript's \d is [0-9]; Python's would take any Unicode digit
)
# semver.clean: `version.trim().replace(/^[=v]+/, '')`, then loose parsing allows more `=v\s`.
_LOOSE_PREFIX = re.compile(r"^[v=\s]*")
# Tags npm refuses because they could be read as a version or range ("Tag name must not be a
# valid SemVer range"); conservative: `1`, `v1.2`, `^1`, `>=2`, `x`, `*`, ``.
_RANGE_LIKE = re.compile(r"\s*(?:$|[<>=~^]|v?\d|[xX*](?:$|[.\s]))")


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """An exact semver version; :meth:`parse` is the way to make one, so it is always valid."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]
    build: tuple[str, ...] = field(compare=False)
    text: str = field(compare=False)
    """The version as written (always its clean form, since only clean text parses)."""

    @classmethod
    def parse(cls, text: str) -> Version:
        """The exact version `text` names; :class:`~assay.errors.ManifestError` otherwise.

        Strict: ``v1.0.0``, ``=1.0.0``, `` 1.0.0`` and ``1.0.0beta`` are refused (they are loose
        forms that :func:`clean` accepts); the registry and purls only carry clean versions.
        """
        version = _parse(text, loose=False)
        if version is None:
            raise ManifestError(
                f"Invalid version {text!r}: not a valid semver version", version=text
            )
        return version

    @classmethod
    def parse_or_none(cls, text: str) -> Version | None:
        """:meth:`parse`, or None where it would raise (for sorting mixed lists)."""
        return _parse(text, loose=False)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def _key(self) -> tuple[object, ...]:
        # A release (no pre-release) sorts after all its pre-releases; numbers below strings.
        pre: tuple[object, ...] = tuple(
            (0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text


def is_version(text: object) -> bool:
    """Whether `text` is an exact, clean semver version (``semver.valid(text) === text``)."""
    return isinstance(text, str) and _parse(text, loose=False) is not None


def clean(text: object) -> str:
    """``semver.clean`` as npm applies it to package.json: `` v1.0.0 `` → ``1.0.0``.

    Raises :class:`~assay.errors.ManifestError` with npm's wording (``Invalid version: "x"``).
    """
    if not isinstance(text, str):
        raise ManifestError(f"Invalid version: {json.dumps(text)}", version=text)
    version = _parse(text, loose=True)
    if version is None:
        raise ManifestError(f'Invalid version: "{text}"', version=text)
    return version.text


def highest(versions: list[str], *, include_prerelease: bool = True) -> str | None:
    """The highest of `versions` (releases preferred unless only pre-releases exist)."""
    parsed = [v for v in (_parse(text, loose=False) for text in versions) if v is not None]
    releases = [v for v in parsed if not v.prerelease]
    pool = releases or (parsed if include_prerelease else [])
    return max(pool).text if pool else None


def looks_like_range(tag: str) -> bool:
    """Whether `tag` could be read as a version or range (npm refuses such dist-tags)."""
    return _RANGE_LIKE.match(tag) is not None


def _parse(text: str, *, loose: bool) -> Version | None:
    if len(text) > MAX_LENGTH:
        return None
    if loose:
        text = _LOOSE_PREFIX.sub("", text.strip(), count=1)
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    pre_text: str | None = match["pre"]
    # Only the loose form may omit the hyphen, and never as a reading of one that is there:
    # `1.0.0-01` is not `1.0.0` followed by the identifier `-01`.
    if pre_text is not None and not match["hyphen"] and (not loose or pre_text.startswith("-")):
        return None
    numbers = [int(match[part]) for part in ("major", "minor", "patch")]
    if any(number > _MAX_SAFE_INTEGER for number in numbers):
        return None  # node-semver: "Invalid major/minor/patch version"
    pre = tuple(_identifier(part) for part in match["pre"].split(".")) if match["pre"] else ()
    build = tuple(match["build"].split(".")) if match["build"] else ()
    clean_text = ".".join(str(number) for number in numbers)
    if pre:
        clean_text += "-" + match["pre"]
    if build:
        clean_text += "+" + match["build"]
    return Version(numbers[0], numbers[1], numbers[2], pre, build, clean_text)


def _identifier(part: str) -> int | str:
    """node-semver keeps a numeric identifier as a number only while it is a safe integer."""
    if part.isascii() and part.isdigit():
        number = int(part)
        if number <= _MAX_SAFE_INTEGER:
            return number
    return part
