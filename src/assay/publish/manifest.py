"""The version manifest npm publishes: package.json as ``npm publish`` prepares it.

npm 11 ``lib/commands/publish.js #getManifest`` runs @npmcli/package-json ``fix`` then
``prepare`` on the package directory (for a tarball, pacote extracts it and runs ``prepare`` on
the extracted directory, then adds ``_integrity``, ``_resolved`` and ``_from``), and
libnpmpublish ``patchManifest`` checks the name and cleans the version. The rules that only look
at the manifest, and the ``asyncSteps`` of normalize.js (readme, AUTHORS, man and bin
directories, gitHead, ``.d.ts`` files) over a :class:`~assay.npm.package_json.PackageFiles`, are
npm's, in :mod:`assay.npm.package_json`; here is that view of a directory on disk (the registry
has one of a tarball's file list, so both sides normalise alike).

Differences, on purpose: ``_nodeVersion``/``_npmVersion`` are not written (we are neither).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from assay.errors import PackError
from assay.npm.package_json import Warn, prepare, walk_order

__all__ = ["prepare_manifest", "read_package_json"]


def _readme(root: Path) -> tuple[str, str] | None:
    """The readme step: glob ``{README,README.*}`` case-insensitively; markdown wins."""
    markdown = re.compile(r"\.m?a?r?k?d?o?w?n?$", re.IGNORECASE)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return None
    chosen: str | None = None
    for name in names:
        lower = name.lower()
        if lower != "readme" and not lower.startswith("readme."):
            continue
        if (root / name).is_dir():
            continue
        if markdown.search(name):
            chosen = name
            break
        if name.endswith("README"):
            chosen = name
    if chosen is None:
        return None
    return (root / chosen).read_text(encoding="utf-8", errors="replace"), chosen


def _git_head(root: Path) -> str | None:
    """The gitHead step: the commit HEAD names in the nearest enclosing git work tree."""
    for folder in (root, *root.parents):
        git = folder / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text(encoding="utf-8")
        except OSError:
            return None
        if not head.startswith("ref: "):
            return head.strip() or None
        ref = head[len("ref: ") :].strip()
        try:
            value = (git / ref).read_text(encoding="utf-8").strip()
            return value.removeprefix("ref: ").strip() or None
        except OSError:
            pass
        try:
            packed = (git / "packed-refs").read_text(encoding="utf-8")
        except OSError:
            return None
        for line in packed.split("\n"):
            match = re.match(r"^([0-9a-f]{40}) (.+)$", line)
            if match and match.group(2).strip() == ref:
                return match.group(1)
        return None
    return None


class _Directory:
    """A package directory as :class:`~assay.npm.package_json.PackageFiles`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def top_level_files(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_file())

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def entries_under(self, folder: str) -> list[str]:
        base = self.root / folder
        found: list[str] = []
        for current, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in [*dirs, *(f for f in files if not f.startswith("."))]:
                found.append(
                    os.path.relpath(os.path.join(current, name), base).replace(os.sep, "/")
                )
        return walk_order(found)

    def read_text(self, path: str) -> str | None:
        try:
            return (self.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def readme(self) -> tuple[str, str] | None:
        return _readme(self.root)

    def git_head(self) -> str | None:
        return _git_head(self.root)


def read_package_json(root: Path) -> dict[str, Any]:
    """``<root>/package.json`` as a JSON object, with npm's error wording."""
    path = root / "package.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PackError(f"Could not read package.json: {path}", path=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"Could not read package.json: {exc}", path=str(path)) from exc
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except ValueError as exc:
        raise PackError(f"Invalid package.json: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise PackError("Invalid package.json: not a JSON object", path=str(path))
    return data


def prepare_manifest(root: Path, warn: Warn | None = None) -> dict[str, Any]:
    """The manifest ``npm publish <root>`` sends, before libnpmpublish adds ``_id``/``dist``.

    ``pkgJson.fix`` (in memory), ``pkg.prepare()``, then libnpmpublish ``patchManifest``
    (``fixName`` and ``semver.clean`` of the version).
    """
    return prepare(read_package_json(root), _Directory(root), warn)
