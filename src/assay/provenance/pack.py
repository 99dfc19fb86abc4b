"""Pack a package directory into an npm tarball, as ``npm pack`` (npm 11) does.

The pieces, and where their behaviour comes from:

* **Which files** — a port of npm-packlist 10 (``lib/index.js``) on top of ignore-walk 8 and
  minimatch 10 semantics (``matchBase``, ``dot``, ``nocase``; braces, classes, extglobs). Each
  directory applies rule sets in this order, a later match overriding an earlier one, and a
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
  ignore files).
* **In which order** — npm-packlist sorts by extension, then basename, then path, each with
  ``localeCompare(…, 'en')`` (ICU collation, for compressibility); :func:`_collation_key`
  reproduces ICU's root collation exactly for ASCII names and approximately beyond (base letter,
  then accents, then case). ``npm pack --json`` lists files in another order, see
  :meth:`PackResult.npm_json`.
* **How the archive is written** — pacote's ``tarCreateOptions``: node-tar with
  ``prefix: 'package/'``, ``portable: true`` (no uid/gid/uname/atime/ctime), fixed mtime
  1985-10-26T08:15:00Z, modes ``(mode | 0o600) & ~0o022`` (node-tar ``modeFix``), bins made
  executable (pacote ``isPackageBin``), only file entries (no directory entries), pax headers
  when a path is long or not ASCII, then gzip level 9 with the OS byte set to 255 (minizlib's
  portable mode). The uncompressed tar is byte-identical to npm's; the gzip bytes usually are not,
  because Node bundles Chromium's zlib, whose deflate picks different matches than the system
  zlib Python uses — so ``integrity``/``shasum`` differ from npm's for the same files.

Things npm does that we do not: run ``prepack``/``prepare``/``postpack`` scripts (``npm pack
--ignore-scripts`` is the equivalent), honour workspaces, follow a symlinked (``npm link``ed)
bundled dependency (we refuse it: following it could pack files from outside the package), pack
a file whose name is not UTF-8 (npm mangles it), iterate the characters of a string ``files``.
We also check what npm pack does not: the name (validate-npm-package-name rules) and the version
(SemVer 2.0), since a registry refuses anything else and the name becomes a file name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
import stat
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, TypeAlias

from assay.errors import PackError

__all__ = ["PackResult", "PackedFile", "list_package_files", "pack_directory", "tarball_filename"]


# ---------------------------------------------------------------------------------------------
# Results


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

        def key(f: PackedFile) -> _Key:
            return _collation_key(f.path, numeric=True)

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


# ---------------------------------------------------------------------------------------------
# Entry points


def pack_directory(path: str | os.PathLike[str]) -> PackResult:
    """Pack the package in directory `path` the way ``npm pack --ignore-scripts`` does."""
    root = Path(path)
    manifest = _read_manifest(root)
    relative_paths = _packlist(root, manifest)
    bins = _normalized_bins(root, manifest)
    files: list[PackedFile] = []
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = bytearray()
    for listed in relative_paths:
        clean = listed.removeprefix("./")
        data, st_mode = _read_regular_file(root, clean)
        mode = st_mode & 0o7777
        if _is_package_bin(bins, listed):
            mode |= 0o111
        mode = (mode | 0o600) & ~0o022  # node-tar modeFix, portable
        files.append(PackedFile(path=clean, size=len(data), mode=mode))
        out += compressor.compress(_tar_entry("package/" + clean, mode, data))
    out += compressor.compress(b"\0" * 1024)  # node-tar Pack: end-of-archive marker
    out += compressor.flush()
    out[9] = 0xFF  # minizlib portable gzip: OS = unknown
    tarball = bytes(out)
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode("ascii")
    return PackResult(
        name=manifest["name"],
        version=manifest["version"],
        files=tuple(files),
        tarball=tarball,
        integrity=f"sha512-{digest}",
        shasum=hashlib.sha1(tarball, usedforsecurity=False).hexdigest(),
    )


def list_package_files(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The files ``npm pack`` would include, in npm-packlist's order (relative, ``/``-separated)."""
    root = Path(path)
    relative_paths = _packlist(root, _read_manifest(root))
    return tuple(p.removeprefix("./") for p in relative_paths)


# ---------------------------------------------------------------------------------------------
# package.json

# validate-npm-package-name: URL-safe characters, optional @scope/, no leading "." or "_", at
# most 214 characters. Upper case is accepted: npm pack does, and old packages have it.
_NAME = re.compile(r"(?:@[A-Za-z0-9~-][A-Za-z0-9._~-]*/)?[A-Za-z0-9~-][A-Za-z0-9._~-]*")
# Semantic Versioning 2.0.0, section 9-10 (the registry refuses anything else).
_NUM = r"(?:0|[1-9][0-9]*)"
_PRE = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_VERSION = re.compile(
    rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE}(?:\.{_PRE})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def _read_manifest(root: Path) -> dict[str, Any]:
    """package.json, which npm requires to have a name and a version (npm ``pack`` command)."""
    package_json = root / "package.json"
    try:
        st = package_json.lstat()
    except FileNotFoundError as exc:
        raise PackError("no package.json in directory", path=str(root)) from exc
    except OSError as exc:
        raise PackError(f"cannot read package.json: {exc}", path=str(root)) from exc
    if not stat.S_ISREG(st.st_mode):
        # npm-packlist skips symlinks, so npm would produce a tarball without package.json.
        raise PackError("package.json is not a regular file", path=str(package_json))
    try:
        text = package_json.read_bytes().decode("utf-8").removeprefix("\ufeff")
        manifest = json.loads(text, parse_constant=_refuse_constant)
    except OSError as exc:
        raise PackError(f"cannot read package.json: {exc}", path=str(package_json)) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PackError(f"package.json is not valid JSON: {exc}", path=str(package_json)) from exc
    if not isinstance(manifest, dict):
        raise PackError("package.json is not a JSON object", path=str(package_json))
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise PackError("Invalid package, must have name and version", path=str(package_json))
    if len(name) > 214 or not _NAME.fullmatch(name):
        raise PackError("invalid package name", path=str(package_json), name=name)
    if name.lower() in {"node_modules", "favicon.ico"}:
        raise PackError("invalid package name", path=str(package_json), name=name)
    if not _VERSION.fullmatch(version):
        raise PackError("invalid semver version", path=str(package_json), version=version)
    files = manifest.get("files")
    if files and (not isinstance(files, list) or not all(isinstance(f, str) for f in files)):
        # npm would iterate a string's characters or crash on anything else.
        raise PackError('"files" must be an array of strings', path=str(package_json))
    return manifest


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _secure_path(ref: str) -> str:
    """@npmcli/package-json ``secureAndUnixifyPath``: unixify, resolve inside the package root,
    drop the leading slash; a path that resolves to the root itself becomes ''."""
    unix = ref.replace("\\", "/").replace(":", "/")
    resolved = posixpath.normpath("/" + unix).lstrip("/")
    return "" if resolved in ("", ".") else resolved


def _normalized_bins(root: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """``bin`` after @npmcli/package-json normalization (steps ``bin`` and ``binDir``)."""
    bin_field = manifest.get("bin")
    directories = manifest.get("directories")
    if not bin_field and isinstance(directories, dict) and isinstance(directories.get("bin"), str):
        # binDir: every non-dot file below directories.bin becomes a bin.
        bin_dir = _secure_path(directories["bin"])
        base = root / bin_dir
        found: dict[str, str] = {}
        if bin_dir and base.is_dir() and not base.is_symlink():
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel_dir = Path(dirpath).relative_to(base).as_posix()
                for entry in sorted(dirnames + filenames):
                    if entry.startswith("."):
                        continue
                    rel = entry if rel_dir == "." else f"{rel_dir}/{entry}"
                    found[entry] = f"{bin_dir}/{_secure_path(rel)}"
        return found
    name = manifest.get("name")
    if isinstance(bin_field, str):
        bin_field = {name: bin_field} if isinstance(name, str) and name else None
    elif isinstance(bin_field, list):
        bin_field = {posixpath.basename(b): b for b in bin_field if isinstance(b, str)}
    if not isinstance(bin_field, dict):
        return {}
    bins: dict[str, str] = {}
    for key, target in bin_field.items():
        if not isinstance(target, str):
            continue
        base_name = posixpath.basename(_secure_path(key))
        secured = _secure_path(target)
        if base_name and secured:
            bins[base_name] = secured
    return bins


def _is_package_bin(bins: Mapping[str, str], listed: str) -> bool:
    """pacote ``isPackageBin`` as ``tarCreateOptions`` calls it: on the path *before* the prefix
    is added, after dropping its first segment. So a bin at ``bin/cli.js`` is not forced
    executable, and a file ``lib/cli.js`` is when some bin is ``cli.js`` — npm's behaviour,
    reproduced so the modes match."""
    stripped = re.sub(r"^[^\\/]*/", "", listed, count=1)
    return stripped in bins.values()


# ---------------------------------------------------------------------------------------------
# Globs: the subset of minimatch 10 that ignore files use, with ignore-walk's options
# (matchBase, dot, flipNegate, nocase).


class _Globstar:
    def __repr__(self) -> str:
        return "**"


_GLOBSTAR: Final = _Globstar()
_Part: TypeAlias = "str | re.Pattern[str] | _Globstar"

_BRACE_PAIR = re.compile(r"\{(?:(?!\{).)*\}")
_MAX_EXPANSIONS = 1000


def _brace_expand(pattern: str) -> list[str]:
    """Bash-style brace expansion as the brace-expansion package does it: ``a{b,c}`` and
    sequences ``{1..3}``/``{a..c}``; ``\\{``, ``\\}``, ``\\,`` and ``\\.`` are literal."""
    if not _BRACE_PAIR.search(pattern):
        return [pattern]
    if pattern.startswith("{}"):
        pattern = "\\{\\}" + pattern[2:]
    protected = _protect_braces(pattern)
    return [_unprotect_braces(s) for s in _expand(protected, top=True)][:_MAX_EXPANSIONS]


_ESC = {"\\\\": "\0S\0", "\\{": "\0O\0", "\\}": "\0C\0", "\\,": "\0M\0", "\\.": "\0P\0"}
_UNESC = {"\0S\0": "\\", "\0O\0": "{", "\0C\0": "}", "\0M\0": ",", "\0P\0": "."}


def _protect_braces(s: str) -> str:
    for raw, token in _ESC.items():
        s = s.replace(raw, token)
    return s


def _unprotect_braces(s: str) -> str:
    for token, raw in _UNESC.items():
        s = s.replace(token, raw)
    return s


def _balanced(s: str) -> tuple[str, str, str] | None:
    """balanced-match: the first ``{…}`` pair, or the innermost one when braces don't balance."""
    ai = s.find("{")
    bi = s.find("}", ai + 1)
    if ai < 0 or bi <= 0:
        return None
    begs: list[int] = []
    left, right = len(s), -1
    i = ai
    result: tuple[int, int] | None = None
    while i >= 0 and result is None:
        if i == ai:
            begs.append(i)
            ai = s.find("{", i + 1)
        elif len(begs) == 1:
            result = (begs.pop(), bi)
        else:
            beg = begs.pop()
            if beg < left:
                left, right = beg, bi
            bi = s.find("}", i + 1)
        i = ai if 0 <= ai < bi else bi
    if result is None and begs and right >= 0:
        result = (left, right)
    if result is None:
        return None
    start, end = result
    return s[:start], s[start + 1 : end], s[end + 1 :]


def _comma_parts(body: str) -> list[str]:
    """Split a brace body on top-level commas (nested ``{…}`` stay whole)."""
    if not body:
        return [""]
    found = _balanced(body)
    if found is None:
        return body.split(",")
    pre, inner, post = found
    parts = pre.split(",")
    parts[-1] += "{" + inner + "}"
    rest = _comma_parts(post)
    if post:
        parts[-1] += rest.pop(0)
        parts.extend(rest)
    return parts


_NUMERIC_SEQ = re.compile(r"-?[0-9]+\.\.-?[0-9]+(?:\.\.-?[0-9]+)?")
_ALPHA_SEQ = re.compile(r"[a-zA-Z]\.\.[a-zA-Z](?:\.\.-?[0-9]+)?")


def _sequence(body: str, alpha: bool) -> list[str]:
    parts = body.split("..")

    def num(s: str) -> int:
        return int(s) if re.fullmatch(r"-?[0-9]+", s) else ord(s[0])

    start, end = num(parts[0]), num(parts[1])
    step = max(abs(num(parts[2])), 1) if len(parts) == 3 else 1
    width = max(len(parts[0]), len(parts[1]))
    pad = any(re.match(r"-?0[0-9]", p) for p in parts)
    if end < start:
        step = -step
    out: list[str] = []
    i = start
    while (i <= end if step > 0 else i >= end) and len(out) < _MAX_EXPANSIONS:
        if alpha:
            text = chr(i) if chr(i) != "\\" else ""
        else:
            text = str(i)
            if pad and len(text) < width:
                zeros = "0" * (width - len(text))
                text = "-" + zeros + text[1:] if i < 0 else zeros + text
        out.append(text)
        i += step
    return out


def _expand(s: str, *, top: bool) -> list[str]:
    acc = [""]
    drop_empties = False
    first = True
    while True:
        found = _balanced(s)
        if found is None:
            return _combine(acc, s, [""], drop_empties)
        pre, body, post = found
        if pre.endswith("$"):
            acc = _combine(acc, pre + "{" + body + "}", [""], drop_empties and not post)
            first = False
            if not post:
                return acc
            s = post
            continue
        is_seq = bool(_NUMERIC_SEQ.fullmatch(body) or _ALPHA_SEQ.fullmatch(body))
        if not is_seq and "," not in body:
            if re.search(r",(?!,).*\}", post):
                s = pre + "{" + body + "\0C\0" + post
                top = True
                continue
            return _combine(acc, pre + "{" + body + "}" + post, [""], drop_empties)
        if first:
            drop_empties = top and not is_seq
            first = False
        values: list[str]
        if is_seq:
            values = _sequence(body, alpha=bool(_ALPHA_SEQ.fullmatch(body)))
        else:
            parts = _comma_parts(body)
            if len(parts) == 1:
                parts = ["{" + p + "}" for p in _expand(parts[0], top=False)]
                if len(parts) == 1:
                    acc = _combine(acc, pre + parts[0], [""], drop_empties and not post)
                    if not post:
                        return acc
                    s = post
                    continue
            skip_empty = drop_empties and not post and not pre and not any(acc)
            values = []
            for part in parts:
                values.extend(v for v in _expand(part, top=False) if v or not skip_empty)
        acc = _combine(acc, pre, values, drop_empties and not post)
        if not post:
            return acc
        s = post


def _combine(acc: list[str], pre: str, values: list[str], drop_empties: bool) -> list[str]:
    out: list[str] = []
    for a in acc:
        for v in values:
            joined = a + pre + v
            if drop_empties and not joined:
                continue
            out.append(joined)
            if len(out) >= _MAX_EXPANSIONS:
                return out
    return out


# POSIX character classes, approximated with Python's (Unicode-aware) classes.
_POSIX_CLASSES: Final = {
    "[:alnum:]": r"[^\W_]",
    "[:alpha:]": r"[^\W\d_]",
    "[:ascii:]": r"[\x00-\x7f]",
    "[:blank:]": r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]",
    "[:cntrl:]": r"[\x00-\x1f\x7f-\x9f]",
    "[:digit:]": r"\d",
    "[:graph:]": r"[^\s\x00-\x1f\x7f-\x9f]",
    "[:lower:]": r"[a-z]",
    "[:print:]": r"[^\x00-\x1f\x7f-\x9f]",
    "[:punct:]": r"[!-/:-@\[-`{-~]",
    "[:space:]": r"\s",
    "[:upper:]": r"[A-Z]",
    "[:word:]": r"\w",
    "[:xdigit:]": r"[A-Fa-f0-9]",
}


def _parse_class(glob: str, pos: int) -> tuple[str, int, bool] | None:
    """A ``[…]`` class at `pos` (minimatch ``parseClass``): (regex, chars consumed, magic), or
    None when it does not close (then ``[`` is a literal)."""
    i = pos + 1
    ranges: list[str] = []
    atoms: list[str] = []
    negate = saw_start = escaping = False
    range_start = ""
    end = -1
    while i < len(glob):
        c = glob[i]
        if c in "!^" and i == pos + 1:
            negate = True
            i += 1
            continue
        if c == "]" and saw_start and not escaping:
            end = i + 1
            break
        saw_start = True
        if c == "\\" and not escaping:
            escaping = True
            i += 1
            continue
        if c == "[" and not escaping:
            for name, atom in _POSIX_CLASSES.items():
                if glob.startswith(name, i):
                    if range_start:
                        return r"(?!)", len(glob) - pos, True
                    atoms.append(atom)
                    i += len(name)
                    break
            else:
                name = ""
            if name:
                continue
        escaping = False
        if range_start:
            if c > range_start:
                ranges.append(re.escape(range_start) + "-" + re.escape(c))
            elif c == range_start:
                ranges.append(re.escape(c))
            range_start = ""
            i += 1
            continue
        if glob.startswith("-]", i + 1):
            ranges.append(re.escape(c) + re.escape("-"))
            i += 2
            continue
        if glob.startswith("-", i + 1):
            range_start = c
            i += 2
            continue
        ranges.append(re.escape(c))
        i += 1
    if end < 0:
        return None
    consumed = end - pos
    if not ranges and not atoms:
        return r"(?!)", consumed, True
    if not atoms and len(ranges) == 1 and not negate and len(ranges[0]) <= 2:
        literal = ranges[0][-1] if len(ranges[0]) == 2 else ranges[0]
        return re.escape(literal), consumed, False
    options = ([f"[{''.join(ranges)}]"] if ranges else []) + atoms
    if negate:
        return "".join(f"(?!{o})" for o in options) + "[^/]", consumed, True
    return (options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"), consumed, True


_EXTGLOB = "!?+*@"


def _segment_regex(glob: str) -> tuple[str, bool]:
    """Translate one path segment of a glob to a regex body; returns (regex, has magic)."""
    # A segment made only of stars must match something (minimatch ``starNoEmpty``).
    if glob and set(glob) == {"*"}:
        return r"[^/]+?", True
    return _translate(glob, 0, len(glob))


def _translate(glob: str, start: int, stop: int) -> tuple[str, bool]:
    out: list[str] = []
    magic = False
    i = start
    while i < stop:
        c = glob[i]
        if c == "\\":
            if i + 1 >= stop:
                out.append(re.escape("\\"))
            else:
                out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        if c in _EXTGLOB and i + 1 < stop and glob[i + 1] == "(":
            close = _find_group_end(glob, i + 2, stop)
            if close is not None:
                alternatives = [
                    _translate(glob, a, b)[0] for a, b in _split_alternatives(glob, i + 2, close)
                ]
                body = "|".join(alternatives)
                if c == "!":
                    rest, _ = _translate(glob, close + 1, stop)
                    out.append(f"(?:(?!(?:{body}){rest}$)[^/]*?)")
                else:
                    suffix = {"@": "", "?": "?", "+": "+", "*": "*"}[c]
                    out.append(f"(?:{body}){suffix}")
                magic = True
                i = close + 1
                continue
        if c == "*":
            while i < stop and glob[i] == "*":
                i += 1
            out.append(r"[^/]*?")
            magic = True
            continue
        if c == "?":
            out.append(r"[^/]")
            magic = True
            i += 1
            continue
        if c == "[":
            parsed = _parse_class(glob[:stop], i)
            if parsed is not None:
                regex, consumed, class_magic = parsed
                out.append(regex)
                magic = magic or class_magic
                i += consumed
                continue
        out.append(re.escape(c))
        i += 1
    return "".join(out), magic


def _find_group_end(glob: str, i: int, stop: int) -> int | None:
    depth = 0
    while i < stop:
        c = glob[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return None


def _split_alternatives(glob: str, start: int, stop: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    depth = 0
    i = begin = start
    while i < stop:
        c = glob[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            spans.append((begin, i))
            begin = i + 1
        i += 1
    spans.append((begin, stop))
    return spans


def _compile_part(glob: str) -> _Part:
    if glob == "**":
        return _GLOBSTAR
    if glob == "":
        return ""
    regex, magic = _segment_regex(glob)
    # nocase: any segment with letters is compared case-insensitively (minimatch toMMPattern)
    if not magic and glob.upper() == glob.lower():
        return re.sub(r"\\(.)", r"\1", regex)
    try:
        return re.compile(rf"(?s:{regex})\Z", re.IGNORECASE)
    except re.error:
        return re.compile(r"(?!)")


class _Rule:
    """One line of an ignore file, as a minimatch ``Minimatch`` with ignore-walk's options."""

    __slots__ = ("comment", "empty", "glob_parts", "negate", "parts")

    def __init__(self, pattern: str) -> None:
        self.negate = False
        self.comment = pattern.startswith("#")
        self.empty = pattern == ""
        self.glob_parts: list[list[str]] = []
        self.parts: list[list[_Part]] = []
        if self.comment or self.empty:
            return
        bangs = len(pattern) - len(pattern.lstrip("!"))
        self.negate = bangs % 2 == 1
        pattern = pattern[bangs:]
        expanded = list(dict.fromkeys(_brace_expand(pattern)))
        self.glob_parts = [_level_one(re.split(r"/+", g)) for g in expanded]
        self.parts = [[_compile_part(p) for p in parts] for parts in self.glob_parts]

    def match(self, path: str, partial: bool = False) -> bool:
        """minimatch ``match`` with ``flipNegate``: True on a hit, whatever the negation."""
        if self.comment:
            return False
        if self.empty:
            return path == ""
        if path == "/" and partial:
            return True
        segments = re.split(r"/+", path)
        filename = next((s for s in reversed(segments) if s), "")
        for parts in self.parts:
            file = [filename] if len(parts) == 1 else segments  # matchBase
            if _match_one(file, parts, partial):
                return True
        return False


def _level_one(parts: list[str]) -> list[str]:
    """minimatch optimizationLevel 1: collapse ``**/**`` and resolve ``x/..``."""
    out: list[str] = []
    for part in parts:
        prev = out[-1] if out else None
        if part == "**" and prev == "**":
            continue
        if part == ".." and prev is not None and prev not in ("..", ".", "**"):
            out.pop()
            continue
        out.append(part)
    return out or [""]


def _part_hit(part: _Part, segment: str) -> bool:
    if isinstance(part, str):
        return part == segment
    if isinstance(part, re.Pattern):
        return part.match(segment) is not None
    return False


def _match_one(file: list[str], pattern: list[_Part], partial: bool) -> bool:
    if any(p is _GLOBSTAR for p in pattern):
        return _match_globstar(file, pattern, partial)
    return _match_plain(file, pattern, partial, 0, 0)


def _match_plain(file: list[str], pattern: list[_Part], partial: bool, fi: int, pi: int) -> bool:
    """minimatch ``#matchOne`` without globstars."""
    while fi < len(file) and pi < len(pattern):
        if not _part_hit(pattern[pi], file[fi]):
            return False
        fi += 1
        pi += 1
    if fi == len(file) and pi == len(pattern):
        return True
    if fi == len(file):
        return partial
    # pattern exhausted: only a trailing "" (a path ending in "/") may remain
    return fi == len(file) - 1 and file[fi] == ""


def _is_dot_segment(segment: str) -> bool:
    # with ``dot: true`` only "." and ".." stop a globstar
    return segment in (".", "..")


def _match_globstar(file: list[str], pattern: list[_Part], partial: bool) -> bool:
    """minimatch ``#matchGlobstar``: head, body sections between ``**``, tail."""
    first = next(i for i, p in enumerate(pattern) if p is _GLOBSTAR)
    last = max(i for i, p in enumerate(pattern) if p is _GLOBSTAR)
    head = pattern[:first]
    if partial:
        body, tail = pattern[first + 1 :], []
    else:
        body, tail = pattern[first + 1 : last], pattern[last + 1 :]
    fi = 0
    if head:
        if not _match_plain(file[: len(head)], head, partial, 0, 0):
            return False
        fi = len(head)
    tail_match = 0
    if tail:
        if len(tail) + fi > len(file):
            return False
        tail_start = len(file) - len(tail)
        if _match_plain(file, tail, partial, tail_start, 0):
            tail_match = len(tail)
        else:
            if file[-1] != "" or fi + len(tail) == len(file):
                return False
            if not _match_plain(file, tail, partial, tail_start - 1, 0):
                return False
            tail_match = len(tail) + 1
    if not body:
        saw_some = bool(tail_match)
        for segment in file[fi : len(file) - tail_match]:
            saw_some = True
            if _is_dot_segment(segment):
                return False
        return partial or saw_some
    sections: list[tuple[list[_Part], int]] = []
    current: list[_Part] = []
    sums = [0]
    count = 0
    for p in body:
        if p is _GLOBSTAR:
            sums.append(count)
            sections.append((current, 0))
            current = []
        else:
            current.append(p)
            count += 1
    sections.append((current, 0))
    file_length = len(file) - tail_match
    n = len(sections) - 1
    sections = [(s, file_length - (sums[n - k] + len(s))) for k, (s, _) in enumerate(sections)]
    found = _match_sections(
        file, sections, fi, 0, partial=partial, depth=0, saw_tail=bool(tail_match)
    )
    return bool(found)


def _match_sections(
    file: list[str],
    sections: list[tuple[list[_Part], int]],
    fi: int,
    index: int,
    *,
    partial: bool,
    depth: int,
    saw_tail: bool,
) -> bool | None:
    """minimatch ``#matchGlobStarBodySections``: False = no, None = no and stop trying."""
    if index >= len(sections):
        for segment in file[fi:]:
            saw_tail = True
            if _is_dot_segment(segment):
                return False
        return saw_tail
    body, after = sections[index]
    while fi <= after:
        hit = _match_plain(file[: fi + len(body)], body, partial, fi, 0)
        if hit and depth < 200:
            sub = _match_sections(
                file,
                sections,
                fi + len(body),
                index + 1,
                partial=partial,
                depth=depth + 1,
                saw_tail=saw_tail,
            )
            if sub is not False:
                return sub
        if fi < len(file) and _is_dot_segment(file[fi]):
            return False
        fi += 1
    return True if partial else None


# ---------------------------------------------------------------------------------------------
# The walk: ignore-walk's Walker + npm-packlist's PackWalker

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
def _parse_ignore(text: str) -> tuple[_Rule, ...]:
    """ignore-walk ``onReadIgnoreFile``: one minimatch rule per non-empty, non-comment line.

    Cached: the default and strict rule sets are the same text in every directory, and a rule
    never changes once built."""
    rules = []
    for line in re.split(r"\r?\n", text):
        trimmed = line.strip(_JS_SPACE)
        if not trimmed or trimmed.startswith("#"):
            continue
        rules.append(_Rule(trimmed))
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
        self.rules: dict[str, tuple[_Rule, ...] | None] = {
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
        for target in _normalized_bins(self.path, manifest).values():
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


def _rule_matches(rule: _Rule, entry: str, partial: bool, basename: str | None) -> bool:
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


def _packlist(root: Path, manifest: Mapping[str, Any]) -> list[str]:
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
    listed.sort(key=_packlist_sort_key)
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


# ---------------------------------------------------------------------------------------------
# Ordering: ICU root collation, as ``localeCompare(…, 'en')`` and ``Intl.Collator`` use it

# Primary order of printable ASCII under ICU's root collation (punctuation is not ignorable);
# letters compare case-insensitively at this level. Measured with Node's localeCompare.
_ICU_ASCII: Final = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_ICU_RANK: Final = {ch: i for i, ch in enumerate(_ICU_ASCII)}
_DIGIT_RANK: Final = _ICU_RANK["0"]
_Key: TypeAlias = "tuple[tuple[tuple[int, int], ...], tuple[tuple[int, ...], ...], tuple[int, ...]]"


def _collation_key(text: str, *, numeric: bool = False) -> _Key:
    """A sort key approximating ICU collation (primary, secondary, tertiary levels).

    Exact for ASCII names; other characters sort by their base letter then accents (NFD), and
    after all ASCII when they have no ASCII base. Control characters are ignorable.
    """
    primary: list[tuple[int, int]] = []
    secondary: list[tuple[int, ...]] = []
    tertiary: list[int] = []
    decomposed = unicodedata.normalize("NFD", text)
    i = 0
    while i < len(decomposed):
        ch = decomposed[i]
        i += 1
        marks: list[int] = []
        while i < len(decomposed) and unicodedata.combining(decomposed[i]):
            marks.append(ord(decomposed[i]))
            i += 1
        if unicodedata.category(ch) == "Cc":
            continue
        if numeric and ch.isascii() and ch.isdigit():
            start = i - 1
            while i < len(decomposed) and decomposed[i].isascii() and decomposed[i].isdigit():
                i += 1
            primary.append((_DIGIT_RANK, int(decomposed[start:i])))
            secondary.append(())
            tertiary.append(0)
            continue
        folded = ch.lower()
        rank = _ICU_RANK.get(folded)
        primary.append((rank, 0) if rank is not None else (len(_ICU_ASCII) + ord(folded), 0))
        secondary.append(tuple(marks))
        tertiary.append(1 if ch != folded else 0)  # ICU: lower case first
    return tuple(primary), tuple(secondary), tuple(tertiary)


def _extname(path: str) -> str:
    """Node ``path.extname``: from the last dot of the basename, unless the name starts there."""
    base = _basename(path)
    dot = base.rfind(".")
    return "" if dot <= 0 else base[dot:]


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _packlist_sort_key(path: str) -> tuple[_Key, _Key, _Key]:
    """npm-packlist ``sort``: extension, then basename (both lower-cased), then the path."""
    return (
        _collation_key(_extname(path).lower()),
        _collation_key(_basename(path).lower()),
        _collation_key(path),
    )


# ---------------------------------------------------------------------------------------------
# The tar stream: node-tar 7 headers with pacote's options

_MTIME: Final = 499162500  # 1985-10-26T08:15:00.000Z (pacote tarCreateOptions)
_MAX_SIZE: Final = 0o77777777777


def _read_regular_file(root: Path, relative: str) -> tuple[bytes, int]:
    """Read a listed file without following a symlink that replaced it after the walk (and
    without blocking on a FIFO): the walk skipped links, reading must not undo that."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(root / relative, flags)
    except OSError as exc:
        raise PackError(f"cannot read file: {exc}", path=relative) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PackError("file changed while packing", path=relative)
        if st.st_size > _MAX_SIZE:
            raise PackError("file is too large for a tar header", path=relative)
        chunks = []
        while chunk := os.read(fd, 1024 * 1024):
            chunks.append(chunk)
    except OSError as exc:
        raise PackError(f"cannot read file: {exc}", path=relative) from exc
    finally:
        os.close(fd)
    return b"".join(chunks), st.st_mode


def _tar_entry(path: str, mode: int, data: bytes) -> bytes:
    header, need_pax = _header(path, mode=mode, size=len(data), typeflag=b"0")
    parts = []
    if need_pax:
        parts.append(_pax_entry(path, len(data)))
    parts.append(header)
    parts.append(data)
    parts.append(b"\0" * (-len(data) % 512))
    return b"".join(parts)


def _octal(value: int, size: int) -> bytes:
    """node-tar ``encNumber``: zero-padded octal, then a space and a NUL (or just a NUL)."""
    digits = format(value, "o")
    if len(digits) == size - 1:
        return digits.encode("ascii") + b"\0"
    return digits.rjust(size - 2, "0").encode("ascii") + b" \0"


def _put_string(block: bytearray, offset: int, size: int, text: str) -> bool:
    """node-tar ``encString``: UTF-8, cut at a character boundary; True when a pax header is
    needed (the text is not ASCII, or too long)."""
    encoded = text.encode("utf-8")
    if len(encoded) > size:
        cut = size
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1
        encoded = encoded[:cut]
    block[offset : offset + len(encoded)] = encoded
    return len(text) != len(text.encode("utf-8")) or _js_length(text) > size


def _js_length(text: str) -> int:
    """``String.prototype.length``: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _node_dirname(path: str) -> str:
    head, _, _ = path.rstrip("/").rpartition("/")
    if "/" not in path.rstrip("/"):
        return "."
    return head or "/"


def _split_prefix(path: str, prefix_size: int) -> tuple[str, str, bool]:
    """node-tar ``splitPrefix``: move leading directories into the ustar prefix field."""
    if len(path.encode("utf-8")) < 100:
        return path, "", False
    root = "/" if path.startswith("/") else "."
    prefix, name = _node_dirname(path), _basename(path)
    while True:
        name_len, prefix_len = len(name.encode("utf-8")), len(prefix.encode("utf-8"))
        if name_len <= 100 and prefix_len <= prefix_size:
            return name, prefix, False
        if name_len > 100 and prefix_len <= prefix_size:
            return _js_slice(name, 99), prefix, True
        name = f"{_basename(prefix)}/{name}"
        prefix = _node_dirname(prefix)
        if prefix == root:
            return _js_slice(path, 99), "", True


def _header(path: str, *, mode: int, size: int, typeflag: bytes) -> tuple[bytes, bool]:
    """A 512-byte ustar header as node-tar writes it with ``portable: true``."""
    block = bytearray(512)
    name, prefix, need_pax = _split_prefix(path, 155)
    need_pax = _put_string(block, 0, 100, name) or need_pax
    block[100:108] = _octal(mode, 8)
    # uid, gid (108..124): left empty in portable mode
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(_MTIME, 12)
    block[156:157] = typeflag
    block[257:265] = b"ustar\x0000"
    # uname, gname (265..329): empty in portable mode
    block[329:337] = _octal(0, 8)  # devmajor
    block[337:345] = _octal(0, 8)  # devminor
    need_pax = _put_string(block, 345, 155, prefix) or need_pax
    checksum = 8 * 0x20 + sum(block[:148]) + sum(block[156:])
    block[148:156] = _octal(checksum, 8)
    return bytes(block), need_pax


def _pax_record(key: str, value: str) -> str:
    body = f" {key}={value}\n"
    length = len(body.encode("utf-8"))
    digits = len(str(length))
    if length + digits >= 10**digits:
        digits += 1
    return f"{length + digits}{body}"


def _pax_entry(path: str, size: int) -> bytes:
    """node-tar ``Pax.encode`` for a portable file entry: path, mtime and size records."""
    body = (
        _pax_record("path", path)
        + _pax_record("mtime", str(_MTIME))
        + _pax_record("size", str(size))
    ).encode("utf-8")
    name = _js_slice("PaxHeader/" + _basename(path), 99)
    header, _ = _header(name, mode=0o644, size=len(body), typeflag=b"x")
    return header + body + b"\0" * (-len(body) % 512)


def _js_slice(text: str, units: int) -> str:
    """``String.prototype.slice(0, units)`` (UTF-16 code units; a split pair is dropped)."""
    out = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > units:
            break
        out.append(ch)
        used += width
    return "".join(out)
