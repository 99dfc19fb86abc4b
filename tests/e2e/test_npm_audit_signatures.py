"""The unmodified npm client's `npm audit signatures` trusts an Assay instance, offline.

`assay up` serves the registry; a maintainer publishes one package with `npm publish` and one
with provenance from an emulated GitHub Actions job (`assay publish --provenance`); a consumer
installs both. `assay trust npm-cache` plants the instance's TUF root, metadata and targets in
the consumer's npm cache, and `assay trust npm-proxy` answers the two requests npm still makes to
https://tuf-repo-cdn.sigstore.dev (npm-registry.md §4.6). npm then verifies the registry
signatures with the keys from our `<host>/keys.json` TUF target and the provenance with our
`trusted_root.json` target — and reports tampering in storage as npm reports it (§4.4).

Nothing reaches the real network: the proxy refuses every CONNECT but the one host (asserted
from its log), the registry is on 127.0.0.1 (`no_proxy`), and npm runs with
`--fetch-retries=0`.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.assay_up import Instance, free_port, start, stop, stop_process
from tests.e2e.test_npm_registry import Npm, make_package
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job

pytestmark = [pytest.mark.npm]

TUF_HOST = "tuf-repo-cdn.sigstore.dev"
GITHUB_REPO = "acme/widget"


def exports(output: str) -> dict[str, str]:
    """The ``export NAME=value`` lines `assay trust …` prints, as a dict."""
    env = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
    return env


@contextmanager
def npm_proxy(data: Path, port: int, log: Path) -> Iterator[dict[str, str]]:
    """`assay trust npm-proxy` as a real process; yields the environment it prints."""
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "trust", "npm-proxy", "--data", str(data),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=handle, text=True,
    )  # fmt: skip
    handle.close()
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        env = exports("".join(lines))
        assert env["https_proxy"] == f"http://127.0.0.1:{port}", lines
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"npm-proxy did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield env
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


def publish_with_provenance(instance: Instance, workdir: Path, name: str, version: str) -> None:
    """Publish ``name@version`` with a provenance attestation, as a GitHub Actions release
    job does it (`assay publish --provenance` with the job's ambient OIDC credentials). The
    registry verifies the bundle and serves it at /-/npm/v1/attestations/ with
    ``dist.attestations``."""
    job = ci_job(instance, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
    home, folder = workdir / "home", workdir / f"{name}-{version}"
    home.mkdir(parents=True)
    folder.mkdir(parents=True)
    token = (instance.data / "admin.token").read_text().strip()
    host = instance.url.split("://", 1)[1]
    (home / ".npmrc").write_text(f"registry={instance.url}/\n//{host}/:_authToken={token}\n")
    manifest = {"name": name, "version": version, "license": "MIT",
                "repository": f"git+https://github.com/{GITHUB_REPO}.git"}  # fmt: skip
    (folder / "package.json").write_text(json.dumps(manifest))
    (folder / "index.js").write_text(f"module.exports = {version!r};\n")
    done = assay("publish", str(folder), "--provenance", "--access", "public",
                 env=job_env(job, home))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"+ {name}@{version}"


def tamper_signature(db: Path, name: str, version: str) -> None:
    """Replace the stored registry signature of ``name@version`` with a valid-looking one
    over another message (what a write to storage, bypassing the registry, can do)."""
    with sqlite3.connect(db) as connection:
        manifests = dict(connection.execute("SELECT package, manifest FROM registry_versions"))
        manifest = json.loads(manifests[name])
        other = next(json.loads(m) for p, m in manifests.items() if p != name)
        manifest["dist"]["signatures"][0]["sig"] = other["dist"]["signatures"][0]["sig"]
        connection.execute(
            "UPDATE registry_versions SET manifest = ? WHERE package = ? AND version = ?",
            (json.dumps(manifest), name, version),
        )
    connection.close()


def tamper_attestation(db: Path, name: str, version: str) -> None:
    """Flip one bit of the provenance bundle's DSSE signature as stored."""
    with sqlite3.connect(db) as connection:
        (stored,) = connection.execute(
            "SELECT attestations FROM registry_versions WHERE package = ? AND version = ?",
            (name, version),
        ).fetchone()
        attestations: list[dict[str, Any]] = json.loads(stored)
        signature = attestations[0]["bundle"]["dsseEnvelope"]["signatures"][0]
        raw = bytearray(base64.b64decode(signature["sig"]))
        raw[-1] ^= 1
        signature["sig"] = base64.b64encode(bytes(raw)).decode()
        connection.execute(
            "UPDATE registry_versions SET attestations = ? WHERE package = ? AND version = ?",
            (json.dumps(attestations), name, version),
        )
    connection.close()


def audited_in(stdout: str) -> str:
    """The duration npm prints on its first line (``audited N packages in 0s``)."""
    match = re.match(r"audited \d+ packages? in (\d+s)\n", stdout)
    assert match is not None, stdout
    return match[1]


def audit(
    consumer: Npm, project: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", "audit", "signatures", "--fetch-retries=0", *args],
        cwd=project, env={**consumer.env, **env}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_npm_audit_signatures_trusts_the_instance(tmp_path: Path) -> None:
    port, proxy_port = free_port(), free_port()
    data, log = tmp_path / "instance" / "data", tmp_path / "assay-up.log"
    data.parent.mkdir()
    instance = start(data, port, log)
    try:
        registry = f"{instance.url}/"
        token = (data / "admin.token").read_text().strip()
        maintainer = Npm(registry, tmp_path / "maintainer")
        maintainer.userconfig.write_text(f"//127.0.0.1:{port}/:_authToken={token}\n")
        signed = make_package(tmp_path / "packages", "audit-demo", "1.0.0")
        assert "+ audit-demo@1.0.0" in maintainer.run("publish", cwd=signed).stdout
        publish_with_provenance(instance, tmp_path / "ci", "widget", "1.0.0")

        consumer = Npm(registry, tmp_path / "consumer")
        project = tmp_path / "project"
        project.mkdir()
        (project / "package.json").write_text('{"name": "project", "version": "1.0.0"}')
        consumer.run("install", "--no-audit", "audit-demo", "widget", cwd=project)
        single = tmp_path / "single"
        single.mkdir()
        (single / "package.json").write_text('{"name": "single", "version": "1.0.0"}')
        consumer.run("install", "--no-audit", "audit-demo", cwd=single)

        cache = Path(consumer.env["npm_config_cache"])
        seeded = assay("trust", "npm-cache", "--cache", str(cache), "--data", str(data),
                       "--proxy-port", str(proxy_port),
                       env=job_env({}, tmp_path / "x"))  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
        env = exports(seeded.stdout)
        assert set(env) == {"https_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS"}
        tuf = cache / "_tuf" / TUF_HOST
        assert (tuf / "targets" / f"127.0.0.1%3A{port}%2Fkeys.json").is_file()

        proxy_log = tmp_path / "npm-proxy.log"
        with npm_proxy(data, proxy_port, proxy_log) as proxy_env:
            assert proxy_env == env

            result = audit(consumer, project, env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert re.fullmatch(
                r"audited 2 packages in \ds\n\n"
                r"2 packages have verified registry signatures\n\n"
                r"1 package has a verified attestation\n"
                r"\(use --json --include-attestations to view attestation details\)\n\n?",
                result.stdout,
            ), result.stdout
            result = audit(consumer, project, env, "--json")
            assert result.returncode == 0, result.stdout + result.stderr
            assert json.loads(result.stdout) == {"invalid": [], "missing": []}
            result = audit(consumer, single, env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout == (
                f"audited 1 package in {audited_in(result.stdout)}\n\n"
                "1 package has a verified registry signature\n\n"
            ), result.stdout

            # Tamper with storage while the instance is down (the registry caches packuments
            # in memory), then audit again.
            stop(instance)
            tamper_signature(data / "assay.db", "audit-demo", "1.0.0")
            tamper_attestation(data / "assay.db", "widget", "1.0.0")
            instance = start(data, port, log)

            result = audit(consumer, project, env)
            assert result.returncode == 1, result.stdout + result.stderr
            # widget's registry signature is intact, but pacote verifies the attestations of a
            # version before it counts it: a failed attestation leaves it only "invalid".
            assert result.stdout == (
                f"audited 2 packages in {audited_in(result.stdout)}\n\n"
                "1 package has an invalid registry signature:\n\n"
                f"audit-demo@1.0.0 ({registry})\n\n"
                "1 package has an invalid attestation:\n\n"
                f"widget@1.0.0 ({registry})\n\n"
                "Someone might have tampered with these packages since they were published on "
                "the registry!\n\n"
            ), result.stdout
            result = audit(consumer, project, env, "--json")
            assert result.returncode == 1
            report = json.loads(result.stdout)
            assert report["missing"] == []
            invalid = {(i["name"], i["code"]) for i in report["invalid"]}
            assert invalid == {
                ("audit-demo", "EINTEGRITYSIGNATURE"),
                ("widget", "EATTESTATIONVERIFY"),
            }
            result = audit(consumer, single, env)
            assert result.returncode == 1
            assert result.stdout == (
                f"audited 1 package in {audited_in(result.stdout)}\n\n"
                "1 package has an invalid registry signature:\n\n"
                f"audit-demo@1.0.0 ({registry})\n\n"
                "Someone might have tampered with this package since it was published on the "
                "registry!\n\n"
            ), result.stdout

        # What npm asked of tuf-repo-cdn.sigstore.dev, through the proxy: only the refresh
        # (the next root, 404; the timestamp) — everything else came from the seeded cache.
        requests = [
            line.removeprefix("npm trust proxy: ")
            for line in proxy_log.read_text().splitlines()
            if line.startswith("npm trust proxy: ")
        ]
        assert requests, proxy_log.read_text()
        assert all(r.startswith((f"CONNECT {TUF_HOST}:443 200", "GET ")) for r in requests)
        assert {r for r in requests if r.startswith("GET ")} == {
            f"GET https://{TUF_HOST}/2.root.json 404",
            f"GET https://{TUF_HOST}/timestamp.json 200",
        }
    finally:
        stop(instance)
