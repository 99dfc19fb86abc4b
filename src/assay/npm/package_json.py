"""package.json as npm normalises it before publishing: the pure steps of @npmcli/package-json.

npm 11 ``lib/commands/publish.js #getManifest`` runs @npmcli/package-json ``fix`` then
``prepare`` on the package directory, and libnpmpublish ``patchManifest`` checks the name and
cleans the version. The steps here are the ones that only look at the manifest (``syncSteps``
and ``normalizeData`` of ``lib/normalize.js``, ``lib/normalize-data.js``, and the ``bin``
normaliser); the steps that read the package directory (readme, gitHead, man and bin
directories, ...) live with the publisher, :mod:`assay.publish.manifest`. Each function is named
after the step it mirrors and runs in npm's order, so keys land where npm puts them:
``JSON.stringify`` keeps insertion order, and so do Python dicts.

Differences, on purpose: git hosts other than GitHub, GitLab and Bitbucket are left as written
(:mod:`.hosted`); SPDX license checks only warn in npm and are skipped; semver "loose" versions
are cleaned as :func:`assay.npm.versions.clean` says. Refusals are
:class:`~assay.errors.ManifestError`.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from assay.errors import ManifestError
from assay.npm.hosted import from_url
from assay.npm.names import validate
from assay.npm.versions import clean

__all__ = [
    "FIX_STEPS",
    "PREPARE_STEPS",
    "README_ERROR",
    "Warn",
    "check_name",
    "normalize_bin",
    "normalize_data",
    "normalize_man",
    "normalize_package_bin",
    "secure_path",
    "sync_steps",
]

README_ERROR = "ERROR: No README data found!"
_SCRIPT_PREFIX = re.compile(r"^(\.[/\\])?node_modules[/\\].bin[\\/]")
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


def check_name(name: object) -> str:
    """The trimmed name, if npm would publish under it (normalize.js ``fixName`` trims, then
    npm-package-arg refuses names validate-npm-package-name finds invalid for old packages;
    ``fixName``'s own checks are a subset of those)."""
    if not isinstance(name, str):
        raise ManifestError("name field must be a string.")
    name = name.strip()
    if not validate(name).valid_for_old_packages:
        raise ManifestError("Invalid name: " + json.dumps(name), name=name)
    return name


def _unixify(ref: str) -> str:
    return re.sub(r"[\\:]", "/", ref)


def secure_path(ref: str) -> str:
    """normalize.js ``secureAndUnixifyPath``: a relative, ``/``-separated path that cannot
    climb out of the package root ('' for the root itself)."""
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


def normalize_bin(bins: object, name: object) -> dict[str, str]:
    """The one ``bin`` normaliser: normalize.js ``normalizePackageBin`` of ``bin`` (a string
    named after the package, a list keyed by basename, or an object), as the map npm writes;
    empty when npm would delete the field."""
    if not bins:
        return {}
    if isinstance(bins, str) and isinstance(name, str) and name:
        bins = {name: bins}
    elif isinstance(bins, list):
        bins = {posixpath.basename(k): k for k in bins if isinstance(k, str)}
    if not isinstance(bins, dict):
        return {}
    result: dict[str, str] = dict(bins)
    for key in list(bins):
        target = bins[key]
        if not isinstance(target, str):
            result.pop(key, None)
            continue
        base = posixpath.basename(secure_path(key))
        secured = secure_path(target)
        if not base or not secured:
            result.pop(key, None)
            continue
        if base != key:
            result.pop(key, None)
        result[base] = secured
    return result


def normalize_package_bin(data: dict[str, Any]) -> None:
    """The ``bin`` step on a manifest: set the normalised map, or delete the field."""
    bins = normalize_bin(data.get("bin"), data.get("name"))
    if bins:
        data["bin"] = bins
    else:
        data.pop("bin", None)


def normalize_man(data: dict[str, Any]) -> None:
    man = data.get("man")
    if man:
        mans = [
            secure_path(m) for m in (man if isinstance(man, list) else [man]) if isinstance(m, str)
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


def normalize_data(data: dict[str, Any], warn: Warn) -> None:
    """normalize-data.js ``normalizeData`` (what was normalize-package-data's fixers)."""
    if data.get("description") and not isinstance(data["description"], str):
        del data["description"]
    if data.get("readme") and not data.get("description") and data["readme"] != README_ERROR:
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
        data["readme"] = README_ERROR
    if data.get("author"):
        data["author"] = _stringify_person(data["author"])
    for people in ("maintainers", "contributors"):
        if isinstance(data.get(people), list):
            data[people] = [_stringify_person(p) for p in data[people]]
    for typo in _TYPOS:
        if typo in data:
            warn(f"{typo} should probably be corrected")


def sync_steps(data: dict[str, Any], steps: frozenset[str]) -> None:
    """normalize.js ``syncSteps``, in its order."""
    if steps & {"fixName", "normalizeData"}:
        data["name"] = check_name(data.get("name"))
    if steps & {"fixVersionField", "normalizeData"}:
        if not data.get("version"):
            data["version"] = ""
        else:
            data["version"] = clean(data["version"])
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


# The steps of ``pkgJson.fix`` and of ``pkg.prepare()`` (npm ``publish``), by their names in
# normalize.js.
FIX_STEPS = frozenset(
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
PREPARE_STEPS = frozenset(
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
