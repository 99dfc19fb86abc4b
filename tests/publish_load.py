"""Publishes against a running `assay up`, for the crash and backup tests: plain ones (a token
and a tarball) and ones with provenance signed through the instance's emulated CI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from assay.provenance.ci import build_provenance
from assay.provenance.statement import Subject
from assay.provenance.subject import Digest, npm_purl
from assay.publish.body import Package, publish_body
from assay.sign.config import SigningConfig
from assay.sign.signer import sign_statement
from tests.assay_up import Instance
from tests.interop.test_sigstore_clients import ci_job, fetch_token
from tests.unit.registry.tarballs import publish_body as plain_body
from tests.unit.registry.tarballs import tarball

REPOSITORY = "acme/crash"


def admin_token(data: Path) -> str:
    return (data / "admin.token").read_text().strip()


def plain(name: str, version: str) -> dict[str, Any]:
    return plain_body(name, version)


def with_provenance(instance: Instance, names: list[str], version: str) -> list[dict[str, Any]]:
    """Bodies of `name@version` for every name, each with a provenance bundle signed now."""
    job = ci_job(instance, "github", f"repository={REPOSITORY}", "ref=refs/tags/v1.0.0")
    config = SigningConfig.fetch(instance.url)
    bodies = []
    for name in names:
        manifest = {
            "name": name,
            "version": version,
            "repository": f"git+https://github.com/{REPOSITORY}.git",
        }
        package = Package(manifest, tarball(name, version, package_json=manifest))
        subject = Subject(npm_purl(name, version), {"sha512": package.sha512.hex})
        bundle = sign_statement(build_provenance(job, subject), fetch_token(job), config)
        bodies.append(publish_body(package, instance.url, access="public", provenance=bundle))
    return bodies


def put(http: httpx.Client, body: dict[str, Any]) -> int:
    return http.put(f"/{body['name']}", json=body).status_code


def assert_served_whole(url: str, names: set[str]) -> dict[str, set[str]]:
    """Every version in every packument has its tarball, matching its integrity. Returns the
    versions each package serves."""
    served: dict[str, set[str]] = {}
    with httpx.Client(base_url=url, timeout=30) as http:
        for name in sorted(names):
            response = http.get(f"/{name}")
            if response.status_code == 404:
                continue
            assert response.status_code == 200, response.text
            versions = response.json()["versions"]
            served[name] = set(versions)
            for version, manifest in versions.items():
                dist = manifest["dist"]
                tgz = http.get(dist["tarball"])
                assert tgz.status_code == 200, f"{name}@{version}: tarball {tgz.status_code}"
                digest = Digest.from_sri(dist["integrity"])
                assert hashlib.sha512(tgz.content).digest() == digest.value, f"{name}@{version}"
    return served


def assay(*args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    """The `assay` command, with the instance's port (its origin names its statements)."""
    env = {**os.environ, "ASSAY_CI_EMULATION": "1"}
    if port is not None:
        env["ASSAY_PORT"] = str(port)
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def check_report(data: Path, port: int) -> dict[str, Any]:
    done = assay("check", "--data", str(data), "--json", port=port)
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert (done.returncode == 0) == report["ok"]
    return report
