"""The version manifest npm publishes: package.json as ``npm publish`` prepares it.

npm 11 ``lib/commands/publish.js #getManifest`` runs @npmcli/package-json ``fix`` then
``prepare`` on the package directory (for a tarball, pacote extracts it and runs ``prepare`` on
the extracted directory, then adds ``_integrity``, ``_resolved`` and ``_from``), and
libnpmpublish ``patchManifest`` checks the name and cleans the version. The rules that only look
at the manifest are npm's, in :mod:`assay.npm.package_json`; here are the ``asyncSteps`` of
normalize.js, which read the package directory (readme, AUTHORS, man and bin directories,
gitHead, ``.d.ts`` files), run in npm's order around them.

Differences, on purpose: ``_nodeVersion``/``_npmVersion`` are not written (we are neither).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.errors import PackError
from assay.npm.package_json import (
    FIX_STEPS,
    PREPARE_STEPS,
    README_ERROR,
    Warn,
    check_name,
    normalize_data,
    normalize_man,
    normalize_package_bin,
    secure_path,
    sync_steps,
)
from assay.npm.versions import clean

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
            data["readme"] = README_ERROR
    if "mans" in steps:
        directories = data.get("directories")
        man_dir = directories.get("man") if isinstance(directories, dict) else None
        if isinstance(man_dir, str) and man_dir and not data.get("man"):
            secured = secure_path(man_dir)
            data["man"] = [
                f"{secured}/{path}" if secured else path
                for path in _glob_files(root / secured, lambda p: bool(re.search(r"\.[0-9]$", p)))
            ]
        normalize_man(data)
    directories = data.get("directories")
    bin_dir = directories.get("bin") if isinstance(directories, dict) else None
    if "binDir" in steps and isinstance(bin_dir, str) and bin_dir and not data.get("bin"):
        secured = secure_path(bin_dir)
        data["bin"] = {
            os.path.basename(path): f"{secured}/{secure_path(path)}"
            for path in _glob_files(root / secured, lambda p: True)
        }
    elif steps & {"bin", "binDir", "binRefs"}:
        normalize_package_bin(data)
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
    for steps in (FIX_STEPS, PREPARE_STEPS):
        _async_steps(data, root, steps)
        sync_steps(data, steps)
        if "normalizeData" in steps:
            normalize_data(data, sink)
    data["name"] = check_name(data.get("name"))
    data["version"] = clean(data.get("version"))
    return data
