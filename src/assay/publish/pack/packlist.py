"""Which files ``npm pack`` packs, and in which order: npm-packlist 10 on ignore-walk 8.

Each directory applies rule sets in this order, a later match overriding an earlier one, and a
directory's rules see paths relative to it (so ``/x`` anchors there): npm-packlist's defaults
(``.git``, ``CVS``, ``.DS_Store``, ``*.orig``, ``/build/config.gypi``, …), the ``files`` field
(root only; when present the root's ``.npmignore``/``.gitignore`` are not read, nested ones
still are), ``.npmignore`` (else ``.gitignore``), and the "strict" rules (at the root: always
include package.json, README*, LICENSE*/LICENCE*, COPYING*, ``main``, ``browser`` and ``bin``
targets, and files named in ``files``; always exclude ``/.git``, ``/node_modules``, ``.npmrc``
and the root lock files). Symbolic links are skipped, never followed (ignore-walk runs with
``follow: false``; npm-packlist drops anything that is not a file or directory); names with
``*`` are skipped (npm-packlist ``nameIsBadForWindows``). Bundled dependencies are walked as
npm-packlist ``gatherBundles`` does (their own ``files`` and strict rules; their subdirectories'
ignore files). The result is sorted as npm-packlist sorts it: by extension, then basename, then
path, each with ICU collation (:mod:`.collation`). Patterns are minimatch's (:mod:`.minimatch`).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from assay.errors import PackError
from assay.publish.pack.collation import CollationKey, collation_key
from assay.publish.pack.minimatch import Rule
from assay.publish.pack.package_json import normalized_bins

__all__ = ["packlist"]


# npm-packlist 10 ``defaults``: applied in every directory of the package.
_DEFAULT_RULES: Final = (
    ".npmignore",
    ".gitignore",
    "**/.git",
    "**/.svn",
    "**/.hg",
    "**/CVS",
    "**/.git/**",
    "**/.svn/**",
    "**/.hg/**",
    "**/CVS/**",
    "/.lock-wscript",
    "/.wafpickle-*",
    "/build/config.gypi",
    "npm-debug.log",
    "**/.npmrc",
    ".*.swp",
    ".DS_Store",
    "**/.DS_Store/**",
    "._*",
    "**/._*/**",
    "*.orig",
    "/archived-packages/**",
)
# npm-packlist ``strictDefaults``, and the root package's strict rules (``processPackage``).
_STRICT_DEFAULTS: Final = ("/.git",)
_ROOT_STRICT: Final = (
    *_STRICT_DEFAULTS,
    "!/package.json",
    "!/readme{,.*[^~$]}",
    "!/copying{,.*[^~$]}",
    "!/license{,.*[^~$]}",
    "!/licence{,.*[^~$]}",
    "/.git",
    "/node_modules",
    ".npmrc",
    "/package-lock.json",
    "/yarn.lock",
    "/pnpm-lock.yaml",
    "/bun.lockb",
)
# Synthetic rule-set names (symbols in npm-packlist; these can never be file names).
_DEFAULTS: Final = "\0defaults"
_STRICT: Final = "\0strict"
_ROOT_IGNORE_FILES: Final = (_DEFAULTS, "package.json", ".npmignore", ".gitignore", _STRICT)
_CHILD_IGNORE_FILES: Final = (_DEFAULTS, ".npmignore", ".gitignore", _STRICT)
_BUNDLE_IGNORE_FILES: Final = ("package.json", _STRICT)

# JavaScript's String.prototype.trim() whitespace (differs from str.strip: BOM yes, \x1c no).
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
_JS_SPACE += "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


@lru_cache(maxsize=512)
def _parse_ignore(text: str) -> tuple[Rule, ...]:
    """ignore-walk ``onReadIgnoreFile``: one minimatch rule per non-empty, non-comment line.

    Cached: the default and strict rule sets are the same text in every directory, and a rule
    never changes once built."""
    rules = []
    for line in re.split(r"\r?\n", text):
        trimmed = line.strip(_JS_SPACE)
        if not trimmed or trimmed.startswith("#"):
            continue
        rules.append(Rule(trimmed))
    return tuple(rules)


class _Walker:
    """One directory of the walk; rules see paths relative to the directory that holds them."""

    def __init__(
        self,
        path: Path,
        *,
        parent: _Walker | None,
        ignore_files: Sequence[str],
        is_package: bool,
        manifest: Mapping[str, Any] | None,
        required: Sequence[str] = (),
        exact: bool = False,
        result: list[str],
        root: Path,
    ) -> None:
        self.path = path
        self.parent = parent
        self.basename = path.name
        self.ignore_files = ignore_files
        self.is_package = is_package
        self.manifest = manifest
        self.required = list(required)
        self.exact = exact
        self.result = result
        self.root = root
        self.rules: dict[str, tuple[Rule, ...] | None] = {
            _DEFAULTS: _parse_ignore("\n".join(_DEFAULT_RULES))
        }
        if not is_package:
            strict = [*_STRICT_DEFAULTS, *(f"!{f}" for f in self.required)]
            self.rules[_STRICT] = _parse_ignore("\n".join(strict))

    def walk(self) -> None:
        try:
            entries = os.listdir(self.path)
        except OSError as exc:
            raise PackError(f"cannot read directory: {exc}", path=str(self.path)) from exc
        if not entries:
            return
        for name in entries:
            if name in self.ignore_files:
                self._add_ignore_file(name)
        self._filter_entries(entries)

    def _add_ignore_file(self, name: str) -> None:
        if name == "package.json" and self.is_package:
            self._process_package()
            return
        try:
            text = (self.path / name).read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise PackError(f"cannot read ignore file: {exc}", path=str(self.path / name)) from exc
        self.rules[name] = _parse_ignore(text)

    def _process_package(self) -> None:
        """npm-packlist ``processPackage``: rules from ``files``, ``main``, ``browser``, ``bin``."""
        manifest = self.manifest or {}
        strict = list(_ROOT_STRICT)
        files = manifest.get("files")
        if isinstance(files, list):
            ignores: list[str] = []
            for item in files:
                if not isinstance(item, str):
                    continue
                entry = item
                if entry.startswith("./"):
                    entry = entry[1:]
                if entry.endswith("/*"):
                    entry += "*"
                inverse = f"!{entry}"
                target = os.path.normpath(os.path.join(self.path, entry.lstrip("!")))
                try:
                    st = os.lstat(target)
                except (OSError, ValueError):
                    ignores.append(inverse)  # not on disk: a pattern
                    continue
                if stat.S_ISREG(st.st_mode):
                    strict.insert(0, inverse)
                    self.required.append(entry[1:] if entry.startswith("/") else entry)
                elif stat.S_ISDIR(st.st_mode):
                    ignores.extend((inverse, f"{inverse}/**"))
            self.rules["package.json"] = _parse_ignore("\n".join(["*", *ignores]))
        browser = manifest.get("browser")
        if isinstance(browser, str) and browser:
            strict.append(f"!/{browser}")
        main = manifest.get("main")
        if isinstance(main, str) and main:
            strict.append(f"!/{main}")
        for target in normalized_bins(self.path, manifest).values():
            strict.append(f"!/{target}")
        self.rules[_STRICT] = _parse_ignore("\n".join(strict))

    def _filter_entries(self, entries: list[str]) -> None:
        # npm-packlist ``filterEntries``: files > .npmignore > .gitignore, per directory.
        if self.rules.get("package.json") is not None:
            self.rules[".npmignore"] = None
            self.rules[".gitignore"] = None
        elif self.rules.get(".npmignore") is not None:
            self.rules[".gitignore"] = None
        for entry in entries:
            pass_file = self.filter_entry(entry)
            pass_dir = self.filter_entry(entry, partial=True)
            if not (pass_file or pass_dir):
                continue
            if "*" in entry:
                continue  # npm-packlist nameIsBadForWindows
            full = self.path / entry
            try:
                st = os.lstat(full)
            except OSError as exc:
                raise PackError(f"cannot stat: {exc}", path=str(full)) from exc
            if stat.S_ISREG(st.st_mode):
                if pass_file:
                    self.result.append(full.relative_to(self.root).as_posix())
            elif stat.S_ISDIR(st.st_mode) and pass_dir:
                exact = pass_file or self.filter_entry(entry + "/")
                self._child(entry, exact).walk()
            # anything else (symlinks, sockets, devices) is skipped, never followed

    def _child(self, entry: str, exact: bool) -> _Walker:
        required = []
        for file in self.required:
            head, sep, rest = file.partition("/")
            if sep and head == entry and rest and "/" not in rest:
                required.append(rest)
        return _Walker(
            self.path / entry,
            parent=self,
            ignore_files=_CHILD_IGNORE_FILES,
            is_package=False,
            manifest=None,
            required=required,
            exact=exact,
            result=self.result,
            root=self.root,
        )

    def filter_entry(self, entry: str, partial: bool = False, basename: str | None = None) -> bool:
        """ignore-walk ``filterEntry``: is `entry` (relative to this directory) included?"""
        included = True
        if self.parent is not None:
            included = self.parent.filter_entry(
                f"{self.basename}/{entry}", partial, basename or entry
            )
            if not included and not self.exact:
                return False
        for name in self.ignore_files:
            rules = self.rules.get(name)
            if not rules:
                continue
            for rule in rules:
                if rule.negate == included:
                    continue
                if _rule_matches(rule, entry, partial, basename):
                    included = rule.negate
        return included


def _rule_matches(rule: Rule, entry: str, partial: bool, basename: str | None) -> bool:
    if rule.match("/" + entry) or rule.match(entry):
        return True
    if not partial:
        return False
    if rule.match("/" + entry + "/") or rule.match(entry + "/"):
        return True
    if rule.negate and (rule.match("/" + entry, True) or rule.match(entry, True)):
        return True
    relative = bool(basename) and any(
        len(part) <= (1 if part[-1] else 2) for part in rule.glob_parts
    )
    if not relative or basename is None:
        return False
    if rule.match("/" + basename + "/") or rule.match(basename + "/"):
        return True
    return rule.negate and (rule.match("/" + basename, True) or rule.match(basename, True))


def packlist(root: Path, manifest: Mapping[str, Any]) -> list[str]:
    """npm-packlist: the package's files, sorted; names starting with ``@`` are ``./@…``."""
    root = root.absolute()
    result: list[str] = []
    _Walker(
        root,
        parent=None,
        ignore_files=_ROOT_IGNORE_FILES,
        is_package=True,
        manifest=manifest,
        result=result,
        root=root,
    ).walk()
    _gather_bundles(root, manifest, result)
    # ignore-walk: names starting with "@" are listed as "./@…" (and sorted that way)
    listed = [f"./{p}" if p.startswith("@") else p for p in dict.fromkeys(result)]
    for path in listed:
        if any("\udc80" <= ch <= "\udcff" for ch in path):
            raise PackError("file name is not valid UTF-8", path=path)
    listed.sort(key=__sort_key)
    return listed


def _gather_bundles(root: Path, manifest: Mapping[str, Any], result: list[str]) -> None:
    """npm-packlist ``gatherBundles``: walk bundled dependencies found in node_modules.

    The root's ``bundleDependencies`` (``true`` = all ``dependencies``) name the packages; each
    bundled package then brings its own ``dependencies`` and ``optionalDependencies``, resolved
    the Node way (nearest ``node_modules`` upwards). Dev and peer dependencies are never bundled
    (their Arborist edges are ``dev``/``peer``).
    """
    seen: set[Path] = {root}

    def names_for(node_manifest: Mapping[str, Any], is_root: bool) -> list[str]:
        if is_root:
            bd = node_manifest.get("bundleDependencies", node_manifest.get("bundledDependencies"))
            if bd is True:
                bd = list(_deps(node_manifest, "dependencies"))
            elif isinstance(bd, dict):
                bd = list(bd)
            if not isinstance(bd, list):
                return []
            out = []
            for name in bd:
                if isinstance(name, str) and _edge_type(node_manifest, name, is_root) in {
                    "prod",
                    "optional",
                }:
                    out.append(name)
            return out
        names = [
            *_deps(node_manifest, "dependencies"),
            *_deps(node_manifest, "optionalDependencies"),
        ]
        return [
            n
            for n in dict.fromkeys(names)
            if _edge_type(node_manifest, n, False) in {"prod", "optional"}
        ]

    def visit(node_path: Path, node_manifest: Mapping[str, Any], is_root: bool) -> None:
        for name in names_for(node_manifest, is_root):
            dep = _resolve(root, node_path, name)
            if dep is None or dep in seen:
                continue
            seen.add(dep)
            if dep.is_symlink():
                raise PackError(
                    "bundled dependency is a symbolic link; assay does not follow links out of "
                    "the package",
                    path=str(dep),
                )
            dep_manifest = _read_json_object(dep / "package.json")
            files: list[str] = []
            _Walker(
                dep,
                parent=None,
                ignore_files=_BUNDLE_IGNORE_FILES,
                is_package=True,
                manifest=dep_manifest,
                result=files,
                root=dep,
            ).walk()
            prefix = dep.relative_to(root).as_posix()
            result.extend(posixpath.normpath(f"{prefix}/{f}") for f in files)
            visit(dep, dep_manifest, is_root=False)

    visit(root, manifest, is_root=True)


def _deps(manifest: Mapping[str, Any], field: str) -> list[str]:
    value = manifest.get(field)
    return list(value) if isinstance(value, dict) else []


def _edge_type(manifest: Mapping[str, Any], name: str, is_root: bool) -> str | None:
    """Arborist ``Node#loadDeps``: later dependency types override earlier ones."""
    order = ["peerDependencies", "dependencies", "optionalDependencies"]
    kinds = {"peerDependencies": "peer", "dependencies": "prod", "optionalDependencies": "optional"}
    if is_root:
        order.append("devDependencies")
        kinds["devDependencies"] = "dev"
    found = None
    for field in order:
        if name in _deps(manifest, field):
            found = kinds[field]
    return found


def _resolve(root: Path, start: Path, name: str) -> Path | None:
    """Node module resolution of `name` from the package at `start`, not above `root`."""
    here = start
    while True:
        candidate = here / "node_modules" / name
        if candidate.is_symlink() or candidate.is_dir():
            return candidate
        if here == root:
            return None
        # step out of ".../node_modules/<name>" (or "@scope/<name>") to the owning package
        parent = here.parent
        if parent.name.startswith("@"):
            parent = parent.parent
        here = parent.parent if parent.name == "node_modules" else parent
        if root not in (here, *here.parents):
            return None


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


# npm-packlist ``sort``


def _extname(path: str) -> str:
    """Node ``path.extname``: from the last dot of the basename, unless the name starts there."""
    base = _basename(path)
    dot = base.rfind(".")
    return "" if dot <= 0 else base[dot:]


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def __sort_key(path: str) -> tuple[CollationKey, CollationKey, CollationKey]:
    """npm-packlist ``sort``: extension, then basename (both lower-cased), then the path."""
    return (
        collation_key(_extname(path).lower()),
        collation_key(_basename(path).lower()),
        collation_key(path),
    )
