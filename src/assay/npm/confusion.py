"""Manifest confusion: a version manifest that says something else than its tarball's package.json.

npm's registry signs only ``<name>@<version>:<integrity>``, so nothing ties the rest of a
version manifest (``dependencies``, ``scripts``, ``bin``, ``engines`` …) to the bytes npm
installs: a publish request, or an upstream registry's packument, can claim other dependencies
or other scripts than the tarball holds ("manifest confusion", Darcy Clarke 2023). npm resolves
the tree from the manifest and runs what the tarball holds, so the two must agree.

The one rule, used where a manifest enters this registry: by the publish path
(:mod:`assay.registry.publish`: a request's manifest against its tarball) and by the mirror
(:mod:`assay.mirror.manifests`: an upstream packument's manifest against the tarball it serves).
Both sides go through npm's own normalisation first (:func:`~assay.npm.package_json.prepare`,
over the tarball's file list), so what a real npm client sends for a package always agrees with
the package's own package.json; then :data:`CONFUSABLE_FIELDS` must be equal. A registry's
document also states facts it derived from the tarball (``hasInstallScript``,
``_hasShrinkwrap``); where stated, those must hold of the tarball too (:func:`stated_difference`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from assay.npm.package_json import prepare, same_version, walk_order
from assay.npm.tarball import README_NAMES, TarballContents

__all__ = [
    "CONFUSABLE_FIELDS",
    "INSTALL_SCRIPTS",
    "TarballFiles",
    "first_difference",
    "manifest_difference",
    "stated_difference",
    "tarball_manifest",
]

# The fields of a version manifest that decide what an install fetches, runs or trusts: a
# manifest that says something else here than the tarball's package.json is refused (the
# registry serves the tarball's; a body that disagrees is a "manifest confusion" attempt or a
# broken client). In this order, so the first difference named is stable.
CONFUSABLE_FIELDS = (
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "peerDependencies",
    "bundleDependencies",
    "scripts",
    "bin",
    "repository",
    "os",
    "cpu",
    "engines",
    "main",
)

INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")
"""The scripts npm runs on install; npmjs.org's ``hasInstallScript`` says whether any is set
(npm's arborist reads the installed package.json for them only when it is true)."""


class TarballFiles:
    """A tarball's file list as :class:`~assay.npm.package_json.PackageFiles`: what npm's
    normalisation would see in the package directory, as far as the tarball shows it.

    Differences from the directory ``npm publish`` ran in, all outside
    :data:`CONFUSABLE_FIELDS` except for a file the packlist left out (a ``server.js``,
    ``*.gyp`` or ``directories.bin`` entry that is not in the tarball): no ``AUTHORS`` text (the
    reader keeps only package.json and the README) and no git HEAD.
    """

    def __init__(self, contents: TarballContents) -> None:
        self.contents = contents
        self._paths = [entry.path for entry in contents.files]

    def top_level_files(self) -> list[str]:
        return sorted(p for p in self._paths if "/" not in p)

    def exists(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p == path or p.startswith(prefix) for p in self._paths)

    def entries_under(self, folder: str) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        found: set[str] = set()
        for path in self._paths:
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            if any(part.startswith(".") for part in parts):
                continue
            # A tarball lists files only; the folders on their paths are entries as well.
            found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return walk_order(found)

    def read_text(self, path: str) -> str | None:
        return None

    def readme(self) -> tuple[str, str] | None:
        if not self.contents.readme:
            return None
        names = {p.lower(): p for p in self.top_level_files()}
        found = next((names[n] for n in README_NAMES if n in names), "README")
        return self.contents.readme, found

    def git_head(self) -> str | None:
        return None


def tarball_manifest(contents: TarballContents) -> dict[str, Any]:
    """The tarball's package.json as ``npm publish`` would have sent it (normalised);
    :class:`~assay.errors.ManifestError` when npm would refuse it."""
    return prepare(copy.deepcopy(dict(contents.package_json)), TarballFiles(contents))


def _absent(value: object) -> bool:
    # An empty map, list or string says what a missing field says ("nothing").
    return value is None or value in ({}, [], "")


def first_difference(claimed: Mapping[str, Any], actual: Mapping[str, Any]) -> str | None:
    """The first of :data:`CONFUSABLE_FIELDS` in which `claimed` and `actual` (the tarball's
    package.json) differ, both already through :func:`~assay.npm.package_json.prepare`; None
    when they agree. Missing and empty are the same; maps compare without order; a version
    may lack the build metadata the tarball's has (:func:`~assay.npm.package_json.same_version`)."""
    for field in CONFUSABLE_FIELDS:
        mine, theirs = claimed.get(field), actual.get(field)
        if field == "version":
            if not same_version(mine, theirs):
                return field
        elif not (_absent(mine) and _absent(theirs)) and mine != theirs:
            return field
    return None


def manifest_difference(
    claimed: Mapping[str, Any], contents: TarballContents, actual: Mapping[str, Any]
) -> str | None:
    """The first confusable field in which the manifest `claimed` (a publish request's, an
    upstream packument's) says otherwise than `actual` (:func:`tarball_manifest` of
    `contents`), named as `claimed` spells it (``bundledDependencies`` is npm's alias); None
    when they agree. :class:`~assay.errors.ManifestError` when `claimed` cannot be normalised
    (npm would not publish it)."""
    normalised = prepare(copy.deepcopy(dict(claimed)), TarballFiles(contents))
    field = first_difference(normalised, actual)
    if field == "bundleDependencies" and "bundleDependencies" not in claimed:
        field = "bundledDependencies" if "bundledDependencies" in claimed else field
    return field


def stated_difference(
    stated: Mapping[str, Any], contents: TarballContents, actual: Mapping[str, Any]
) -> str | None:
    """The first fact a registry derived from the tarball and states in a version manifest
    that does not hold of it, or None: ``hasInstallScript`` (any of :data:`INSTALL_SCRIPTS`
    in the normalised package.json, npm's ``gypfile`` rule included) and ``_hasShrinkwrap``
    (an ``npm-shrinkwrap.json`` at the root). A fact not stated is not checked: npmjs.org
    omits ``hasInstallScript`` when it is false."""
    scripts = actual.get("scripts")
    has_install = isinstance(scripts, dict) and any(scripts.get(s) for s in INSTALL_SCRIPTS)
    if "hasInstallScript" in stated and bool(stated["hasInstallScript"]) != has_install:
        return "hasInstallScript"
    has_shrinkwrap = contents.file("npm-shrinkwrap.json") is not None
    if "_hasShrinkwrap" in stated and bool(stated["_hasShrinkwrap"]) != has_shrinkwrap:
        return "_hasShrinkwrap"
    return None
