"""`assay conformance`, the sigstore-conformance client protocol, against `assay up`: what
sign-bundle makes, verify-bundle and sigstore-python both accept, by path and by digest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.assay_up import Instance
from tests.interop.test_sigstore_clients import GITHUB_SAN, ci_job, fetch_token, sigstore


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", "conformance", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sign_bundle_then_verify_bundle(instance: Instance, tmp_path: Path) -> None:
    files = {}
    for name in ("signing_config.json", "trusted_root.json", "client_trust_config.json"):
        files[name] = tmp_path / name
        files[name].write_bytes(httpx.get(f"{instance.url}/-/trust/{name}").content)
    job = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    issuer = f"{instance.url}/-/oidc"
    artifact = tmp_path / "artifact.txt"
    artifact.write_text("conformance artifact\n")
    statement = tmp_path / "statement.json"
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    statement.write_text(
        json.dumps(
            {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "artifact.txt", "digest": {"sha256": digest}}],
                "predicateType": "https://example.com/predicate/v1",
                "predicate": {},
            }
        )
    )
    for in_toto, signed in ((False, artifact), (True, statement)):
        bundle = tmp_path / f"{signed.stem}.sigstore.json"
        args = ["sign-bundle", *(["--in-toto"] if in_toto else [])]
        args += ["--identity-token", fetch_token(job), "--bundle", str(bundle)]
        args += ["--trusted-root", str(files["trusted_root.json"])]
        args += ["--signing-config", str(files["signing_config.json"]), str(signed)]
        done = conformance(*args)
        assert done.returncode == 0, done.stderr
        for target in (str(artifact), f"sha256:{digest}"):
            verify = ["verify-bundle", "--bundle", str(bundle)]
            verify += ["--certificate-identity", GITHUB_SAN, "--certificate-oidc-issuer", issuer]
            verify += ["--trusted-root", str(files["trusted_root.json"]), target]
            done = conformance(*verify)
            assert done.returncode == 0, (in_toto, target, done.stderr)
            wrong = conformance(*[a if a != GITHUB_SAN else GITHUB_SAN + "x" for a in verify])
            assert wrong.returncode == 1
        if not in_toto:
            py = sigstore(
                files["client_trust_config.json"], "verify", "identity", "--offline",
                "--bundle", str(bundle), "--cert-identity", GITHUB_SAN,
                "--cert-oidc-issuer", issuer, str(artifact),
            )  # fmt: skip
            assert py.returncode == 0, py.stderr
