"""The installed dependency tree, as ``npm audit signatures`` sees it.

npm audits ``new Arborist({path}).loadActual()`` (npm-registry.md §4.1): the installed
``node_modules``, read from the hidden lockfile ``node_modules/.package-lock.json`` when present,
otherwise from each installed ``package.json``. We read, in that order of preference:

1. ``<path>/node_modules/.package-lock.json`` (npm ≥ 7, lockfile v3 shape);
2. ``<path>/npm-shrinkwrap.json`` or ``<path>/package-lock.json`` (v1, v2 or v3) — a
   lockfile-only audit, which npm does not offer (npm/cli issues asking for it, §6.8);
3. walking ``<path>/node_modules`` (each ``package.json``; ``_integrity``/``_resolved`` when an
   old npm wrote them).

``path`` may also name a lockfile directly. Like npm, entries that were not installed from a
registry are skipped: links and workspaces (``link: true``, symlinks), git, ``file:`` and remote
tarball specs (npm-registry.md §4.1 "spec not a registry spec").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from assay.errors import ConfigError
from assay.npm.versions import Version

__all__ = ["InstalledPackage", "Tree", "load_tree"]

Source = Literal["hidden-lockfile", "lockfile", "node_modules"]

_NON_REGISTRY_PREFIXES = ("git+", "git:", "github:", "gitlab:", "bitbucket:", "file:", "link:")


@dataclass(frozen=True, slots=True)
class InstalledPackage:
    """One installed package: where it is and what it claims to be."""

    name: str
    version: str
    location: str
    """``node_modules/a/node_modules/@s/b`` (npm's ``node.location``)."""
    integrity: str | None = None
    resolved: str | None = None
    dev: bool = False
    optional: bool = False
    peer: bool = False
    type: str = "dependencies"
    """The edge type npm reports: ``dependencies``, ``devDependencies``, ``optionalDependencies``
    or ``peerDependencies`` (the root's field for direct dependencies)."""


@dataclass(frozen=True, slots=True)
class Tree:
    """The packages of one project that came from a registry, and where they were read from."""

    root: Path
    source: Source
    file: Path | None
    packages: tuple[InstalledPackage, ...]

    def omit(self, kinds: frozenset[str]) -> Tree:
        """Without ``dev``, ``optional`` and/or ``peer`` packages (npm ``--omit``)."""
        kept = tuple(
            p
            for p in self.packages
            if not (
                ("dev" in kinds and p.dev)
                or ("optional" in kinds and p.optional)
                or ("peer" in kinds and p.peer)
            )
        )
        return Tree(self.root, self.source, self.file, kept)


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} is not a JSON object", path=str(path))
    return value


def _root_types(root: Path) -> dict[str, str]:
    """Direct dependency name → the root ``package.json`` field that declares it."""
    manifest_path = root / "package.json"
    if not manifest_path.is_file():
        return {}
    manifest = _read_json(manifest_path)
    types: dict[str, str] = {}
    # Arborist: a name in several fields is an edge of the last one it reads; prod wins over dev.
    for field in ("devDependencies", "optionalDependencies", "peerDependencies", "dependencies"):
        deps = manifest.get(field)
        if isinstance(deps, dict):
            for name in deps:
                types[str(name)] = field
    return types


def _from_registry(version: str, resolved: str | None) -> bool:
    """Whether an entry was installed from a registry (npm-package-arg type ``version``/
    ``range``/``tag``/``alias``), not git, a directory, a link or a remote tarball URL."""
    if Version.parse_or_none(version) is None:
        return False
    if resolved is None:
        return True
    if resolved.startswith(_NON_REGISTRY_PREFIXES):
        return False
    parts = urlsplit(resolved)
    if parts.scheme not in ("http", "https"):
        return False
    # Registry tarballs live at <registry>/<name>/-/<basename>-<version>.tgz; any other URL is a
    # remote tarball spec, which npm does not audit.
    return "/-/" in parts.path


def _name_from_location(location: str) -> str:
    return location.rsplit("node_modules/", 1)[-1]


def _type(location: str, flags: Mapping[str, Any], roots: Mapping[str, str]) -> str:
    key = location.removeprefix("node_modules/")
    if "node_modules/" not in key and key in roots:
        return roots[key]  # a direct dependency: the root package.json field that declares it
    if flags.get("peer"):
        return "peerDependencies"
    if flags.get("optional"):
        return "optionalDependencies"
    return "dependencies"


def _from_packages(
    packages: Mapping[str, Any], roots: Mapping[str, str]
) -> Iterator[InstalledPackage]:
    """Lockfile v2/v3 ``packages``: keyed by location (``""`` is the root)."""
    for location, entry in packages.items():
        if not location or not isinstance(entry, dict) or "node_modules/" not in location:
            continue  # the root, and workspace folders (which npm links)
        if entry.get("link") or entry.get("extraneous"):
            continue
        version = entry.get("version")
        if not isinstance(version, str):
            continue
        resolved = entry.get("resolved") if isinstance(entry.get("resolved"), str) else None
        if not _from_registry(version, resolved):
            continue
        # An alias (`"x": "npm:real@^1"`) is installed at node_modules/x with "name": "real".
        name = entry.get("name") or _name_from_location(location)
        integrity = entry.get("integrity")
        yield InstalledPackage(
            name=str(name),
            version=version,
            location=location,
            integrity=integrity if isinstance(integrity, str) else None,
            resolved=resolved,
            dev=bool(entry.get("dev") or entry.get("devOptional")),
            optional=bool(entry.get("optional")),
            peer=bool(entry.get("peer")),
            type=_type(location, entry, roots),
        )


def _from_dependencies(
    dependencies: Mapping[str, Any], prefix: str, roots: Mapping[str, str]
) -> Iterator[InstalledPackage]:
    """Lockfile v1 ``dependencies``, nested by the tree's shape."""
    for key, entry in dependencies.items():
        if not isinstance(entry, dict):
            continue
        location = f"{prefix}node_modules/{key}"
        version = entry.get("version")
        name = key
        if isinstance(version, str) and version.startswith("npm:"):
            # v1 aliases: "version": "npm:real@1.0.0".
            name, _, version = version[4:].rpartition("@")
        resolved = entry.get("resolved") if isinstance(entry.get("resolved"), str) else None
        if isinstance(version, str) and _from_registry(version, resolved) and name:
            integrity = entry.get("integrity")
            yield InstalledPackage(
                name=name,
                version=version,
                location=location,
                integrity=integrity if isinstance(integrity, str) else None,
                resolved=resolved,
                dev=bool(entry.get("dev")),
                optional=bool(entry.get("optional")),
                type=_type(location, entry, roots),
            )
        nested = entry.get("dependencies")
        if isinstance(nested, dict):
            yield from _from_dependencies(nested, location + "/", roots)


def _read_lockfile(path: Path, roots: Mapping[str, str]) -> tuple[InstalledPackage, ...]:
    lock = _read_json(path)
    packages = lock.get("packages")
    if isinstance(packages, dict):  # v2, v3
        return tuple(_from_packages(packages, roots))
    dependencies = lock.get("dependencies")
    if isinstance(dependencies, dict):  # v1
        return tuple(_from_dependencies(dependencies, "", roots))
    return ()


def _walk(folder: Path, root: Path, roots: Mapping[str, str]) -> Iterator[InstalledPackage]:
    """Each installed ``package.json`` under ``folder`` (a ``node_modules``), depth first."""
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child.name.startswith("."):
            continue
        if child.name.startswith("@") and child.is_dir() and not child.is_symlink():
            candidates = sorted(p for p in child.iterdir() if not p.name.startswith("."))
        else:
            candidates = [child]
        for package_dir in candidates:
            if package_dir.is_symlink() or not (package_dir / "package.json").is_file():
                continue  # links and workspaces
            manifest = _read_json(package_dir / "package.json")
            location = package_dir.relative_to(root).as_posix()
            name, version = manifest.get("name"), manifest.get("version")
            resolved = manifest.get("_resolved")
            resolved = resolved if isinstance(resolved, str) else None
            integrity = manifest.get("_integrity")
            if (
                isinstance(name, str)
                and isinstance(version, str)
                and _from_registry(version, resolved)
            ):
                yield InstalledPackage(
                    name=name,
                    version=version,
                    location=location,
                    integrity=integrity if isinstance(integrity, str) else None,
                    resolved=resolved,
                    type=_type(location, {}, roots),
                )
            nested = package_dir / "node_modules"
            if nested.is_dir():
                yield from _walk(nested, root, roots)


def load_tree(path: Path) -> Tree:
    """The registry packages installed in project ``path`` (or listed by lockfile ``path``)."""
    if path.is_file():
        root = path.parent
        return Tree(root, "lockfile", path, _read_lockfile(path, _root_types(root)))
    if not path.is_dir():
        raise ConfigError(f"no such project directory: {path}", path=str(path))
    roots = _root_types(path)
    hidden = path / "node_modules" / ".package-lock.json"
    if hidden.is_file():
        return Tree(path, "hidden-lockfile", hidden, _read_lockfile(hidden, roots))
    for name in ("npm-shrinkwrap.json", "package-lock.json"):
        lockfile = path / name
        if lockfile.is_file():
            return Tree(path, "lockfile", lockfile, _read_lockfile(lockfile, roots))
    node_modules = path / "node_modules"
    if node_modules.is_dir():
        return Tree(path, "node_modules", None, tuple(_walk(node_modules, path, roots)))
    return Tree(path, "node_modules", None, ())
