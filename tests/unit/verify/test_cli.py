"""`assay verify` and `assay conformance verify-bundle`: exit codes and what they print."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assay.cli.main import main
from tests.npm_real import ROOT
from tests.unit.verify.fixtures import NPM_KEYS, TRUSTED_ROOT, responses

SIGSTORE = next(r for r in responses() if r.name == "sigstore" and r.version == "1.0.0")
TAMPERED = next(r for r in responses() if r.negative)
AUDIT = json.loads((ROOT / "npm-cli" / "registry-signatures-from-audit-test.json").read_text())
SIGNED = next(e for e in AUDIT["entries"] if e["name"] == "sigstore")


def attestations(*args: str) -> list[str]:
    return ["verify", "attestations", *args]


def test_a_real_response_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        attestations(
            "--package", "sigstore@1.0.0", "--integrity", SIGSTORE.integrity, str(SIGSTORE.path)
        )
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "verified https://slsa.dev/provenance/v0.2" in out
    assert "sigstore/sigstore-js/.github/workflows/publish.yml@refs/tags/v1.0.0" in out
    assert "registry key SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA" in out


def test_explicit_trust_files_work_offline() -> None:
    args = ["--offline", "--trusted-root", str(TRUSTED_ROOT), "--registry-keys", str(NPM_KEYS)]
    code = main(
        attestations(
            "--package",
            "sigstore@1.0.0",
            "--integrity",
            SIGSTORE.integrity,
            *args,
            str(SIGSTORE.path),
        )
    )
    assert code == 0


def test_a_tampered_or_mismatched_response_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{TAMPERED.name}@{TAMPERED.version}"
    assert (
        main(attestations("--package", spec, "--integrity", TAMPERED.integrity, str(TAMPERED.path)))
        == 1
    )
    assert "signature" in capsys.readouterr().err
    assert (
        main(
            attestations(
                "--package", "sigstore@1.0.1", "--integrity", SIGSTORE.integrity, str(SIGSTORE.path)
            )
        )
        == 1
    )
    assert "subject" in capsys.readouterr().err


def test_bad_trust_files_and_usage_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "root.json"
    broken.write_text('{"mediaType": "nope"}')
    base = ["--package", "sigstore@1.0.0", "--integrity", SIGSTORE.integrity]
    assert main(attestations(*base, "--trusted-root", str(broken), str(SIGSTORE.path))) == 2
    assert main(attestations(*base, "--registry-keys", str(broken), str(SIGSTORE.path))) == 2
    assert main(attestations("--package", "nover", "--integrity", "x", str(SIGSTORE.path))) == 2
    assert main(attestations(*base)) == 2


# --- assay verify NAME@VERSION against a registry on loopback ------------------------------------


class Registry(ThreadingHTTPServer):
    routes: dict[str, Any]


class Handler(BaseHTTPRequestHandler):
    server: Registry

    def do_GET(self) -> None:
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    # `assay verify` pins a registry's trust on first use (assay.audit.pins): not in ~/.config.
    monkeypatch.setenv("ASSAY_TRUST_PIN_DIR", str(tmp_path / "pins"))
    server = Registry(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.routes = {
        "/-/npm/v1/keys": {"keys": [AUDIT["key"]]},
        "/sigstore": {
            "name": "sigstore",
            "time": {"1.0.0": "2023-02-09T17:56:03.000Z"},
            "versions": {
                "1.0.0": {
                    "name": "sigstore",
                    "version": "1.0.0",
                    "dist": {
                        "integrity": SIGNED["integrity"],
                        "signatures": [{"keyid": SIGNED["keyid"], "sig": SIGNED["sig"]}],
                        "attestations": {
                            "url": "https://elsewhere.example/-/npm/v1/attestations/sigstore@1.0.0",
                            "provenance": {"predicateType": "https://slsa.dev/provenance/v0.2"},
                        },
                    },
                }
            },
        },
        "/-/npm/v1/attestations/sigstore@1.0.0": SIGSTORE.data,
    }
    server.url = url  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_verify_a_version_from_a_registry(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    url: str = registry.url  # type: ignore[attr-defined]
    repo = ["--repository", "github.com/sigstore/sigstore-js", "--ref", "refs/tags/v*"]
    assert main(["verify", "sigstore@1.0.0", "--registry", url, *repo]) == 0
    out = capsys.readouterr().out
    assert "verified registry signature" in out
    assert "verified https://slsa.dev/provenance/v0.2" in out
    assert (
        main(["verify", "sigstore@1.0.0", "--registry", url, "--repository", "github.com/evil/x"])
        == 1
    )
    assert "repository" in capsys.readouterr().err
    assert (
        main(
            [
                "verify",
                "sigstore@1.0.0",
                "--registry",
                url,
                "--workflow",
                ".github/workflows/other.yml",
            ]
        )
        == 1
    )


def test_a_bad_registry_signature_fails(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    url: str = registry.url  # type: ignore[attr-defined]
    registry.routes["/sigstore"]["versions"]["1.0.0"]["dist"]["signatures"][0]["sig"] = AUDIT[
        "entries"
    ][0]["sig"]
    assert main(["verify", "sigstore@1.0.0", "--registry", url]) == 1
    assert "invalid registry signature" in capsys.readouterr().err
    assert main(["verify", "nothere@1.0.0", "--registry", url]) == 1


def test_the_registry_serves_the_trusted_root(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like `assay audit signatures`, `assay verify` trusts what a registry other than npmjs.org
    serves at /-/trust/trusted_root.json: here a root without the log that npmjs.org's
    provenance was logged in, so the attestation cannot verify."""
    url: str = registry.url  # type: ignore[attr-defined]
    root = json.loads(TRUSTED_ROOT.read_text())
    registry.routes["/-/trust/trusted_root.json"] = {**root, "tlogs": []}
    assert main(["verify", "sigstore@1.0.0", "--registry", url]) == 1
    assert "not in the trusted root" in capsys.readouterr().err
    # A root the user names replaces the one the registry serves.
    assert main(["verify", "sigstore@1.0.0", "--registry", url, "--trusted-root",
                 str(TRUSTED_ROOT)]) == 0  # fmt: skip


# --- conformance --------------------------------------------------------------------------------


def test_conformance_verify_bundle_usage_and_failures(tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(SIGSTORE.data["attestations"][0]["bundle"]))
    base = ["conformance", "verify-bundle", "--bundle", str(bundle)]
    assert main([*base, "sha256:" + "0" * 64]) == 2  # neither identity nor key
    identity = [
        "--certificate-identity",
        "https://github.com/sigstore/sigstore-js/.github/workflows/publish.yml@refs/tags/v1.0.0",
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ]
    # npm subjects carry only sha512, so no sha256 artifact can match.
    assert main([*base, *identity, "--trusted-root", str(TRUSTED_ROOT), "sha256:" + "0" * 64]) == 1
    assert main([*base, *identity, "--staging", "sha256:" + "0" * 64]) == 1
    # Signing needs the services a signing config names (no network path to public good).
    sign = ["conformance", "sign-bundle", "--identity-token", "t", "--bundle", "o"]
    assert main([*sign, str(TRUSTED_ROOT)]) == 2
