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
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

from assay.errors import ManifestError
from assay.npm.hosted import from_url
from assay.npm.names import validate
from assay.npm.versions import clean

__all__ = [
    "FIX_STEPS",
    "PREPARE_STEPS",
    "README_ERROR",
    "PackageFiles",
    "Warn",
    "async_steps",
    "check_name",
    "normalize_bin",
    "normalize_data",
    "normalize_man",
    "normalize_package_bin",
    "prepare",
    "same_version",
    "secure_path",
    "sync_steps",
    "walk_order",
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


# --- the steps that look at the package's files ----------------------------------------------


class PackageFiles(Protocol):
    """The files of a package, as the ``asyncSteps`` of normalize.js look at them: a directory
    on disk for the publisher (:mod:`assay.publish.manifest`), the tarball's file list for the
    registry (:mod:`assay.registry.publish`). Paths are relative to the package root and
    ``/``-separated."""

    def top_level_files(self) -> list[str]:
        """Names of the regular files directly in the root."""
        ...

    def exists(self, path: str) -> bool: ...

    def entries_under(self, folder: str) -> list[str]:
        """Files and folders below `folder` ('' for the root), relative to it, skipping names
        that start with a dot (what ``glob('**', {cwd: folder})`` lists), in
        :func:`walk_order`."""
        ...

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when it is absent or cannot be read."""
        ...

    def readme(self) -> tuple[str, str] | None:
        """(text, file name) of the README npm picks, if any."""
        ...

    def git_head(self) -> str | None:
        """The commit HEAD names in the enclosing git work tree, if any."""
        ...


def walk_order(paths: Iterable[str]) -> list[str]:
    """`paths` in one fixed order, whatever lists them (a directory walk, a tarball): a
    folder's own entries, sorted, before what its sub-folders hold (each in turn, sorted)."""

    def key(path: str) -> list[tuple[int, str]]:
        *folders, name = path.split("/")
        return [(1, folder) for folder in folders] + [(0, name)]

    return sorted(paths, key=key)


def async_steps(data: dict[str, Any], files: PackageFiles, steps: frozenset[str]) -> None:
    """normalize.js ``asyncSteps``, in its order, over `files`."""
    existing = data.get("scripts")
    scripts: dict[str, Any] = existing if isinstance(existing, dict) else {}
    if (
        "gypfile" in steps
        and not scripts.get("install")
        and not scripts.get("preinstall")
        and data.get("gypfile") is not False
        and any(name.endswith(".gyp") and name != ".gyp" for name in files.top_level_files())
    ):
        scripts["install"] = "node-gyp rebuild"
        data["scripts"] = scripts
        data["gypfile"] = True
    if "serverjs" in steps and not scripts.get("start") and files.exists("server.js"):
        scripts["start"] = "node server.js"
        data["scripts"] = scripts
    if "authors" in steps and not data.get("contributors"):
        text = files.read_text("AUTHORS")
        if text is not None:
            lines = [re.sub(r"^\s*#.*$", "", line).strip() for line in re.split(r"\r?\n", text)]
            data["contributors"] = [line for line in lines if line]
    if "readme" in steps and not data.get("readme"):
        found = files.readme()
        if found:
            data["readme"], data["readmeFilename"] = found
        if not data.get("readme"):
            data["readme"] = README_ERROR
    if "mans" in steps:
        directories = data.get("directories")
        man_dir = directories.get("man") if isinstance(directories, dict) else None
        if isinstance(man_dir, str) and man_dir and not data.get("man"):
            secured = secure_path(man_dir)
            data["man"] = [
                f"{secured}/{path}" if secured else path
                for path in files.entries_under(secured)
                if re.search(r"\.[0-9]$", path)
            ]
        normalize_man(data)
    directories = data.get("directories")
    bin_dir = directories.get("bin") if isinstance(directories, dict) else None
    if "binDir" in steps and isinstance(bin_dir, str) and bin_dir and not data.get("bin"):
        secured = secure_path(bin_dir)
        data["bin"] = {
            posixpath.basename(path): f"{secured}/{secure_path(path)}"
            for path in files.entries_under(secured)
        }
    elif steps & {"bin", "binDir", "binRefs"}:
        normalize_package_bin(data)
    if "gitHead" in steps and not data.get("gitHead"):
        head = files.git_head()
        if head:
            data["gitHead"] = head
    if "fillTypes" in steps:
        index = data.get("main") or "index.js"
        if not isinstance(index, str):
            raise ManifestError('The "main" attribute must be of type string.')
        if "types" not in data and "typings" not in data:
            stem, _ = posixpath.splitext(posixpath.basename(index))
            extless = posixpath.normpath(posixpath.join(posixpath.dirname(index), stem))
            dts = f"./{extless}.d.ts"
            if files.exists(secure_path(dts)):
                data["types"] = dts


def prepare(data: dict[str, Any], files: PackageFiles, warn: Warn | None = None) -> dict[str, Any]:
    """The manifest ``npm publish`` sends for a package.json `data` (changed in place and
    returned), before libnpmpublish adds ``_id``/``dist``: ``pkgJson.fix`` (in memory),
    ``pkg.prepare()``, then libnpmpublish ``patchManifest`` (``fixName`` and ``semver.clean``
    of the version)."""
    sink: Warn = warn or (lambda _message: None)
    for steps in (FIX_STEPS, PREPARE_STEPS):
        async_steps(data, files, steps)
        sync_steps(data, steps)
        if "normalizeData" in steps:
            normalize_data(data, sink)
    data["name"] = check_name(data.get("name"))
    data["version"] = clean(data.get("version"))
    return data


# --- versions as npm sends them -------------------------------------------------------------


def same_version(claimed: object, actual: object) -> bool:
    """Equal, or `claimed` is `actual` without build metadata: libnpmpublish sends
    ``semver.clean(version)``, which drops ``+build`` (node-semver formats without it), while
    the tarball keeps package.json as written."""
    if claimed == actual:
        return True
    return (
        isinstance(claimed, str)
        and isinstance(actual, str)
        and "+" not in claimed
        and actual.split("+", 1)[0] == claimed
    )
