"""A small stand-in for registry.npmjs.org built from the real npm data in tests/fixtures/npm-real.

The packuments have npmjs.org's shape (full documents with ``time``, ``dist.integrity``,
``dist.signatures`` and ``dist.attestations``); the signatures are the real ones npmjs.org
made (``registry-signatures-from-audit-test.json``) and the attestations the real public-good
ones (``valid-*-attestations.json``), served at npm's paths with ETags. The real tarballs are
not in the fixtures, so every tarball this server answers with is bytes that do *not* match
``dist.integrity``: exactly what a tampered upstream serves.

Versions (what a mirror must decide about them):

* ``sigstore@1.0.0``: real signature, real SLSA provenance + publish attestation → verified;
* ``sigstore@0.9.0``: ``sigstore@1.0.0``'s signature over another integrity → refused;
* ``tuf-js@1.0.0``: real signature, provenance with one bit of its DSSE signature flipped →
  refused;
* ``kms-demo@1.0.0``, ``node-fetch@1.7.1``, ``light-cycle@1.4.2``: real signatures, no
  attestations → verified.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.npm_real import ROOT

PUBLISHED = "2023-02-01T00:00:00.000Z"
TAMPERED_TARBALL = b"\x1f\x8b these are not the bytes npmjs.org signed"


def _entries() -> dict[str, dict[str, Any]]:
    data = json.loads((ROOT / "npm-cli" / "registry-signatures-from-audit-test.json").read_text())
    return {f"{e['name']}@{e['version']}": e for e in data["entries"]}


def _attestations(file: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "npm-cli" / file).read_text())
    return body


def _flip_provenance_signature(body: dict[str, Any]) -> dict[str, Any]:
    tampered = copy.deepcopy(body)
    signature = tampered["attestations"][0]["bundle"]["dsseEnvelope"]["signatures"][0]
    raw = bytearray(base64.b64decode(signature["sig"]))
    raw[-1] ^= 1
    signature["sig"] = base64.b64encode(bytes(raw)).decode()
    return tampered


class FakeNpmjs:
    """The app and its knobs: ``down`` makes every answer a 503; ``requests`` counts paths."""

    def __init__(self) -> None:
        self.url = ""  # set by the caller once served
        self.down = False
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        entries = _entries()
        sigstore = entries["sigstore@1.0.0"]
        self.attestations = {
            "sigstore@1.0.0": _attestations("valid-sigstore-attestations.json"),
            "tuf-js@1.0.0": _flip_provenance_signature(
                _attestations("valid-tuf-js-attestations.json")
            ),
        }
        forged = dict(sigstore, version="0.9.0", integrity="sha512-" + base64.b64encode(
            hashlib.sha512(b"sigstore 0.9.0").digest()).decode())  # fmt: skip
        self.versions: dict[str, list[dict[str, Any]]] = {
            "sigstore": [sigstore, forged],
            "tuf-js": [entries["tuf-js@1.0.0"]],
            "kms-demo": [entries["kms-demo@1.0.0"]],
            "node-fetch": [entries["node-fetch@1.7.1"]],
            "light-cycle": [entries["light-cycle@1.4.2"]],
        }

    def packument(self, name: str) -> dict[str, Any]:
        versions: dict[str, Any] = {}
        for entry in self.versions[name]:
            version = entry["version"]
            dist: dict[str, Any] = {
                "integrity": entry["integrity"],
                "shasum": "0" * 40,
                "tarball": f"{self.url}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz",
                "signatures": [{"keyid": entry["keyid"], "sig": entry["sig"]}],
            }
            if f"{name}@{version}" in self.attestations:
                dist["attestations"] = {
                    "url": f"https://registry.npmjs.org/-/npm/v1/attestations/{name}@{version}",
                    "provenance": {"predicateType": "https://slsa.dev/provenance/v0.2"},
                }
            versions[version] = {
                "name": name, "version": version, "_id": f"{name}@{version}", "dist": dist,
            }  # fmt: skip
        latest = max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
        return {
            "_id": name,
            "_rev": "3-0123456789abcdef",
            "name": name,
            "dist-tags": {"latest": latest},
            "versions": versions,
            "time": {"created": PUBLISHED, "modified": PUBLISHED}
            | dict.fromkeys(versions, PUBLISHED),
            "maintainers": [{"name": "npm", "email": "npm@example.invalid"}],
            "readme": f"# {name}",
        }

    def app(self) -> Starlette:
        async def route(request: Request) -> Response:
            path = request.url.path
            with self._lock:
                self.requests[path] += 1
            if self.down:
                return JSONResponse({"error": "service unavailable"}, status_code=503)
            if path.startswith("/-/npm/v1/attestations/"):
                body = self.attestations.get(path.removeprefix("/-/npm/v1/attestations/"))
                if body is None:
                    return JSONResponse({"error": "not found"}, status_code=404)
                return JSONResponse(body)
            if path.endswith(".tgz"):
                return Response(TAMPERED_TARBALL, media_type="application/octet-stream")
            name = path.lstrip("/").replace("%2f", "/").replace("%2F", "/")
            if name not in self.versions:
                return JSONResponse({"error": "Not found"}, status_code=404)
            body_bytes = json.dumps(self.packument(name)).encode()
            etag = '"' + hashlib.sha256(body_bytes).hexdigest()[:16] + '"'
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            return Response(body_bytes, media_type="application/json", headers={"ETag": etag})

        return Starlette(routes=[Route("/{path:path}", route)])
