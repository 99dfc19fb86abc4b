"""A packed package, and what npm prints about it (``npm pack --json``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assay.publish.pack.collation import CollationKey, collation_key

__all__ = ["PackResult", "PackedFile", "tarball_filename"]


@dataclass(frozen=True)
class PackedFile:
    """One file in the tarball, as ``npm pack --json`` reports it."""

    path: str
    size: int
    mode: int


@dataclass(frozen=True)
class PackResult:
    """A packed package: the tarball and what npm would print about it."""

    name: str
    version: str
    files: tuple[PackedFile, ...]
    """In tarball order (npm-packlist's sort)."""
    tarball: bytes
    integrity: str
    """``sha512-<base64>`` Subresource Integrity of :attr:`tarball`."""
    shasum: str
    """SHA-1 of :attr:`tarball`, hex (the registry's legacy ``dist.shasum``)."""

    @property
    def filename(self) -> str:
        return tarball_filename(self.name, self.version)

    @property
    def size(self) -> int:
        return len(self.tarball)

    @property
    def unpacked_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def entry_count(self) -> int:
        return len(self.files)

    @property
    def bundled(self) -> tuple[str, ...]:
        """Bundled packages, from the paths as npm computes them (``node_modules/<name>/…``)."""
        names: dict[str, None] = {}
        for f in self.files:
            match = _BUNDLED.match(f.path)
            if match:
                names[match.group(1)] = None
        return tuple(names)

    def npm_json(self) -> dict[str, Any]:
        """One element of ``npm pack --json``'s array (npm ``lib/utils/tar.js`` getContents).

        npm lists files whose first character is unchanged by ``toUpperCase`` first, then the
        others, each group sorted with ``Intl.Collator('en', {sensitivity: 'case', numeric:
        true})``.
        """
        upper = [f for f in self.files if f.path[:1] == f.path[:1].upper()]
        lower = [f for f in self.files if f.path[:1] != f.path[:1].upper()]

        def key(f: PackedFile) -> CollationKey:
            return collation_key(f.path, numeric=True)

        ordered = sorted(upper, key=key) + sorted(lower, key=key)
        return {
            "id": f"{self.name}@{self.version}",
            "name": self.name,
            "version": self.version,
            "size": self.size,
            "unpackedSize": self.unpacked_size,
            "shasum": self.shasum,
            "integrity": self.integrity,
            "filename": self.filename,
            "files": [{"path": f.path, "size": f.size, "mode": f.mode} for f in ordered],
            "entryCount": self.entry_count,
            "bundled": list(self.bundled),
        }


_BUNDLED = re.compile(r"node_modules/((?:@[^/]+/)?[^/]+)/")


def tarball_filename(name: str, version: str) -> str:
    """``@scope/name`` 1.0.0 → ``scope-name-1.0.0.tgz`` (npm ``lib/utils/tar.js``)."""
    return f"{name.replace('@', '', 1).replace('/', '-', 1)}-{version}.tgz"
