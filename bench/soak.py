"""Soak: mixed load against `assay up` for a configured time; does memory level off? (issue 15 §5)

Starts `assay up` on a fresh data directory (the log's append limit off, as the tests run it),
publishes ``--packages`` packages, then runs ``--clients`` threads for ``--minutes``, each
picking one of these at random, by weight:

| kind | weight | requests |
| --- | --- | --- |
| install | 50 | the abbreviated packument, then its latest tarball (what npm install does) |
| audit | 15 | the registry's keys, a full packument, a version's attestations (npm audit) |
| web | 15 | a package page, the log page, a search page |
| log append | 10 | a new signed hashedrekord entry, `POST /-/tlog/api/v1/log/entries` |
| publish | 10 | a new version of one of the packages (`PUT /<name>` with the tarball) |

Every minute it prints the operations and requests per second of that minute, errors (a
response other than the expected status, or a transport error), the server process's
resident memory (VmRSS) and the size of all the packuments (full and abbreviated), which grows
with every publish. The packument cache is set small (``--cache-mib``, default 8) so that the
packuments outgrow it during the run: memory must stay flat while the data keeps growing.
At the end it says whether RSS levelled off: the growth over the
second half of the run, which must stay under ``--rss-growth`` percent (default 10).

    .venv/bin/python bench/soak.py [--minutes 30] [--clients 8] [--packages 40] [--cache-mib 8]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.rekord import RekordSigner
from tests.unit.registry.tarballs import publish_body

WEIGHTS = {"install": 50, "audit": 15, "web": 15, "log append": 10, "publish": 10}
CORGI = "application/vnd.npm.install-v1+json"


class Load:
    """The shared state of the clients: published versions, counters."""

    def __init__(self, url: str, token: str, packages: int) -> None:
        self.url = url
        self.auth = {"Authorization": f"Bearer {token}"}
        self.names = [f"soak-{i}" for i in range(packages)]
        self.latest = dict.fromkeys(self.names, 0)
        self.lock = threading.Lock()
        self.operations: Counter[str] = Counter()
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.stop = threading.Event()

    def expect(self, kind: str, response: httpx.Response, *statuses: int) -> None:
        with self.lock:
            self.requests += 1
            if response.status_code not in statuses:
                self.errors[kind] += 1
                if len(self.samples) < 20:
                    self.samples.append(
                        f"{kind}: {response.request.method} {response.request.url.path} → "
                        f"{response.status_code} {response.text[:160]}"
                    )

    def documents_mib(self) -> float:
        """The bytes of every package's two packuments (full and abbreviated): what the
        packument cache would hold if it held everything."""
        total = 0
        with httpx.Client(timeout=60) as client:
            for name in self.names:
                total += len(client.get(f"{self.url}/{name}").content)
                total += len(client.get(f"{self.url}/{name}", headers={"Accept": CORGI}).content)
        return total / (1024 * 1024)

    def publish(self, client: httpx.Client, name: str) -> None:
        with self.lock:
            self.latest[name] += 1
            minor = self.latest[name]
        body = publish_body(name, f"1.{minor}.0", description=f"soak package {name}")
        self.expect("publish", client.put(f"{self.url}/{name}", json=body, headers=self.auth), 201)

    def install(self, client: httpx.Client, name: str) -> None:
        response = client.get(f"{self.url}/{name}", headers={"Accept": CORGI})
        self.expect("install", response, 200)
        if response.status_code == 200:
            latest = response.json()["dist-tags"]["latest"]
            tarball = response.json()["versions"][latest]["dist"]["tarball"]
            self.expect("install", client.get(tarball), 200)

    def audit(self, client: httpx.Client, name: str) -> None:
        self.expect("audit", client.get(f"{self.url}/-/npm/v1/keys"), 200)
        response = client.get(f"{self.url}/{name}")
        self.expect("audit", response, 200)
        if response.status_code == 200:
            latest = response.json()["dist-tags"]["latest"]
            url = f"{self.url}/-/npm/v1/attestations/{name}@{latest}"
            self.expect("audit", client.get(url), 200, 404)  # no provenance: 404, as npmjs

    def web(self, client: httpx.Client, name: str) -> None:
        for path in (f"/-/web/package/{name}", "/-/web/log", f"/-/web/search?q={name}"):
            self.expect("web", client.get(f"{self.url}{path}"), 200)

    def append(self, client: httpx.Client, signer: RekordSigner) -> None:
        entry = signer.hashedrekord(os.urandom(32))
        response = client.post(f"{self.url}/-/tlog/api/v1/log/entries", json=entry)
        self.expect("log append", response, 201)

    def client(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a load mix, not secrets
        signer = RekordSigner()
        kinds, weights = zip(*WEIGHTS.items(), strict=True)
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                name = rng.choice(self.names)
                try:
                    if kind == "install":
                        self.install(client, name)
                    elif kind == "audit":
                        self.audit(client, name)
                    elif kind == "web":
                        self.web(client, name)
                    elif kind == "log append":
                        self.append(client, signer)
                    else:
                        self.publish(client, name)
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.errors[kind] += 1
                        if len(self.samples) < 20:
                            self.samples.append(f"{kind}: {type(exc).__name__} {exc}")
                    continue
                with self.lock:
                    self.operations[kind] += 1


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--rss-growth", type=float, default=10.0, help="percent, second half")
    parser.add_argument(
        "--cache-mib",
        type=float,
        default=8.0,
        help="the packument cache (registry_packument_cache_bytes): small, so that the run "
        "outgrows it and RSS must level off while the packuments keep growing",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assay-soak-") as tmp:
        root = Path(tmp)
        cache = str(int(args.cache_mib * 1024 * 1024))
        instance = start(
            root / "data",
            free_port(),
            root / "assay-up.log",
            env={"ASSAY_REGISTRY_PACKUMENT_CACHE_BYTES": cache},
        )
        try:
            token = (root / "data" / "admin.token").read_text().strip()
            return soak(instance.url, token, instance.process.pid, args)
        finally:
            stop(instance)


def soak(url: str, token: str, pid: int, args: argparse.Namespace) -> int:
    load = Load(url, token, args.packages)
    with httpx.Client(timeout=60) as client:
        for name in load.names:
            load.publish(client, name)
    print(
        f"soak of {url}: {args.minutes:g} min, {args.clients} clients, {args.packages} packages, "
        f"load {os.getloadavg()[0]:.1f}; RSS at start {rss_mib(pid):.0f} MiB",
        flush=True,
    )
    print(
        f"{'min':>4} {'ops/s':>7} {'req/s':>7} {'errors':>6} {'RSS MiB':>8} {'docs MiB':>8}  mix",
        flush=True,
    )
    threads = [
        threading.Thread(target=load.client, args=(seed,), daemon=True)
        for seed in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    rss: list[float] = []
    previous: tuple[Counter[str], int, int] = (Counter(), 0, 0)
    minutes = max(1, round(args.minutes))
    started = time.monotonic()
    for minute in range(1, minutes + 1):
        time.sleep(max(0.0, started + 60 * minute * args.minutes / minutes - time.monotonic()))
        with load.lock:
            now: tuple[Counter[str], int, int] = (
                load.operations.copy(),
                load.requests,
                sum(load.errors.values()),
            )
        seconds = 60 * args.minutes / minutes
        operations = now[0] - previous[0]
        rss.append(rss_mib(pid))
        mix = " ".join(f"{kind} {count}" for kind, count in sorted(operations.items()))
        print(
            f"{minute:>4} {sum(operations.values()) / seconds:7.1f} "
            f"{(now[1] - previous[1]) / seconds:7.1f} {now[2] - previous[2]:6d} "
            f"{rss[-1]:8.0f} {load.documents_mib():8.1f}  {mix}",
            flush=True,
        )
        previous = now
    load.stop.set()
    for thread in threads:
        thread.join(60)
    return verdict(load, rss, args.rss_growth)


def verdict(load: Load, rss: list[float], limit: float) -> int:
    total = sum(load.operations.values())
    print(f"\n{total} operations, {load.requests} requests, {sum(load.errors.values())} errors")
    print("operations: " + ", ".join(f"{k} {n}" for k, n in sorted(load.operations.items())))
    for sample in load.samples:
        print(f"  {sample}")
    middle = rss[len(rss) // 2] if len(rss) > 1 else rss[0]
    growth = 100 * (rss[-1] - middle) / middle if middle else 0.0
    steady = growth < limit
    print(
        f"RSS: first minute {rss[0]:.0f} MiB, half-way {middle:.0f} MiB, last {rss[-1]:.0f} MiB, "
        f"peak {max(rss):.0f} MiB; second half {growth:+.1f}% "
        f"({'levels off' if steady else 'STILL GROWING'}; limit {limit:g}%)"
    )
    result: dict[str, Any] = {"errors": sum(load.errors.values()), "steady": steady}
    return 0 if result["errors"] == 0 and steady else 1


if __name__ == "__main__":
    sys.exit(main())
