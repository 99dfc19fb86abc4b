"""Benchmark: publishing with provenance, against publishing without, and the registry's
verification time per publish.

Starts `assay up` on a fresh data directory, registers an emulated GitHub Actions job, and:

1. runs `assay publish` (the real CLI, a new process each time) N times with `--provenance` and
   N times without, on distinct versions: wall time p50/p99 and the ratio;
2. publishes M more versions in-process (sign + PUT, no process start-up) both ways;
3. times the registry's provenance check (`ProvenanceGate.check`, the code the registry runs at
   publish, over the instance's trusted root) on every provenance bundle the registry accepted.

    .venv/bin/python bench/publish.py [--cli 20] [--inprocess 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import Instance, free_port, start, stop
from tests.interop.test_sigstore_clients import ci_job, fetch_token

from assay.provenance.ci import build_provenance
from assay.provenance.statement import Subject
from assay.provenance.subject import Digest
from assay.publish.body import load_package, publish_body
from assay.registry.provenance import ProvenanceGate
from assay.sign.config import SigningConfig
from assay.sign.signer import sign_statement
from assay.verify.trust import TrustedRoot
from assay.verify.verifier import Verifier

REPOSITORY = "acme/bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def package_dir(root: Path, name: str, version: str) -> Path:
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "repository": f"github:{REPOSITORY}"}
    (folder / "package.json").write_text(json.dumps(manifest))
    (folder / "index.js").write_text("module.exports = 1;\n" * 50)
    return folder


def cli_publishes(
    root: Path, url: str, env: dict[str, str], count: int, provenance: bool
) -> list[float]:
    times = []
    name = "bench-prov" if provenance else "bench-plain"
    for i in range(count):
        folder = package_dir(root, name, f"1.0.{i}")
        args = [sys.executable, "-m", "assay", "publish", str(folder), "--access", "public"]
        if provenance:
            args.append("--provenance")
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cli", type=int, default=20, help="CLI publishes each way")
    parser.add_argument("--inprocess", type=int, default=100, help="in-process publishes each way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        instance = start(root / "data", free_port(), root / "up.log")
        try:
            return measure(root, instance, args)
        finally:
            stop(instance)


def measure(root: Path, instance: Instance, args: argparse.Namespace) -> int:
    url = instance.url
    token = (instance.data / "admin.token").read_text().strip()
    home = root / "home"
    home.mkdir()
    host = url.split("://", 1)[1]
    (home / ".npmrc").write_text(f"registry={url}/\n//{host}/:_authToken={token}\n")
    job = ci_job(instance, "github", f"repository={REPOSITORY}", "ref=refs/tags/v1.0.0")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_"))}
    env = {**base, "HOME": str(home), "npm_config_userconfig": str(home / ".npmrc"), **job}

    plain_cli = cli_publishes(root / "cli", url, env, args.cli, provenance=False)
    prov_cli = cli_publishes(root / "cli", url, env, args.cli, provenance=True)

    config = SigningConfig.fetch(url)
    plain_in: list[float] = []
    prov_in: list[float] = []
    with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=60) as client:
        for provenance, times in ((False, plain_in), (True, prov_in)):
            name = "inproc-prov" if provenance else "inproc-plain"
            for i in range(args.inprocess):
                package = load_package(package_dir(root / "in", name, f"2.0.{i}"))
                started = time.perf_counter()
                bundle = None
                if provenance:
                    subject = Subject(package.purl, {"sha512": package.sha512.hex})
                    statement = build_provenance(job, subject)
                    bundle = sign_statement(statement, fetch_token(job), config)
                body = publish_body(package, f"{url}/", access="public", provenance=bundle)
                response = client.put(f"{url}/{name}", json=body)
                times.append(time.perf_counter() - started)
                if response.status_code not in (200, 201):
                    raise RuntimeError(response.text)

        # The registry's check, in-process, on every bundle it accepted.
        gate = ProvenanceGate(
            [
                Verifier(
                    TrustedRoot.from_json(client.get(f"{url}/-/trust/trusted_root.json").content)
                )
            ]
        )
        packument = client.get(f"{url}/inproc-prov").json()
        checks: list[float] = []
        for version, manifest in packument["versions"].items():
            attestations = client.get(manifest["dist"]["attestations"]["url"]).json()
            provenance = attestations["attestations"][1]["bundle"]
            digest = Digest.from_sri(manifest["dist"]["integrity"])
            text = json.dumps(provenance)
            started = time.perf_counter()
            gate.check(text, "inproc-prov", version, digest, manifest)
            checks.append(time.perf_counter() - started)

    def row(label: str, values: list[float]) -> str:
        return (
            f"{label:<46} {statistics.median(values) * 1000:>9.1f} "
            f"{percentile(values, 0.99) * 1000:>9.1f}"
        )

    print(f"publish with and without provenance against assay up ({url})")
    print(f"{'':<46} {'p50 ms':>9} {'p99 ms':>9}")
    print(row(f"assay publish (CLI), plain, n={args.cli}", plain_cli))
    print(row(f"assay publish --provenance (CLI), n={args.cli}", prov_cli))
    print(row(f"in-process publish, plain, n={args.inprocess}", plain_in))
    print(row(f"in-process publish with provenance, n={args.inprocess}", prov_in))
    print(row(f"registry provenance check per publish, n={len(checks)}", checks))
    ratio_cli = statistics.median(prov_cli) / statistics.median(plain_cli)
    ratio_in = statistics.median(prov_in) / statistics.median(plain_in)
    print(f"ratio provenance/plain (p50): CLI {ratio_cli:.2f}x, in-process {ratio_in:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
