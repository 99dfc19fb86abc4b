"""A tiny local registry that answers as registry.npmjs.org did, from tests/fixtures/npm-real.

Packuments are built from the real attestations responses: each version's ``dist.integrity`` is
the sha512 of its statement's subject (the real tarball's), ``dist.attestations`` points at the
saved response, ``time[version]`` is the log entry's integrated time. ``dist.signatures`` are
the real ones from npm/cli's audit test where npm has them
(``npm-cli/registry-signatures-from-audit-test.json``); other versions have none. Keys and a
trusted root are *not* served (404): the audit uses the bundled npmjs keys and public-good root.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from assay.provenance.subject import parse_npm_purl
from tests.npm_real import ROOT

SIGNATURES = ROOT / "npm-cli" / "registry-signatures-from-audit-test.json"
NEGATIVE = ROOT / "slsa-verifier" / "negative"
# Versions served from a negative response (the provenance bundle's signature altered).
TAMPERED_ATTESTATION = ("@laurentsimon/provenance-npm-test", "1.0.3")
# A version whose real signature is replaced by another version's real signature.
TAMPERED_SIGNATURE = ("node-fetch", "1.7.1")


@dataclass
class Registry:
    packuments: dict[str, dict[str, Any]] = field(default_factory=dict)
    attestations: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def version(self, name: str, version: str) -> dict[str, Any]:
        packument = self.packuments.setdefault(
            name, {"_id": name, "name": name, "versions": {}, "time": {}}
        )
        manifest: dict[str, Any] = packument["versions"].setdefault(
            version,
            {"_id": f"{name}@{version}", "name": name, "version": version, "dist": {}},
        )
        return manifest


def _statement(bundle: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return payload


def build_registry() -> Registry:
    registry = Registry()
    files = sorted((ROOT / "npm-cli").glob("valid-*.json")) + sorted(
        (ROOT / "slsa-verifier").glob("*.json")
    )
    for original in files:
        path = original
        data = json.loads(path.read_text(encoding="utf-8"))
        first = data["attestations"][0]["bundle"]
        subject = _statement(first)["subject"][0]
        name, version = parse_npm_purl(subject["name"])
        if (name, version) == TAMPERED_ATTESTATION:
            path = NEGATIVE / path.name.replace(".tgz.json", "-invalidsigprov.tgz.json")
        digest = bytes.fromhex(subject["digest"]["sha512"])
        integrity = "sha512-" + base64.b64encode(digest).decode()
        manifest = registry.version(name, version)
        escaped = name.replace("/", "%2f")
        manifest["dist"] = {
            "integrity": integrity,
            "tarball": f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz",
            # npmjs.org writes its own host here; pacote only uses the path (§4.2).
            "attestations": {
                "url": f"https://registry.npmjs.org/-/npm/v1/attestations/{escaped}@{version}",
                "provenance": {"predicateType": _statement_type(data)},
            },
        }
        integrated = int(first["verificationMaterial"]["tlogEntries"][0]["integratedTime"])
        registry.packuments[name]["time"][version] = _iso(integrated)
        registry.attestations[f"/-/npm/v1/attestations/{escaped}@{version}"] = path.read_bytes()
    signatures = json.loads(SIGNATURES.read_text(encoding="utf-8"))["entries"]
    for entry in signatures:
        manifest = registry.version(entry["name"], entry["version"])
        manifest["dist"].setdefault("integrity", entry["integrity"])
        manifest["dist"].setdefault("tarball", entry["tarball"])
        assert manifest["dist"]["integrity"] == entry["integrity"]
        manifest["dist"]["signatures"] = [{"keyid": entry["keyid"], "sig": entry["sig"]}]
        registry.packuments[entry["name"]]["time"].setdefault(
            entry["version"], "2023-02-01T00:00:00.000Z"
        )
    other = next(e for e in signatures if e["name"] != TAMPERED_SIGNATURE[0])
    registry.version(*TAMPERED_SIGNATURE)["dist"]["signatures"][0]["sig"] = other["sig"]
    return registry


def _statement_type(data: dict[str, Any]) -> str:
    for item in data["attestations"]:
        if item["predicateType"].startswith("https://slsa.dev/provenance/"):
            kind: str = item["predicateType"]
            return kind
    raise AssertionError("no provenance in the response")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def lockfile_entries(registry: Registry) -> dict[str, dict[str, Any]]:
    """A hidden lockfile's ``packages`` installing every version the registry has; second
    versions of a name are nested under a made-up parent, as npm would place them."""
    packages: dict[str, dict[str, Any]] = {}
    for name, packument in sorted(registry.packuments.items()):
        for index, (version, manifest) in enumerate(sorted(packument["versions"].items())):
            location = f"node_modules/{name}"
            if index:
                location = f"node_modules/holder-{index}/node_modules/{name}"
            packages[location] = {
                "version": version,
                "resolved": manifest["dist"]["tarball"],
                "integrity": manifest["dist"]["integrity"],
            }
    return packages


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 refuses an audit's concurrent connections
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real registry
    registry: Registry

    def do_GET(self) -> None:
        registry = self.registry
        registry.requests.append(self.path)
        body: bytes | None = None
        if self.path in registry.attestations:
            body = registry.attestations[self.path]
        elif not self.path.startswith("/-/"):
            name = self.path[1:].replace("%2f", "/").replace("%2F", "/")
            packument = registry.packuments.get(name)
            if packument is not None:
                body = json.dumps(packument).encode()
        if body is None:
            self.send_response(404)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(registry: Registry) -> Iterator[Registry]:
    handler = type("Handler", (_Handler,), {"registry": registry})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    registry.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_project(root: Path, registry: Registry) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps({"name": "project", "version": "1.0.0"}))
    (root / "node_modules").mkdir(exist_ok=True)
    hidden = {
        "name": "project",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": lockfile_entries(registry),
    }
    (root / "node_modules" / ".package-lock.json").write_text(json.dumps(hidden, indent=2))
    return root
