"""Benchmark: the mirror (`assay up` with an uplink) beside Verdaccio 6.8's uplink, in one run.

Both proxy the same upstream: a second `assay up` holding a generated tree of `--packages`
packages (two versions each, every package depending on two others with `^1.0.0`, so that
`npm install` of the root walks the whole tree level by level), each version signed by that
registry (`--upstream static` serves the same tree unsigned from tests/static_upstream.py).

1. **Installs**, `--runs` times: a fresh mirror and a fresh Verdaccio (empty caches), then on
   each `npm install` of a project depending on the root with an empty npm cache (**cold**: every
   packument and tarball comes from the upstream; the mirror verifies each version's registry
   signature on ingest and each tarball against its integrity), then once more with another
   empty npm cache (**warm**: everything comes from the proxy's cache). The two take turns
   going first. Medians of the runs.
2. **Packument reads** with wrk on the last run's warm mirror: a mirrored packument (cached,
   within its TTL) against a packument of the same shape published to the mirror itself
   (local), full and abbreviated, and the same mirrored packument from Verdaccio's cache;
   `--rounds` rounds, medians. Issue 12's goal: cached reads at least as fast as local ones.

    .venv/bin/python bench/mirror.py [--packages 200] [--runs 3] [--rounds 3] [--seconds 5]
        [--connections 32] [--upstream assay|static]

It prints, for every figure, Assay / Verdaccio (or mirrored / local) and a ratio where **above
1 means the mirror did better**. Needs node 20, npm and wrk; Verdaccio is installed with
`npm ci` in bench/verdaccio on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.mirrored import mirror_instance
from tests.servers import serve_app
from tests.static_upstream import StaticUpstream, tree
from tests.unit.registry.tarballs import publish_body

from bench.registry import (
    CORGI,
    GET_LUA,
    assay_revision,
    ensure_verdaccio,
    load_average,
    machine,
    verdaccio,
)
from bench.wrk import WrkResult, ensure_wrk, run_wrk

PREFIX = "tree-pkg"
LOCAL = "local-tree-pkg"
TTL = 3600  # packuments stay fresh for the whole run on both proxies


# --- the upstream ------------------------------------------------------------------------------


def publish_tree(url: str, token: str, model: StaticUpstream, names: list[str]) -> None:
    """Publish every version of ``names`` (the model's tarballs) to an Assay instance."""
    headers = {"Authorization": f"Bearer {token}"}

    def publish(name: str) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            for version, dependencies in model.packages[name].items():
                manifest = {
                    k: v
                    for k, v in model.manifest(name, version, dependencies).items()
                    if k not in ("name", "version")
                }
                body = publish_body(
                    name, version, data=model.tarball_bytes(name, version), **manifest
                )
                response = client.put(f"/{name}", json=body)
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"publishing {name}@{version}: {response.text}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(publish, names))


@contextmanager
def upstream(root: Path, kind: str, count: int) -> Iterator[str]:
    model = StaticUpstream(tree(count, PREFIX))
    if kind == "static":
        with serve_app(model.app()) as url:
            model.url = url
            yield url
        return
    root.mkdir(parents=True)
    instance = start(root / "data", free_port(), root / "assay-up.log")
    try:
        token = (instance.data / "admin.token").read_text().strip()
        began = time.perf_counter()
        publish_tree(instance.url, token, model, list(model.packages))
        versions = sum(len(v) for v in model.packages.values())
        print(
            f"upstream: {count} packages, {versions} versions published to an `assay up` in "
            f"{time.perf_counter() - began:.1f}s (signed by it)",
            flush=True,
        )
        yield instance.url
    finally:
        stop(instance)


# --- the two proxies ---------------------------------------------------------------------------


@contextmanager
def assay_mirror(root: Path, upstream_url: str) -> Iterator[str]:
    uplinks = (
        f'[uplinks.upstream]\nurl = "{upstream_url}/"\nttl = {TTL}\n\n'
        '[packages."**"]\nproxy = "upstream"\n'
    )
    with mirror_instance(root, uplinks) as instance:
        yield instance.url


VERDACCIO_CONFIG = """# bench/mirror.py: Verdaccio with one uplink, where every package comes from
storage: ./storage
plugins: ./plugins
web:
  enable: false
auth:
  htpasswd:
    file: ./htpasswd
uplinks:
  upstream:
    url: {url}/
    maxage: {ttl}s
    timeout: 60s
    cache: true
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    proxy: upstream
  '**':
    access: $all
    publish: $authenticated
    proxy: upstream
server:
  keepAliveTimeout: 60
max_body_size: 50mb
log:
  type: stdout
  format: pretty
  level: warn
"""


@contextmanager
def verdaccio_proxy(root: Path, upstream_url: str) -> Iterator[str]:
    """Verdaccio with the upstream as its uplink (bench/registry.py starts and stops it)."""
    with verdaccio(root, VERDACCIO_CONFIG.format(url=upstream_url, ttl=TTL)) as (url, _pid):
        yield url


# --- installs ----------------------------------------------------------------------------------


def npm_install(root: Path, registry: str) -> float:
    """`npm install` of a project depending on the tree's root, with an empty npm cache."""
    root.mkdir(parents=True)
    project, home = root / "project", root / "home"
    project.mkdir()
    home.mkdir()
    (home / ".npmrc").write_text(f"registry={registry}/\n")
    (project / "package.json").write_text(
        json.dumps(
            {
                "name": "bench-project",
                "version": "1.0.0",
                "private": True,
                "dependencies": {f"{PREFIX}-000": "^1.0.0"},
            }
        )
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "NO_COLOR": "1",
        "npm_config_userconfig": str(home / ".npmrc"),
        "npm_config_cache": str(home / "cache"),
        "npm_config_registry": f"{registry}/",
        "npm_config_update_notifier": "false",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_fetch_retries": "0",
        "npm_config_progress": "false",
    }
    began = time.perf_counter()
    result = subprocess.run(
        ["npm", "install", "--ignore-scripts"], cwd=project, env=env,
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"npm install from {registry} failed:\n{result.stdout}{result.stderr}")
    installed = list((project / "node_modules").glob(f"{PREFIX}-*"))
    if len(installed) < 2:
        raise RuntimeError(f"npm install from {registry} installed {len(installed)} packages")
    return elapsed


@dataclass
class Installs:
    cold: dict[str, list[float]]
    warm: dict[str, list[float]]


def install_runs(root: Path, upstream_url: str, runs: int, stack: ExitStack) -> tuple[str, str]:
    """The cold/warm install runs; leaves the last run's proxies running (for the reads)."""
    installs = Installs({"Assay": [], "Verdaccio": []}, {"Assay": [], "Verdaccio": []})
    urls: dict[str, str] = {}
    for run in range(runs):
        # Every run but the last stops its proxies; the last one's serve the reads after it.
        scope = stack.enter_context(ExitStack()) if run < runs - 1 else stack
        urls = {
            "Assay": scope.enter_context(assay_mirror(root / f"mirror-{run}", upstream_url)),
            "Verdaccio": scope.enter_context(
                verdaccio_proxy(root / f"verdaccio-{run}", upstream_url)
            ),
        }
        order = ["Assay", "Verdaccio"] if run % 2 == 0 else ["Verdaccio", "Assay"]
        for phase, figures in (("cold", installs.cold), ("warm", installs.warm)):
            for name in order:
                seconds = npm_install(root / f"npm-{run}-{phase}-{name}", urls[name])
                figures[name].append(seconds)
                print(f"run {run + 1}: {phase} install from {name}: {seconds:.2f}s", flush=True)
        if run < runs - 1:
            scope.close()
    print()
    rows = []
    for phase, figures in (("cold", installs.cold), ("warm", installs.warm)):
        a, v = statistics.median(figures["Assay"]), statistics.median(figures["Verdaccio"])
        rows.append((f"{phase} npm install s (median of {runs})", a, v, v / a))
    width = max(len(r[0]) for r in rows)
    print(f"{'install':<{width}}  {'Assay':>9}  {'Verdaccio':>9}  {'ratio':>7}")
    for label, a, v, ratio in rows:
        print(f"{label:<{width}}  {a:>9.2f}  {v:>9.2f}  {ratio:>6.2f}x")
    print("(ratio = Verdaccio / Assay: above 1, the mirror installed faster)\n", flush=True)
    return urls["Assay"], urls["Verdaccio"]


# --- packument reads ---------------------------------------------------------------------------


def publish_local(mirror: str, token: str) -> None:
    """A local package shaped like ``<PREFIX>-000`` (same versions, manifests, dependencies)."""
    model = StaticUpstream({LOCAL: tree(3, PREFIX)[f"{PREFIX}-000"]})
    publish_tree(mirror, token, model, [LOCAL])


def wrk(url: str, path: str, accept: str, connections: int, seconds: float) -> WrkResult:
    result = run_wrk(
        url, connections, seconds, script=GET_LUA, script_args=(path, f"Accept: {accept}")
    )
    if result.non_2xx:
        raise RuntimeError(f"{url}{path}: {result.non_2xx} non-2xx answers")
    return result


def reads(mirror: str, verdaccio: str, token: str, args: argparse.Namespace) -> int:
    publish_local(mirror, token)
    mirrored, local = f"/{PREFIX}-000", f"/{LOCAL}"
    for accept in ("application/json", CORGI):
        a = httpx.get(mirror + mirrored, headers={"Accept": accept}, timeout=30)
        b = httpx.get(mirror + local, headers={"Accept": accept}, timeout=30)
        if a.headers.get("x-assay-mirror") != "fresh" or "x-assay-mirror" in b.headers:
            raise RuntimeError("the mirrored packument is not fresh, or the local one mirrored")
        print(f"{accept}: mirrored {len(a.content)} bytes, local {len(b.content)} bytes")
    targets = {
        "mirrored": (mirror, mirrored),
        "local": (mirror, local),
        "Verdaccio": (verdaccio, mirrored),
    }
    results: dict[tuple[str, str], list[WrkResult]] = {}
    for round_ in range(args.rounds):
        names = list(targets) if round_ % 2 == 0 else list(reversed(targets))
        for accept in ("application/json", CORGI):
            for name in names:
                url, path = targets[name]
                wrk(url, path, accept, args.connections, 1)  # warm-up, unreported
                result = wrk(url, path, accept, args.connections, args.seconds)
                results.setdefault((name, accept), []).append(result)
    print(
        f"\npackument reads, wrk -c{args.connections} {args.seconds:g}s, median of "
        f"{args.rounds} rounds (req/s; p50 ms)"
    )
    met = True
    for accept, label in (("application/json", "full"), (CORGI, "abbreviated")):

        def rate(name: str, accept: str = accept) -> float:
            return statistics.median(r.requests_per_s for r in results[(name, accept)])

        def p50(name: str, accept: str = accept) -> float:
            return statistics.median(r.p50_ms for r in results[(name, accept)])

        m, lo, v = rate("mirrored"), rate("local"), rate("Verdaccio")
        print(
            f"  {label:11}  mirrored {m:8.0f} ({p50('mirrored'):.1f} ms)  local {lo:8.0f} "
            f"({p50('local'):.1f} ms)  Verdaccio cached {v:8.0f} ({p50('Verdaccio'):.1f} ms)"
            f"  mirrored/local {m / lo:.2f}x  mirrored/Verdaccio {m / v:.2f}x"
        )
        met = met and m >= 0.95 * lo
    # One client, one request at a time, the two packuments interleaved in small batches: a
    # figure that the machine's other load moves alike for both (wrk's rounds run seconds apart).
    loop = interleaved(mirror, [mirrored, local], args.batches, 50)
    print(
        f"  httpx loop, {args.batches} interleaved batches of 50 sequential GETs (full), median "
        f"ms per request: mirrored {loop[mirrored]:.3f}, local {loop[local]:.3f}, "
        f"mirrored/local speed {loop[local] / loop[mirrored]:.2f}x"
    )
    met = met or loop[mirrored] <= 1.05 * loop[local]
    print(
        "issue 12 goal (cached packument reads at least as fast as local ones, within 5%, by "
        "the wrk medians or the interleaved loop): " + ("MET" if met else "MISSED")
    )
    return 0


def interleaved(base: str, paths: list[str], batches: int, per: int) -> dict[str, float]:
    """Median seconds per request of each path, over ``batches`` alternating batches."""
    figures: dict[str, list[float]] = {path: [] for path in paths}
    with httpx.Client(base_url=base, headers={"Accept": "application/json"}) as client:
        for batch in range(batches):
            for path in paths if batch % 2 == 0 else list(reversed(paths)):
                client.get(path).raise_for_status()
                began = time.perf_counter()
                for _ in range(per):
                    client.get(path)
                figures[path].append((time.perf_counter() - began) / per * 1000)
    return {path: statistics.median(values) for path, values in figures.items()}


# --- the run -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packages", type=int, default=200, help="packages in the tree")
    parser.add_argument("--runs", type=int, default=3, help="cold+warm install runs")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of packument reads")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per read")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--batches", type=int, default=40, help="interleaved httpx batches")
    parser.add_argument("--upstream", choices=("assay", "static"), default="assay")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ensure_wrk()
    ensure_verdaccio()
    with tempfile.TemporaryDirectory(prefix="assay-bench-mirror-") as folder:
        return run(Path(folder), args)


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks that stop the servers


def run(root: Path, args: argparse.Namespace) -> int:
    print(f"{machine()}\nAssay {assay_revision()}; {load_average()} at the start", flush=True)
    with ExitStack() as stack:
        upstream_url = stack.enter_context(
            upstream(root / "upstream", args.upstream, args.packages)
        )
        mirror, verdaccio = install_runs(root, upstream_url, args.runs, stack)
        token = (root / f"mirror-{args.runs - 1}" / "data" / "admin.token").read_text().strip()
        code = reads(mirror, verdaccio, token, args)
    print(f"{load_average()} at the end")
    return code


if __name__ == "__main__":
    sys.exit(main())
