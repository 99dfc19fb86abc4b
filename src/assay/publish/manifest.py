"""The version manifest npm publishes: package.json as ``npm publish`` prepares it.

npm 11 ``lib/commands/publish.js #getManifest`` runs @npmcli/package-json ``fix`` then
``prepare`` on the package directory (for a tarball, pacote extracts it and runs ``prepare`` on
the extracted directory, then adds ``_integrity``, ``_resolved`` and ``_from``), and
libnpmpublish ``patchManifest`` checks the name and cleans the version. Each step below is named
after the @npmcli/package-json@7 step it mirrors (``lib/normalize.js``, ``lib/normalize-data.js``)
and runs in npm's order, so keys land where npm puts them: ``JSON.stringify`` keeps insertion
order, and so do Python dicts.

Differences, on purpose: ``_nodeVersion``/``_npmVersion`` are not written (we are neither);
git hosts other than GitHub, GitLab and Bitbucket are left as written (:mod:`.hosted`); SPDX
license checks only warn in npm and are skipped; semver "loose" versions (``v1.0.0``,
``=1.0.0``) are cleaned, other loose forms are refused.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from assay.errors import PackError
from assay.npm.hosted import from_url

__all__ = ["prepare_manifest", "read_package_json"]

_README_ERROR = "ERROR: No README data found!"
# The name checks of normalize.js syncSteps (fixName / normalizeData).
_ENCODED = re.compile(r"[/@\s+%:]")
_SCRIPT_PREFIX = re.compile(r"^(\.[/\\])?node_modules[/\\].bin[\\/]")
_SEMVER = re.compile(
    r"^[v=\s]*(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-?((?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*$"
)
_TYPOS = (
    "dependancies",
    "dependecies",
    "depdenencies",
    "devEependencies",
    "depends",
    "dev-dependencies",
    "devDependences",
    "devDepenencies",
    "devdependencies",
    "repostitory",
    "repo",
    "prefereGlobal",
    "hompage",
    "hampage",
    "autohr",
    "autor",
    "contributers",
    "publicationConfig",
    "script",
)

Warn = Callable[[str], None]


def _encode_uri_component(text: str) -> str:
    return quote(text, safe="-_.!~*'()")


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise PackError("name field must be a string.")
    name = name.strip()
    scoped = False
    if name.startswith("@"):
        parts = name[1:].split("/")
        scoped = (
            len(parts) == 2
            and all(parts)
            and all(part == _encode_uri_component(part) for part in parts)
        )
    plain = not _ENCODED.search(name) and name == _encode_uri_component(name)
    if (
        name.startswith(".")
        or not (scoped or plain)
        or name.lower() in ("node_modules", "favicon.ico")
    ):
        raise PackError("Invalid name: " + json.dumps(name), name=name)
    return name


def _clean_version(version: object) -> str:
    """semver ``valid(v, loose)`` then ``clean``: ``v1.0.0`` and `` =1.0.0 `` become ``1.0.0``."""
    if not isinstance(version, str):
        raise PackError(f"Invalid version: {json.dumps(version)}")
    match = _SEMVER.match(version.strip())
    if not match:
        raise PackError(f'Invalid version: "{version}"', version=version)
    major, minor, patch, pre, build = match.groups()
    cleaned = f"{int(major)}.{int(minor)}.{int(patch)}"
    if pre:
        cleaned += f"-{pre}"
    return cleaned if not build else cleaned + f"+{build}"


def _unixify(ref: str) -> str:
    return re.sub(r"[\\:]", "/", ref)


def _secure_unixify(ref: str) -> str:
    """normalize.js ``secureAndUnixifyPath``: a relative path that cannot climb out."""
    parts: list[str] = []
    for segment in _unixify(ref).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/".join(parts)


def _normalize_bin(data: dict[str, Any]) -> None:
    """normalize.js ``normalizePackageBin``."""
    bins = data.get("bin")
    if not bins:
        data.pop("bin", None)
        return
    if isinstance(bins, str) and data.get("name"):
        bins = {data["name"]: bins}
    elif isinstance(bins, list):
        bins = {os.path.basename(k): k for k in bins if isinstance(k, str)}
    if not isinstance(bins, dict):
        data.pop("bin", None)
        return
    result: dict[str, Any] = dict(bins)
    for key in list(bins):
        target = bins[key]
        if not isinstance(target, str):
            result.pop(key, None)
            continue
        base = os.path.basename(_secure_unixify(key))
        secured = _secure_unixify(target)
        if not base or not secured:
            result.pop(key, None)
            continue
        if base != key:
            result.pop(key, None)
        result[base] = secured
    if result:
        data["bin"] = result
    else:
        data.pop("bin", None)


def _normalize_man(data: dict[str, Any]) -> None:
    man = data.get("man")
    if man:
        mans = [
            _secure_unixify(m)
            for m in (man if isinstance(man, list) else [man])
            if isinstance(m, str)
        ]
        if mans:
            data["man"] = mans
            return
    data.pop("man", None)


def _fix_repository(data: dict[str, Any]) -> None:
    repositories = data.get("repositories")
    if repositories and isinstance(repositories, list):
        data["repository"] = repositories[0]
    repository = data.get("repository")
    if not repository:
        return
    if isinstance(repository, str):
        data["repository"] = repository = {"type": "git", "url": repository}
    if isinstance(repository, dict) and repository.get("url"):
        hosted = from_url(repository["url"])
        if hosted is not None:
            repository["url"] = hosted.https() if hosted.default == "shortcut" else str(hosted)


def _fix_dependencies(data: dict[str, Any]) -> None:
    for kind in ("dependencies", "devDependencies", "optionalDependencies"):
        value = data.get(kind)
        if not value:
            continue
        if isinstance(value, str):
            value = re.split(r"[\n\r\s\t ,]+", value.strip())
        if isinstance(value, list):
            converted: dict[str, Any] = {}
            for item in value:
                if isinstance(item, str):
                    pieces = re.split(r"(:?[@\s><=])", item.strip())
                    converted[pieces[0]] = re.sub(r"^@", "", "".join(pieces[1:])).strip()
            value = converted
        data[kind] = value
    for kind in ("dependencies", "devDependencies"):
        if kind not in data:
            continue
        deps = data[kind]
        if not deps or not isinstance(deps, dict):
            del data[kind]
            continue
        for name in list(deps):
            if not isinstance(deps[name], str):
                del deps[name]
                continue
            hosted = from_url(deps[name])
            if hosted is not None and str(hosted) != deps[name]:
                deps[name] = str(hosted)


def _stringify_person(person: Any) -> dict[str, str]:
    if not isinstance(person, str):
        person = person if isinstance(person, dict) else {}
        name = person.get("name") or ""
        url = person.get("url") or person.get("web")
        email = person.get("email") or person.get("mail")
        person = f"{name}{f' <{email}>' if email else ''}{f' ({url})' if url else ''}"
    parsed: dict[str, str] = {}
    name_match = re.match(r"^([^(<]+)", person)
    url_match = re.search(r"\(([^()]+)\)", person)
    email_match = re.search(r"<([^<>]+)>", person)
    if name_match and name_match.group(0).strip():
        parsed["name"] = name_match.group(0).strip()
    if email_match:
        parsed["email"] = email_match.group(1)
    if url_match:
        parsed["url"] = url_match.group(1)
    return parsed


def _is_email(text: str) -> bool:
    return "@" in text and text.index("@") < text.rfind(".")


def _can_parse_url(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", parts.scheme or ""))


def _extract_description(readme: str) -> str:
    lines = readme.strip().split("\n")
    start = 0
    while start < len(lines) and re.match(r"^(#|$)", lines[start].strip()):
        start += 1
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return " ".join(lines[start:end]).strip()


def _normalize_data(data: dict[str, Any], warn: Warn) -> None:
    """normalize-data.js ``normalizeData`` (what was normalize-package-data's fixers)."""
    if data.get("description") and not isinstance(data["description"], str):
        del data["description"]
    if data.get("readme") and not data.get("description") and data["readme"] != _README_ERROR:
        data["description"] = _extract_description(data["readme"])
    if "description" in data and data["description"] is None:
        del data["description"]
    if data.get("modules"):
        del data["modules"]
    files = data.get("files")
    if files and not isinstance(files, list):
        del data["files"]
    elif files:
        data["files"] = [f for f in files if f and isinstance(f, str)]
    if data.get("man") and isinstance(data["man"], str):
        data["man"] = [data["man"]]
    repository = data.get("repository")
    repo_url = repository.get("url") if isinstance(repository, dict) else None
    bugs = data.get("bugs")
    if not bugs and repo_url:
        hosted = from_url(repo_url)
        if hosted is not None:
            data["bugs"] = {"url": hosted.bugs()}
    elif bugs:
        if isinstance(bugs, str):
            if _is_email(bugs):
                data["bugs"] = {"email": bugs}
            elif _can_parse_url(bugs):
                data["bugs"] = {"url": bugs}
        elif isinstance(bugs, dict):
            old = dict(bugs)
            for key in ("web", "name"):
                if key in old:
                    old["url"] = old.pop(key)
            new: dict[str, Any] = {}
            if old.get("url") and _can_parse_url(old["url"]):
                new["url"] = old["url"]
            if old.get("email") and isinstance(old["email"], str) and _is_email(old["email"]):
                new["email"] = old["email"]
            data["bugs"] = new
        current = data.get("bugs")
        if isinstance(current, dict) and not current.get("email") and not current.get("url"):
            del data["bugs"]
    if isinstance(data.get("keywords"), str):
        data["keywords"] = re.split(r",\s+", data["keywords"])
    keywords = data.get("keywords")
    if keywords and not isinstance(keywords, list):
        del data["keywords"]
    elif keywords:
        data["keywords"] = [k for k in keywords if isinstance(k, str) and k]
    if data.get("bundledDependencies") and not data.get("bundleDependencies"):
        data["bundleDependencies"] = data.pop("bundledDependencies")
    bundled = data.get("bundleDependencies")
    if bundled and not isinstance(bundled, list):
        del data["bundleDependencies"]
    elif bundled:
        kept = []
        for item in bundled:
            if item and isinstance(item, str):
                deps = data.setdefault("dependencies", {})
                if isinstance(deps, dict) and item not in deps:
                    deps[item] = "*"
                kept.append(item)
        data["bundleDependencies"] = kept
    if not data.get("homepage") and repo_url:
        hosted = from_url(repo_url)
        if hosted is not None:
            data["homepage"] = hosted.docs()
    if data.get("homepage"):
        if not isinstance(data["homepage"], str):
            del data["homepage"]
        elif not _can_parse_url(data["homepage"]):
            data["homepage"] = "http://" + data["homepage"]
    if not data.get("readme"):
        data["readme"] = _README_ERROR
    if data.get("author"):
        data["author"] = _stringify_person(data["author"])
    for people in ("maintainers", "contributors"):
        if isinstance(data.get(people), list):
            data[people] = [_stringify_person(p) for p in data[people]]
    for typo in _TYPOS:
        if typo in data:
            warn(f"{typo} should probably be corrected")


def _sync_steps(data: dict[str, Any], steps: frozenset[str]) -> None:
    """normalize.js ``syncSteps``, in its order."""
    if steps & {"fixName", "normalizeData"}:
        data["name"] = _check_name(data.get("name"))
    if steps & {"fixVersionField", "normalizeData"}:
        if not data.get("version"):
            data["version"] = ""
        else:
            data["version"] = _clean_version(data["version"])
    if "_attributes" in steps:
        for key in [k for k in data if k.startswith("_")]:
            del data[key]
    if "_id" in steps and data.get("name") and data.get("version"):
        data["_id"] = f"{data['name']}@{data['version']}"
    if "bundledDependencies" in steps:
        if "bundleDependencies" not in data and "bundledDependencies" in data:
            data["bundleDependencies"] = data["bundledDependencies"]
        data.pop("bundledDependencies", None)
    if "bundleDependencies" in steps:
        bd = data.get("bundleDependencies")
        if bd is False and "bundleDependenciesDeleteFalse" not in steps:
            data["bundleDependencies"] = []
        elif bd is True:
            deps = data.get("dependencies")
            data["bundleDependencies"] = list(deps) if isinstance(deps, dict) else []
        elif bd and isinstance(bd, dict | list):
            if isinstance(bd, dict):
                data["bundleDependencies"] = list(bd)
        elif "bundleDependencies" in data:
            del data["bundleDependencies"]
    if steps & {"scripts", "scriptpath"} and "scripts" in data:
        scripts = data["scripts"]
        if isinstance(scripts, dict):
            for name in list(scripts):
                if not isinstance(scripts[name], str):
                    del scripts[name]
                elif "scriptpath" in steps and _SCRIPT_PREFIX.search(scripts[name]):
                    scripts[name] = _SCRIPT_PREFIX.sub("", scripts[name])
        else:
            del data["scripts"]
    if steps & {"fixRepositoryField", "normalizeData"}:
        _fix_repository(data)
    if steps & {"fixDependencies", "normalizeData"}:
        _fix_dependencies(data)


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


def _glob_files(base: Path, pattern: Callable[[str], bool]) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            relative = os.path.relpath(os.path.join(folder, name), base).replace(os.sep, "/")
            if pattern(relative):
                found.append(relative)
    return found


def _async_steps(data: dict[str, Any], root: Path, steps: frozenset[str]) -> None:
    """normalize.js ``asyncSteps``, in its order."""
    existing = data.get("scripts")
    scripts: dict[str, Any] = existing if isinstance(existing, dict) else {}
    if (
        "gypfile" in steps
        and not scripts.get("install")
        and not scripts.get("preinstall")
        and data.get("gypfile") is not False
        and any(p.suffix == ".gyp" and p.is_file() for p in root.iterdir())
    ):
        scripts["install"] = "node-gyp rebuild"
        data["scripts"] = scripts
        data["gypfile"] = True
    if "serverjs" in steps and not scripts.get("start") and (root / "server.js").exists():
        scripts["start"] = "node server.js"
        data["scripts"] = scripts
    if "authors" in steps and not data.get("contributors"):
        try:
            text = (root / "AUTHORS").read_text(encoding="utf-8")
        except OSError:
            pass
        else:
            lines = [re.sub(r"^\s*#.*$", "", line).strip() for line in re.split(r"\r?\n", text)]
            data["contributors"] = [line for line in lines if line]
    if "readme" in steps and not data.get("readme"):
        found = _readme(root)
        if found:
            data["readme"], data["readmeFilename"] = found
        if not data.get("readme"):
            data["readme"] = _README_ERROR
    if "mans" in steps:
        directories = data.get("directories")
        man_dir = directories.get("man") if isinstance(directories, dict) else None
        if isinstance(man_dir, str) and man_dir and not data.get("man"):
            secured = _secure_unixify(man_dir)
            data["man"] = [
                f"{secured}/{path}" if secured else path
                for path in _glob_files(root / secured, lambda p: bool(re.search(r"\.[0-9]$", p)))
            ]
        _normalize_man(data)
    directories = data.get("directories")
    bin_dir = directories.get("bin") if isinstance(directories, dict) else None
    if "binDir" in steps and isinstance(bin_dir, str) and bin_dir and not data.get("bin"):
        secured = _secure_unixify(bin_dir)
        data["bin"] = {
            os.path.basename(path): f"{secured}/{_secure_unixify(path)}"
            for path in _glob_files(root / secured, lambda p: True)
        }
    elif steps & {"bin", "binDir", "binRefs"}:
        _normalize_bin(data)
    if "gitHead" in steps and not data.get("gitHead"):
        head = _git_head(root)
        if head:
            data["gitHead"] = head
    if "fillTypes" in steps:
        index = data.get("main") or "index.js"
        if not isinstance(index, str):
            raise PackError('The "main" attribute must be of type string.')
        if "types" not in data and "typings" not in data:
            stem, _ = os.path.splitext(os.path.basename(index))
            extless = os.path.normpath(os.path.join(os.path.dirname(index), stem))
            dts = f"./{extless}.d.ts"
            if (root / dts).is_file():
                data["types"] = dts


_FIX_STEPS = frozenset(
    {
        "binRefs",
        "bundleDependencies",
        "fixName",
        "fixVersionField",
        "fixRepositoryField",
        "fixDependencies",
        "devDependencies",
        "scriptpath",
    }
)
_PREPARE_STEPS = frozenset(
    {
        "_id",
        "_attributes",
        "bundledDependencies",
        "bundleDependencies",
        "bundleDependenciesDeleteFalse",
        "gypfile",
        "serverjs",
        "scriptpath",
        "authors",
        "readme",
        "mans",
        "binDir",
        "gitHead",
        "fillTypes",
        "normalizeData",
        "binRefs",
    }
)


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
    data = read_package_json(root)
    sink: Warn = warn or (lambda _message: None)
    for steps in (_FIX_STEPS, _PREPARE_STEPS):
        _async_steps(data, root, steps)
        _sync_steps(data, steps)
        if "normalizeData" in steps:
            _normalize_data(data, sink)
    data["name"] = _check_name(data.get("name"))
    data["version"] = _clean_version(data.get("version"))
    return data
