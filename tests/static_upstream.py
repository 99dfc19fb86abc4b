"""A static npm registry of generated packages: the upstream for mirror tests and bench/mirror.py.

Each package is a real npm tarball (``package/package.json`` and ``package/index.js``, gzip'd
tar, as ``npm pack`` makes it) with a full packument in npmjs.org's shape: ``dist.integrity``
(sha512), ``dist.shasum``, ``dist.tarball`` pointing here, ``time``. No registry signatures and
no attestations: a mirror trusts it as an uplink that signs nothing (``trust = "served"``: it
answers 404 for ``/-/npm/v1/keys`` and ``/-/trust/trusted_root.json``), the way a Verdaccio
upstream is. Packuments carry an ETag and answer ``If-None-Match`` with 304.

Knobs: ``down`` makes every answer a 503; ``tampered`` names ``name@version``s whose tarball
bytes are not the ones ``dist.integrity`` names; ``claimed`` and ``packed`` override fields of a
``name@version``'s manifest in the packument only and in the tarball's package.json only (a
manifest confusion: ``dist.integrity`` still names the tarball's bytes); ``requests`` counts
paths.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PUBLISHED = "2024-01-01T00:00:00.000Z"


def tarball(manifest: Mapping[str, Any]) -> bytes:
    """The gzip'd tar ``npm pack`` would make of a package with this package.json."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        files = {
            "package/package.json": json.dumps(manifest, indent=2).encode(),
            "package/index.js": f"module.exports = {json.dumps(manifest['name'])};\n".encode(),
        }
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 499162500  # npm's fixed mtime
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class StaticUpstream:
    """Packages ``{name: {version: dependencies}}``; ``url`` is set once it is served."""

    packages: Mapping[str, Mapping[str, Mapping[str, str]]]
    url: str = ""
    down: bool = False
    tampered: set[str] = field(default_factory=set)
    claimed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    packed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    _tarballs: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name, versions in self.packages.items():
            for version, dependencies in versions.items():
                spec = f"{name}@{version}"
                self._tarballs[spec] = tarball(
                    self.manifest(name, version, dependencies) | dict(self.packed.get(spec, {}))
                )

    @staticmethod
    def manifest(name: str, version: str, dependencies: Mapping[str, str]) -> dict[str, Any]:
        return {
            "name": name,
            "version": version,
            "description": f"{name}, generated for the mirror's tests and benchmark",
            "main": "index.js",
            "license": "MIT",
            "dependencies": dict(dependencies),
        }

    def tarball_bytes(self, name: str, version: str) -> bytes:
        return self._tarballs[f"{name}@{version}"]

    def packument(self, name: str) -> dict[str, Any]:
        versions: dict[str, Any] = {}
        for version, dependencies in self.packages[name].items():
            data = self.tarball_bytes(name, version)
            bare = name.rsplit("/", 1)[-1]
            versions[version] = {
                **self.manifest(name, version, dependencies),
                **self.claimed.get(f"{name}@{version}", {}),
                "_id": f"{name}@{version}",
                "dist": {
                    "integrity": "sha512-"
                    + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                    "shasum": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                    "tarball": f"{self.url}/{name}/-/{bare}-{version}.tgz",
                },
            }
        return {
            "_id": name,
            "name": name,
            "dist-tags": {"latest": list(versions)[-1]},
            "versions": versions,
            "time": {"created": PUBLISHED, "modified": PUBLISHED}
            | dict.fromkeys(versions, PUBLISHED),
            "maintainers": [{"name": "upstream", "email": "upstream@example.invalid"}],
            "readme": f"# {name}\n\nGenerated.",
        }

    def app(self) -> Starlette:
        bodies: dict[str, tuple[bytes, str]] = {}

        def document(name: str) -> tuple[bytes, str]:
            if name not in bodies:
                body = json.dumps(self.packument(name)).encode()
                bodies[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
            return bodies[name]

        async def route(request: Request) -> Response:
            path = request.url.path
            with self._lock:
                self.requests[path] += 1
            if self.down:
                return JSONResponse({"error": "service unavailable"}, status_code=503)
            if path == "/-/ping":
                return JSONResponse({})
            if "/-/" in path and path.endswith(".tgz"):
                name, _, file = unquote(path.lstrip("/")).partition("/-/")
                version = file.removesuffix(".tgz").removeprefix(name.rsplit("/", 1)[-1] + "-")
                data = self._tarballs.get(f"{name}@{version}")
                if data is None:
                    return JSONResponse({"error": "Not found"}, status_code=404)
                if f"{name}@{version}" in self.tampered:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                return Response(data, media_type="application/octet-stream")
            name = unquote(path.lstrip("/"))
            if name not in self.packages:
                return JSONResponse({"error": "Not found"}, status_code=404)
            body, etag = document(name)
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            return Response(body, media_type="application/json", headers={"ETag": etag})

        return Starlette(routes=[Route("/{path:path}", route)])


def tree(count: int, prefix: str = "tree-pkg") -> dict[str, dict[str, dict[str, str]]]:
    """``count`` packages in a binary tree of dependencies (``<prefix>-000`` at the root,
    each depending on its two children with ``^1.0.0``), two versions each: ``npm install``
    of the root walks the whole tree, level by level, as a real dependency tree does."""
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    packages: dict[str, dict[str, dict[str, str]]] = {}
    for index, name in enumerate(names):
        children = [names[c] for c in (2 * index + 1, 2 * index + 2) if c < count]
        dependencies = dict.fromkeys(children, "^1.0.0")
        packages[name] = {"1.0.0": dependencies, "1.1.0": dependencies}
    return packages
