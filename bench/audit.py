"""Benchmark: `assay audit signatures` against `npm audit signatures`, same tree, same registry,
same run; and bundles verified per second by assay.verify, sigstore-python and sigstore-js.

For each N (default 200 and 1,000): publish N packages to one `assay up` (a third with
provenance, signed in process from an emulated GitHub Actions job; raw PUTs, concurrently),
install them all with npm into one project, make npm trust the instance (`assay trust
npm-cache` + the trust proxy, as tests/e2e/test_npm_audit_signatures.py does), then time both
audits (wall clock of the whole command, best and median of R runs after one warm-up each),
check that they agree on every count and verdict, and print the ratio. Target (issue 6):
assay ≥ 3x faster than npm at N = 1,000.

    .venv/bin/python bench/audit.py [--sizes 200,1000] [--rounds 3]

Latest run (2 vCPUs shared by the registry, npm and the auditor; npm 11.19.1; loopback):

| N | provenance | assay audit best / median s | npm audit best / median s | npm/assay | agree |
| --- | --- | --- | --- | --- | --- |
| 200 | 67 | 0.54 / 0.55 | 2.14 / 2.19 | 3.97x | yes |
| 1,000 | 334 | 1.73 / 1.77 | 9.00 / 9.11 | 5.19x | yes |

Provenance bundles verified per second, 334 bundles of the instance, one core: assay.verify 930,
sigstore-python 4.x 1,075, sigstore-js (one node process, start-up subtracted) 101.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sigstore.models import Bundle as PyBundle
from sigstore.models import TrustedRoot as PyTrustedRoot
from sigstore.verify import Verifier as PyVerifier
from sigstore.verify.policy import UnsafeNoOp
from tests.assay_up import Instance, free_port, start, stop
from tests.e2e.test_npm_audit_signatures import npm_proxy
from tests.e2e.test_npm_registry import Npm
from tests.interop.test_sigstore_clients import JS, ci_job, fetch_token
from tests.interop.test_verify_differential import JS_BATCH

from assay.provenance.bundle import Bundle
from assay.provenance.ci import build_provenance
from assay.provenance.statement import Subject
from assay.publish.body import load_package, publish_body
from assay.sign.config import SigningConfig
from assay.sign.signer import sign_statement
from assay.verify import TrustedRoot, Verifier

REPOSITORY = "acme/bench"
WORKERS = 16


def publish_all(instance: Instance, root: Path, prefix: str, count: int) -> tuple[float, int]:
    """Publish ``count`` packages (every third with provenance); (seconds, provenance count)."""
    job = ci_job(instance, "github", f"repository={REPOSITORY}", "ref=refs/tags/v1.0.0")
    config = SigningConfig.fetch(instance.url)
    token = (instance.data / "admin.token").read_text().strip()
    registry = f"{instance.url}/"
    client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=WORKERS))

    def one(index: int) -> None:
        name = f"{prefix}-{index:04d}"
        folder = root / name
        folder.mkdir(parents=True)
        manifest = {"name": name, "version": "1.0.0", "license": "MIT",
                    "repository": f"git+https://github.com/{REPOSITORY}.git"}  # fmt: skip
        (folder / "package.json").write_text(json.dumps(manifest))
        (folder / "index.js").write_text(f"module.exports = {index};\n")
        package = load_package(folder)
        body = publish_body(package, registry, access="public")
        if index % 3 == 0:
            subject = Subject(package.purl, {"sha512": package.sha512.hex})
            bundle = sign_statement(build_provenance(job, subject), fetch_token(job), config)
            text = json.dumps(bundle.to_dict())
            body["_attachments"][f"{name}-1.0.0.sigstore"] = {
                "content_type": bundle.to_dict()["mediaType"], "data": text, "length": len(text),
            }  # fmt: skip
        response = client.put(
            f"{registry}{name}", json=body, headers={"authorization": f"Bearer {token}"}
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")

    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, range(count)))
    client.close()
    return time.perf_counter() - started, len(range(0, count, 3))


def timed(run: Callable[[], subprocess.CompletedProcess[str]]) -> tuple[float, str, int]:
    started = time.perf_counter()
    done = run()
    return time.perf_counter() - started, done.stdout, done.returncode


def counts(text: str) -> dict[str, int]:
    """The numbers of npm's human report: audited, verified signatures and attestations."""
    found: dict[str, int] = {}
    for key, pattern in (
        ("audited", r"audited (\d+) package"),
        ("signatures", r"(\d+) packages? ha(?:s|ve) a?\s*verified registry signature"),
        ("attestations", r"(\d+) packages? ha(?:s|ve) a?\s*verified attestation"),
    ):
        match = re.search(pattern, text)
        found[key] = int(match[1]) if match else 0
    return found


def audit_size(
    instance: Instance, tmp: Path, count: int, rounds: int, proxy_port: int
) -> dict[str, Any]:
    prefix = f"bench{count}"
    publish_seconds, provenance = publish_all(instance, tmp / f"packages-{count}", prefix, count)
    registry = f"{instance.url}/"
    consumer = Npm(registry, tmp / f"consumer-{count}")
    project = tmp / f"project-{count}"
    project.mkdir()
    dependencies = {f"{prefix}-{i:04d}": "1.0.0" for i in range(count)}
    (project / "package.json").write_text(
        json.dumps({"name": "project", "version": "1.0.0", "dependencies": dependencies})
    )
    started = time.perf_counter()
    consumer.run("install", "--no-audit", "--ignore-scripts", cwd=project)
    install_seconds = time.perf_counter() - started
    cache = Path(consumer.env["npm_config_cache"])
    seeded = subprocess.run(
        [sys.executable, "-m", "assay", "trust", "npm-cache", "--cache", str(cache),
         "--data", str(instance.data), "--proxy-port", str(proxy_port)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    del seeded
    assay_env = {**os.environ, "HOME": str(tmp / "assay-home"), "npm_config_registry": registry}
    assay_env = {k: v for k, v in assay_env.items() if k != "npm_config_userconfig"}

    def assay_run(*extra: str) -> Callable[[], subprocess.CompletedProcess[str]]:
        return lambda: subprocess.run(
            [sys.executable, "-m", "assay", "audit", "signatures", *extra, str(project)],
            capture_output=True, text=True, env=assay_env, timeout=600, check=False,
        )  # fmt: skip

    result: dict[str, Any] = {
        "N": count, "provenance": provenance, "publish_s": publish_seconds,
        "install_s": install_seconds,
    }  # fmt: skip
    with npm_proxy(instance.data, proxy_port, tmp / f"npm-proxy-{count}.log") as proxy_env:

        def npm_run(*extra: str) -> Callable[[], subprocess.CompletedProcess[str]]:
            return lambda: subprocess.run(
                ["npm", "audit", "signatures", "--fetch-retries=0", *extra],
                cwd=project, env={**consumer.env, **proxy_env}, capture_output=True,
                text=True, timeout=1200, check=False,
            )  # fmt: skip

        # warm-up (and the verdicts), then alternate the timed runs
        _, assay_text, assay_code = timed(assay_run())
        _, npm_text, npm_code = timed(npm_run())
        _, assay_json, _ = timed(assay_run("--json"))
        _, npm_json, _ = timed(npm_run("--json"))
        assay_times: list[float] = []
        npm_times: list[float] = []
        for _ in range(rounds):
            assay_times.append(timed(assay_run())[0])
            npm_times.append(timed(npm_run())[0])
        sweep = {c: timed(assay_run("--concurrency", str(c)))[0] for c in (8, 16, 32, 64)}
    agree = (
        assay_code == npm_code
        and counts(assay_text) == counts(npm_text)
        and json.loads(assay_json) == json.loads(npm_json)
    )
    result.update(
        assay_best=min(assay_times), assay_median=statistics.median(assay_times),
        npm_best=min(npm_times), npm_median=statistics.median(npm_times),
        agree=agree, assay_counts=counts(assay_text), npm_counts=counts(npm_text),
        exit=(assay_code, npm_code), sweep=sweep,
    )  # fmt: skip
    if not agree:
        print("DISAGREE\n--- assay\n" + assay_text + assay_json + "\n--- npm\n" + npm_text
              + npm_json, file=sys.stderr)  # fmt: skip
    return result


def provenance_bundles(instance: Instance, prefix: str, count: int) -> list[dict[str, Any]]:
    bundles = []
    with httpx.Client() as client:
        for index in range(0, count, 3):
            url = f"{instance.url}/-/npm/v1/attestations/{prefix}-{index:04d}@1.0.0"
            for item in client.get(url).json()["attestations"]:
                if item["predicateType"].startswith("https://slsa.dev/provenance/"):
                    bundles.append(item["bundle"])
    return bundles


def rate(verify: Callable[[dict[str, Any]], object], items: Sequence[dict[str, Any]]) -> float:
    """Bundles per second: best of three passes after a warm-up pass."""
    for item in items:
        verify(item)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for item in items:
            verify(item)
        best = min(best, time.perf_counter() - started)
    return len(items) / best


def verification_rates(
    instance: Instance, tmp: Path, bundles: list[dict[str, Any]]
) -> dict[str, float]:
    root_path = tmp / "trusted_root.json"
    root_path.write_bytes(httpx.get(f"{instance.url}/-/trust/trusted_root.json").content)
    ours = Verifier(TrustedRoot.from_file(root_path))
    theirs = PyVerifier(trusted_root=PyTrustedRoot.from_file(str(root_path)))
    rates = {
        "assay.verify": rate(lambda raw: ours.verify(Bundle.from_dict(raw)), bundles),
        "sigstore-python": rate(
            lambda raw: theirs.verify_dsse(PyBundle.from_json(json.dumps(raw)), UnsafeNoOp()),
            bundles,
        ),
    }

    def js(items: list[dict[str, Any]]) -> float:
        cases = [{"trustedRoot": str(root_path), "bundle": b, "artifact": None, "san": None,
                  "issuer": None, "keys": {}} for b in items]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(["node", "--input-type=module", "-e", JS_BATCH],
                              input=json.dumps(cases), capture_output=True, text=True, cwd=JS,
                              timeout=600, check=True)  # fmt: skip
        elapsed = time.perf_counter() - started
        if not all(r["ok"] for r in json.loads(done.stdout)):
            raise RuntimeError("sigstore-js refused a bundle")
        return elapsed

    # one node process for all: subtract a one-bundle run (process start, module loading)
    rates["sigstore-js (batch)"] = (len(bundles) - 1) / (js(bundles) - js(bundles[:1]))
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200,1000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    logging.getLogger("sigstore").setLevel(logging.ERROR)  # "unsafe (no-op) policy" per bundle
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="assay-bench-audit-") as name:
        tmp = Path(name)
        data = tmp / "instance" / "data"
        data.parent.mkdir()
        instance = start(data, free_port(), tmp / "assay-up.log")
        try:
            results = [
                audit_size(instance, tmp, count, args.rounds, free_port()) for count in sizes
            ]
            bundles = provenance_bundles(instance, f"bench{sizes[-1]}", sizes[-1])
            rates = verification_rates(instance, tmp, bundles)
        finally:
            stop(instance)
    print(
        "\n| N | provenance | publish s | npm install s | assay audit best / median s "
        "| npm audit best / median s | npm/assay (best) | agree |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['N']:,} | {r['provenance']} | {r['publish_s']:.1f} | {r['install_s']:.1f} "
              f"| {r['assay_best']:.2f} / {r['assay_median']:.2f} "
              f"| {r['npm_best']:.2f} / {r['npm_median']:.2f} "
              f"| {r['npm_best'] / r['assay_best']:.2f}x | {r['agree']} |")  # fmt: skip
    print("\nassay --concurrency sweep (s, one run each):")
    for r in results:
        print(f"  N={r['N']}: " + ", ".join(f"c{c}={s:.2f}" for c, s in r["sweep"].items()))
    for r in results:
        print(f"  N={r['N']} counts assay={r['assay_counts']} npm={r['npm_counts']} "
              f"exit={r['exit']}")  # fmt: skip
    print(f"\nprovenance bundles verified per second ({len(bundles)} bundles of this instance):")
    for who, value in rates.items():
        print(f"  {who}: {value:,.0f}/s")
    return 0 if all(r["agree"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
