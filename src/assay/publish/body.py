"""The publish document ``PUT <registry>/<escaped name>`` carries, built as libnpmpublish builds it.

libnpmpublish@11 ``lib/publish.js`` ``buildMetadata`` (npm-registry.md §1.3)::

    {_id, name, description, "dist-tags": {tag: version},
     versions: {version: manifest + _id + dist{integrity, shasum, tarball}},
     access,
     _attachments: {"<name>-<version>.tgz": {content_type, data (base64), length},
                    "<name>-<version>.sigstore": {content_type: bundle mediaType,
                                                  data: JSON.stringify(bundle), length}}}

Keys are inserted in npm's order, and absent values (``description`` of a package without one)
are left out as ``JSON.stringify`` leaves out ``undefined``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from assay.errors import AssayError, PackError, TarballError
from assay.npm.tarball import read_tarball
from assay.provenance.bundle import Bundle
from assay.provenance.subject import Digest, npm_purl
from assay.publish.manifest import prepare_manifest
from assay.publish.pack import pack_directory

__all__ = [
    "Package",
    "PublishError",
    "check_publishable",
    "load_package",
    "publish_body",
    "tarball_url",
]


class PublishError(AssayError):
    """``npm publish`` would refuse this; ``code`` is npm's error code (EUSAGE, EPRIVATE, …)."""


@dataclass(frozen=True, slots=True)
class Package:
    """A package ready to publish: the prepared manifest and the tarball bytes."""

    manifest: Mapping[str, Any]
    tarball: bytes

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def purl(self) -> str:
        return npm_purl(self.name, self.version)

    @property
    def sha512(self) -> Digest:
        return Digest.of(self.tarball, "sha512")


def tarball_url(registry: str, name: str, version: str) -> str:
    """``new URL("<name>/-/<name>-<version>.tgz", registry)``, https→http (libnpmpublish)."""
    url = urljoin(registry, f"{name}/-/{name}-{version}.tgz")
    return "http://" + url[len("https://") :] if url.startswith("https://") else url


def load_package(
    source: Path, *, cwd: Path | None = None, warn: Callable[[str], None] | None = None
) -> Package:
    """A package directory (packed as ``npm pack`` packs it) or an existing ``.tgz``."""
    if source.is_dir():
        packed = pack_directory(source)
        manifest = prepare_manifest(source, warn)
        if (packed.name, packed.version) != (manifest["name"], manifest["version"]):
            raise PackError("package.json changed while it was being packed")
        return Package(manifest, packed.tarball)
    return _load_tarball(source, cwd or Path.cwd(), warn)


def _load_tarball(path: Path, cwd: Path, warn: Callable[[str], None] | None) -> Package:
    """As pacote ``FileFetcher.manifest``: extract, prepare the manifest, add ``_integrity``,
    ``_resolved`` (the absolute path) and ``_from`` (``file:`` + the path from ``cwd``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise PublishError(
            f"Could not read package.json or tarball at {path}", code="ENOENT", path=str(path)
        ) from exc
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    contents = read_tarball(data)  # refuses anything unsafe before we extract
    folder = Path(tempfile.mkdtemp(prefix="assay-publish-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")
        root = folder / contents.prefix
        manifest = prepare_manifest(root, warn)
    except (tarfile.TarError, OSError) as exc:
        raise TarballError(f"cannot extract {path}: {exc}") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    resolved = path.resolve()
    manifest["_integrity"] = Digest.of(data, "sha512").sri
    manifest["_resolved"] = str(resolved)
    manifest["_from"] = "file:" + os.path.relpath(resolved, cwd.resolve()).replace(os.sep, "/")
    return Package(manifest, data)


def check_publishable(package: Package, access: str | None) -> None:
    """libnpmpublish ``publish``: EPRIVATE, then EUNSCOPED."""
    if package.manifest.get("private"):
        raise PublishError(
            "This package has been marked as private\n"
            "Remove the 'private' field from the package.json to publish it.",
            code="EPRIVATE",
        )
    if not package.name.startswith("@") and access == "restricted":
        raise PublishError("Can't restrict access to unscoped packages.", code="EUNSCOPED")


def publish_body(
    package: Package,
    registry: str,
    *,
    tag: str = "latest",
    access: str | None = None,
    provenance: Bundle | None = None,
) -> dict[str, Any]:
    """The JSON document libnpmpublish ``buildMetadata`` builds for ``package``."""
    manifest: dict[str, Any] = json.loads(json.dumps(package.manifest))
    name, version = package.name, package.version
    root: dict[str, Any] = {"_id": name, "name": name}
    if manifest.get("description") is not None:
        root["description"] = manifest["description"]
    root["dist-tags"] = {}
    root["versions"] = {version: manifest}
    root["access"] = access
    root["dist-tags"][manifest.get("tag") or tag] = version

    tarball = package.tarball
    manifest["_id"] = f"{name}@{version}"
    dist = dict(manifest.get("dist") or {})
    dist["integrity"] = Digest.of(tarball, "sha512").sri
    dist["shasum"] = hashlib.sha1(tarball).hexdigest()  # noqa: S324 - npm still sends the legacy sha1
    dist["tarball"] = tarball_url(registry, name, version)
    manifest["dist"] = dist

    attachments: dict[str, Any] = {
        f"{name}-{version}.tgz": {
            "content_type": "application/octet-stream",
            "data": base64.b64encode(tarball).decode("ascii"),
            "length": len(tarball),
        }
    }
    if provenance is not None:
        serialized = provenance.to_json()
        attachments[f"{name}-{version}.sigstore"] = {
            "content_type": provenance.media_type,
            "data": serialized,
            # JavaScript's String length: UTF-16 code units.
            "length": len(serialized.encode("utf-16-le")) // 2,
        }
    root["_attachments"] = attachments
    return root
