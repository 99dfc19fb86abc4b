"""Semantic versions as npm's ``semver`` reads exact versions: parsing and precedence.

npm publishes only versions that ``semver.valid()`` accepts and stores them in their clean form
(libnpmpublish rejects others with "invalid semver"). Precedence is semver 2.0.0 §11: numeric
major.minor.patch, then a release outranks its pre-releases, and pre-release identifiers compare
numerically when both are numbers, lexically otherwise, numbers below strings; build metadata is
ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_MAX_LENGTH = 256  # semver.js MAX_LENGTH


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version `text` names exactly, or None if it is not a valid semver version."""
        if len(text) > _MAX_LENGTH:
            return None
        match = _SEMVER.fullmatch(text)
        if match is None:
            return None
        pre = tuple(
            int(part) if part.isdigit() else part
            for part in (match.group(4).split(".") if match.group(4) else ())
        )
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre, text)

    def _key(self) -> tuple[object, ...]:
        # A release (no pre-release) sorts after all its pre-releases.
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


def highest(versions: list[str], *, include_prerelease: bool = True) -> str | None:
    """The highest of `versions` (releases preferred unless only pre-releases exist)."""
    parsed = [v for v in (Version.parse(text) for text in versions) if v is not None]
    releases = [v for v in parsed if not v.prerelease]
    pool = releases or (parsed if include_prerelease else [])
    return max(pool).text if pool else None


def looks_like_range(tag: str) -> bool:
    """Whether `tag` could be read as a version or range (npm refuses such dist-tags: "Tag name
    must not be a valid SemVer range"); conservative: `1`, `v1.2`, `^1`, `>=2`, `x`, `*`, ``."""
    return _RANGE_LIKE.match(tag) is not None


_RANGE_LIKE = re.compile(r"\s*(?:$|[<>=~^]|v?\d|[xX*](?:$|[.\s]))")
