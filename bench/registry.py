"""Benchmark: the registry's read and publish paths, Assay beside Verdaccio 6.8 in one run.

Starts Verdaccio 6.8.0 (bench/verdaccio, installed with `npm ci` on first use) and `assay up`
(fresh data directory, one uvicorn worker) side by side on loopback, creates a publisher on each,
publishes the same package (`bench-pkg`, a dozen versions with a README) with the real npm client
to both, then measures on each, with the same load generator:

* reads with wrk (1 thread; it shares the machine's cores with the servers): the full packument,
  the abbreviated packument (`Accept: application/vnd.npm.install-v1+json`) and a tarball, at
  each `--connections` level: requests/s, p50, p99 and non-2xx responses;
* sequential publishes: `--publishes` new versions one after another with the real `npm publish`
  (npm's start-up is in every figure, the same for both), and the same number as raw HTTP PUTs
  of an npm-shaped publish body from httpx on one keep-alive connection (the server's time).

It prints one table, metric / Assay / Verdaccio / ratio, where a ratio above 1 always means
Assay did better (Assay/Verdaccio for throughput, Verdaccio/Assay for latency), and says
plainly whether the target of issue 4 (at least 3x Verdaccio's packument throughput) was met.

    .venv/bin/python bench/registry.py [--seconds 10] [--connections 32,1] [--publishes 30]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.unit.registry.tarballs import tarball

from bench.wrk import WrkResult, ensure_wrk, run_wrk

HERE = Path(__file__).resolve().parent
VERDACCIO = HERE / "verdaccio"
GET_LUA = HERE / "get_paths.lua"
CORGI = "application/vnd.npm.install-v1+json"
PACKAGE = "bench-pkg"
TARGET = 3.0  # issue 4: at least 3x Verdaccio's packument throughput
STARTUP_TIMEOUT = 60.0
README = "\n".join(
    [
        f"# {PACKAGE}",
        "",
        "A small package published by bench/registry.py so that both registries serve a",
        "packument of a realistic shape: a dozen versions, keywords and this README.",
        "",
        "## Usage",
        "",
        "```js",
        f"const pkg = require('{PACKAGE}');",
        "pkg.hello('world');",
        "```",
        "",
        *[f"- option `{k}`: what the {k} option does, and its default value." for k in "abcdefgh"],
        "",
    ]
)


@dataclass
class Registry:
    """One registry under test: where it answers and an npm set up to publish to it."""

    name: str
    url: str
    token: str
    npm_env: dict[str, str]


# --- servers ---------------------------------------------------------------------------------


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/-/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not answer {url}/-/ping:\n{log.read_text()}")
        time.sleep(0.1)


def ensure_verdaccio() -> Path:
    binary = VERDACCIO / "node_modules" / ".bin" / "verdaccio"
    if not binary.exists():
        print("installing Verdaccio (npm ci in bench/verdaccio) ...", flush=True)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=VERDACCIO,
            check=True,
            capture_output=True,
        )
    return binary


@contextmanager
def verdaccio(root: Path) -> Iterator[str]:
    binary = ensure_verdaccio()
    root.mkdir(parents=True)
    config = root / "config.yaml"
    shutil.copyfile(VERDACCIO / "config.yaml", config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "verdaccio.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [str(binary), "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            cwd=root,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(url, process, log, "Verdaccio")
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@contextmanager
def assay(root: Path) -> Iterator[tuple[str, str]]:
    root.mkdir(parents=True)
    data = root / "data"
    instance = start(data, free_port(), root / "assay-up.log")
    try:
        yield instance.url, (data / "admin.token").read_text().strip()
    finally:
        stop(instance)


def verdaccio_token(url: str) -> str:
    """A publisher on Verdaccio, created through the CouchDB user API (what `npm adduser` does)."""
    user = {"name": "bench", "password": "bench-password-1", "email": "bench@example.invalid"}
    response = httpx.put(f"{url}/-/user/org.couchdb.user:bench", json=user, timeout=30)
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def npm_env(home: Path, url: str, token: str) -> dict[str, str]:
    """An isolated npm for one registry: its own HOME, userconfig and cache."""
    home.mkdir(parents=True)
    userconfig = home / ".npmrc"
    host = url.split("://", 1)[1]
    userconfig.write_text(f"registry={url}/\n//{host}/:_authToken={token}\n")
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "NO_COLOR": "1",
        "npm_config_userconfig": str(userconfig),
        "npm_config_cache": str(home / "cache"),
        "npm_config_registry": f"{url}/",
        "npm_config_update_notifier": "false",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_fetch_retries": "0",
        "npm_config_progress": "false",
    }


# --- packages and publishing -----------------------------------------------------------------


def manifest(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "description": "A package of a realistic shape for the registry benchmark",
        "main": "index.js",
        "license": "MIT",
        "keywords": ["benchmark", "registry", "npm"],
        "author": "Assay bench <bench@example.invalid>",
        "repository": {"type": "git", "url": "git+https://example.invalid/bench/bench-pkg.git"},
        "dependencies": {"left-pad": "^1.3.0"},
    }


def package_dir(root: Path, name: str, version: str) -> Path:
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps(manifest(name, version), indent=2) + "\n")
    (folder / "README.md").write_text(README)
    (folder / "index.js").write_text("exports.hello = (who) => `hello ${who}`;\n")
    return folder


def npm_publish(registry: Registry, folder: Path) -> float:
    """`npm publish` in folder; the wall-clock seconds it took."""
    began = time.perf_counter()
    result = subprocess.run(
        ["npm", "publish"],
        cwd=folder,
        env=registry.npm_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(
            f"npm publish to {registry.name} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return elapsed


def publish_document(name: str, version: str) -> bytes:
    """A publish body shaped like the one libnpmpublish sends for `package_dir`'s package."""
    meta = manifest(name, version)
    data = tarball(name, version, package_json=meta, files={"README.md": README.encode()})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    body = {
        "_id": name,
        "name": name,
        "description": meta["description"],
        "dist-tags": {"latest": version},
        "versions": {
            version: {
                **meta,
                "readme": README,
                "_id": f"{name}@{version}",
                "_nodeVersion": "20.0.0",
                "_npmVersion": "11.19.1",
                "dist": {
                    "integrity": integrity,
                    "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
                    "tarball": f"http://registry.invalid/{name}/-/{name}-{version}.tgz",
                },
            }
        },
        "access": None,
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }
    return json.dumps(body).encode()


def raw_publishes(registry: Registry, name: str, count: int) -> list[float]:
    """`count` versions PUT one after another on one keep-alive connection; seconds each."""
    bodies = [publish_document(name, f"1.0.{i}") for i in range(count)]
    headers = {"Authorization": f"Bearer {registry.token}", "Content-Type": "application/json"}
    times = []
    with httpx.Client(base_url=registry.url, headers=headers, timeout=60) as client:
        client.get("/-/ping").raise_for_status()  # open the connection before the clock starts
        for body in bodies:
            began = time.perf_counter()
            response = client.put(f"/{name}", content=body)
            times.append(time.perf_counter() - began)
            if response.status_code not in (200, 201):
                raise RuntimeError(
                    f"PUT /{name} on {registry.name}: {response.status_code} {response.text}"
                )
    return times


def npm_publishes(registry: Registry, root: Path, name: str, count: int) -> list[float]:
    folders = [package_dir(root / registry.name, name, f"1.0.{i}") for i in range(count)]
    return [npm_publish(registry, folder) for folder in folders]


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    label: str
    path: str
    headers: tuple[str, ...] = ()


def check_read(registry: Registry, read: Read, versions: int) -> int:
    """One GET before the load, so that a wrong answer is not measured as a fast one."""
    headers = dict(header.split(": ", 1) for header in read.headers)
    response = httpx.get(registry.url + read.path, headers=headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"GET {read.path} on {registry.name}: {response.status_code}")
    if read.path == f"/{PACKAGE}":
        found = len(response.json()["versions"])
        if found != versions:
            raise RuntimeError(f"{registry.name} serves {found} versions, not {versions}")
        expected = CORGI if read.headers else "application/json"
        if not response.headers.get("content-type", "").startswith(expected):
            raise RuntimeError(
                f"{registry.name} answered {read.label} with {response.headers['content-type']}"
            )
    return len(response.content)


def load(registry: Registry, read: Read, connections: int, seconds: float) -> WrkResult:
    return run_wrk(
        registry.url,
        connections,
        seconds,
        script=GET_LUA,
        script_args=(read.path, *read.headers),
    )


# --- report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    metric: str
    assay: float | None
    verdaccio: float | None
    better: str  # "higher", "lower" or "" (no ratio)
    digits: int = 1


def ratio(row: Row) -> str:
    if not row.better or not row.assay or not row.verdaccio:
        return ""
    value = row.assay / row.verdaccio if row.better == "higher" else row.verdaccio / row.assay
    return f"{value:.2f}x"


def number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def print_table(rows: list[Row]) -> None:
    width = max(len(row.metric) for row in rows)
    print(f"{'metric':<{width}}  {'Assay':>12}  {'Verdaccio':>12}  {'ratio':>8}")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 12}  {'-' * 8}")
    for row in rows:
        print(
            f"{row.metric:<{width}}  {number(row.assay, row.digits):>12}"
            f"  {number(row.verdaccio, row.digits):>12}  {ratio(row):>8}"
        )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (with 30 samples, p99 is the slowest one)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def latency_rows(label: str, assay_s: list[float], verdaccio_s: list[float]) -> list[Row]:
    def ms(values: list[float], pick: Callable[[list[float]], float]) -> float:
        return pick(values) * 1000

    picks: list[tuple[str, Callable[[list[float]], float]]] = [
        ("p50", lambda v: percentile(v, 0.5)),
        ("p99", lambda v: percentile(v, 0.99)),
        ("mean", statistics.fmean),
    ]
    return [
        Row(f"{label} {name} ms", ms(assay_s, pick), ms(verdaccio_s, pick), "lower")
        for name, pick in picks
    ]


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    npm = subprocess.run(["npm", "--version"], capture_output=True, text=True, check=False)
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()},"
        f" Node {node.stdout.strip()}, npm {npm.stdout.strip()}"
    )


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def assay_revision() -> str:
    """The commit measured, and whether the source tree differs from it."""
    repo = HERE.parent

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"at {commit}" + (" + uncommitted changes under src/" if dirty else "")


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unreported wrk run first")
    parser.add_argument(
        "--connections", default="32,1", help="wrk connection counts, comma-separated"
    )
    parser.add_argument("--versions", type=int, default=12, help="versions of the read package")
    parser.add_argument("--publishes", type=int, default=30, help="sequential publishes each")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="assay-bench-registry-") as folder:
        return run(Path(folder), args)


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks that stop the servers


def run(root: Path, args: argparse.Namespace) -> int:
    connections = [int(c) for c in args.connections.split(",")]
    with ExitStack() as stack:
        print(f"{datetime.date.today().isoformat()}, {machine()}", flush=True)
        print(f"Assay {assay_revision()}; {load_average()} at the start", flush=True)
        v_url = stack.enter_context(verdaccio(root / "verdaccio"))
        a_url, a_token = stack.enter_context(assay(root / "assay"))
        registries = [
            Registry("Assay", a_url, a_token, npm_env(root / "npm-assay", a_url, a_token)),
        ]
        v_token = verdaccio_token(v_url)
        registries.append(
            Registry("Verdaccio", v_url, v_token, npm_env(root / "npm-verdaccio", v_url, v_token))
        )
        print(f"Assay at {a_url}, Verdaccio at {v_url}", flush=True)

        versions = [f"1.0.{i}" for i in range(args.versions)]
        for registry in registries:
            for version in versions:
                npm_publish(registry, package_dir(root / "pkg" / registry.name, PACKAGE, version))
        print(f"published {PACKAGE}@{versions[0]}..{versions[-1]} with npm to both", flush=True)

        reads = [
            Read("full packument", f"/{PACKAGE}"),
            Read("abbreviated packument", f"/{PACKAGE}", (f"Accept: {CORGI}",)),
            Read("tarball", f"/{PACKAGE}/-/{PACKAGE}-{versions[-1]}.tgz"),
        ]
        rows: list[Row] = []
        for read in reads:
            sizes = [check_read(registry, read, len(versions)) for registry in registries]
            rows.append(Row(f"{read.label}: body bytes", sizes[0], sizes[1], "", 0))
        results: dict[tuple[str, int, str], WrkResult] = {}
        # The machine may be busy with other work: alternate which registry goes first, so
        # that a burst of load elsewhere does not always land on the same one.
        turn = 0
        for read in reads:
            for count in connections:
                turn += 1
                for registry in registries if turn % 2 else registries[::-1]:
                    if args.warmup > 0:
                        load(registry, read, count, args.warmup)
                    result = load(registry, read, count, args.seconds)
                    results[(read.label, count, registry.name)] = result
                    print(
                        f"  {registry.name:<9} {read.label}, -c{count}:"
                        f" {result.requests_per_s:,.0f} req/s, p50 {result.p50_ms:.2f} ms,"
                        f" p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}",
                        flush=True,
                    )
                a, v = (
                    results[(read.label, count, "Assay")],
                    results[(read.label, count, "Verdaccio")],
                )
                rows += [
                    Row(
                        f"{read.label} -c{count} req/s",
                        a.requests_per_s,
                        v.requests_per_s,
                        "higher",
                        0,
                    ),
                    Row(f"{read.label} -c{count} p50 ms", a.p50_ms, v.p50_ms, "lower", 2),
                    Row(f"{read.label} -c{count} p99 ms", a.p99_ms, v.p99_ms, "lower", 2),
                    Row(f"{read.label} -c{count} non-2xx", a.non_2xx, v.non_2xx, "", 0),
                ]

        npm_times = {
            r.name: npm_publishes(r, root / "npm-seq", "bench-npm", args.publishes)
            for r in registries
        }
        print(f"published {args.publishes} versions of bench-npm with npm to each", flush=True)
        raw_times = {r.name: raw_publishes(r, "bench-raw", args.publishes) for r in registries}
        print(f"published {args.publishes} versions of bench-raw over HTTP to each", flush=True)
        rows += latency_rows(
            f"npm publish x{args.publishes}", npm_times["Assay"], npm_times["Verdaccio"]
        )
        rows += latency_rows(
            f"HTTP PUT publish x{args.publishes}", raw_times["Assay"], raw_times["Verdaccio"]
        )

        print()
        print(
            f"wrk: 1 thread, {args.seconds:g} s per run after a {args.warmup:g} s warm-up;"
            " ratio > 1 means Assay is better"
        )
        print_table(rows)
        print(f"{load_average()} at the end (other work on the machine skews the figures)")
        print()
        verdict(results, connections)
    return 0


def verdict(results: dict[tuple[str, int, str], WrkResult], connections: list[int]) -> None:
    busiest = max(connections)
    for label in ("full packument", "abbreviated packument"):
        a = results[(label, busiest, "Assay")].requests_per_s
        v = results[(label, busiest, "Verdaccio")].requests_per_s
        times = a / v if v else float("inf")
        status = "MET" if times >= TARGET else "MISSED"
        print(
            f"target {status}: {label} at -c{busiest}: Assay {a:,.0f} req/s is {times:.2f}x"
            f" Verdaccio's {v:,.0f} req/s (target >= {TARGET:g}x)"
        )
    for label, count in sorted({(label, count) for label, count, _ in results}):
        a = results[(label, count, "Assay")].requests_per_s
        v = results[(label, count, "Verdaccio")].requests_per_s
        if a < v:
            print(
                f"BEHIND: {label} at -c{count}: Assay {a:,.0f} req/s is {a / v:.2f}x"
                f" Verdaccio's {v:,.0f} req/s"
            )
    for (label, count, name), result in results.items():
        if result.non_2xx:
            print(f"WARNING: {name} answered {result.non_2xx} non-2xx to {label} at -c{count}")


if __name__ == "__main__":
    sys.exit(main())
