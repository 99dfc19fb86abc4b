"""package.json as ``npm pack`` reads it: the name and version it requires, and the bins.

The bins matter twice: their targets are always packed (npm-packlist's strict rules), and pacote
makes them executable in the tarball. @npmcli/package-json normalizes ``bin`` (and
``directories.bin``) first; :func:`normalized_bins` does the same.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.errors import PackError
from assay.npm.names import validate
from assay.npm.package_json import normalize_bin, secure_path
from assay.npm.versions import is_version

__all__ = ["is_package_bin", "normalized_bins", "read_manifest"]


def read_manifest(root: Path) -> dict[str, Any]:
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
    # @npmcli/package-json's normalize refuses what validate-npm-package-name calls invalid even
    # for old packages, and a version node-semver does not parse.
    if not validate(name).valid_for_old_packages:
        raise PackError("invalid package name", path=str(package_json), name=name)
    if not is_version(version):
        raise PackError("invalid semver version", path=str(package_json), version=version)
    files = manifest.get("files")
    if files and (not isinstance(files, list) or not all(isinstance(f, str) for f in files)):
        # npm would iterate a string's characters or crash on anything else.
        raise PackError('"files" must be an array of strings', path=str(package_json))
    return manifest


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def normalized_bins(root: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """``bin`` after @npmcli/package-json normalization (steps ``bin`` and ``binDir``)."""
    bin_field = manifest.get("bin")
    directories = manifest.get("directories")
    if not bin_field and isinstance(directories, dict) and isinstance(directories.get("bin"), str):
        # binDir: every non-dot file below directories.bin becomes a bin.
        bin_dir = secure_path(directories["bin"])
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
                    found[entry] = f"{bin_dir}/{secure_path(rel)}"
        return found
    return normalize_bin(bin_field, manifest.get("name"))


def is_package_bin(bins: Mapping[str, str], listed: str) -> bool:
    """pacote ``isPackageBin`` as ``tarCreateOptions`` calls it: on the path *before* the prefix
    is added, after dropping its first segment. So a bin at ``bin/cli.js`` is not forced
    executable, and a file ``lib/cli.js`` is when some bin is ``cli.js`` — npm's behaviour,
    reproduced so the modes match."""
    stripped = re.sub(r"^[^\\/]*/", "", listed, count=1)
    return stripped in bins.values()
