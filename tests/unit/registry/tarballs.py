"""npm-shaped test material: tarballs as `npm pack` makes them and publish bodies as
libnpmpublish sends them (specs/npm-registry.md §1.3)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from typing import Any


def tarball(
    name: str,
    version: str,
    *,
    files: dict[str, bytes] | None = None,
    package_json: dict[str, Any] | None = None,
) -> bytes:
    manifest = package_json if package_json is not None else {"name": name, "version": version}
    contents = {"package.json": json.dumps(manifest).encode(), "index.js": b"module.exports=1\n"}
    contents.update(files or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, data in contents.items():
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 499162500
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def publish_body(
    name: str,
    version: str,
    *,
    data: bytes | None = None,
    tags: dict[str, str] | None = None,
    **manifest: Any,
) -> dict[str, Any]:
    # The tarball's package.json says what the body says (as `npm publish` packs it): the
    # registry refuses a body that differs from it (manifest confusion).
    if data is None:
        data = tarball(name, version, package_json={"name": name, "version": version, **manifest})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    return {
        "_id": name,
        "name": name,
        "description": manifest.get("description", ""),
        "dist-tags": tags if tags is not None else {"latest": version},
        "versions": {
            version: {
                "name": name,
                "version": version,
                **manifest,
                "_id": f"{name}@{version}",
                "dist": {
                    "integrity": integrity,
                    "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
                    "tarball": f"http://elsewhere.invalid/{name}/-/{name}-{version}.tgz",
                },
            }
        },
        "access": None,
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }
