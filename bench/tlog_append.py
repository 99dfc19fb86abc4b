"""Benchmark: durable appends to the log over HTTP, on SQLite, PostgreSQL and a cluster.

For each backend it starts the log as it is deployed and appends distinct signed
`hashedrekord` entries through `POST /-/tlog/api/v1/log/entries` with wrk at each number of
concurrent connections (`--clients`, default 1, 16, 64) for a fixed time:

* ``sqlite``: `assay up` on a fresh data directory (SQLite, files);
* ``postgres``: `assay up` on a throwaway PostgreSQL database;
* ``cluster``: 3 `assay serve --config` nodes on PostgreSQL and SeaweedFS (S3) behind Caddy
  (round robin), as tests/e2e/test_cluster.py starts them (tests/cluster.py), appended to
  through Caddy: one node holds the sequencer's lease, the others queue their entries for it.

Every 201 is durable: the sequencer answers only after the batch's transaction committed (SQLite
synchronous=FULL, or a PostgreSQL commit with fsync on); a node without the lease answers once the
holder committed the entry under a signed checkpoint. Requests are signed before the clock starts,
so the figures measure the log. For each backend it prints entries/s (201s only), p50, p99, the
non-201 answers, whether the goal of issue 14 is MET or MISSED (>= 3,000 durable appends/s with p99
< 1 s at 64 clients), the server's resident memory (the sum over its processes: every worker, every
node) idle before the first run and at its peak under load, and the configuration (worker processes
per node).

    .venv/bin/python bench/tlog_append.py [--backends sqlite,postgres,cluster] [--workers N]
        [--seconds 8] [--clients 1,16,64]

There is no Rekor on this machine to run beside it (bench/README.md names the peers' figures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.cluster import running_cluster
from tests.rekord import RekordSigner
from tests.services import running_postgres, running_seaweedfs

from bench.rss import MIB, PeakRss, tree_rss_bytes
from bench.wrk import run_wrk

LUA = Path(__file__).with_name("post_bodies.lua")
GOAL_RATE = 3000.0  # issue 14: durable appends per second at GOAL_CLIENTS
GOAL_P99_MS = 1000.0
GOAL_CLIENTS = 64
BACKENDS = ("sqlite", "postgres", "cluster")
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "cluster": "cluster (3 nodes)"}


def requests(count: int, salt: str) -> list[dict[str, Any]]:
    signer = RekordSigner()
    return [signer.hashedrekord(f"{salt}-{i}".encode()) for i in range(count)]


# --- the servers ----------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    pids: list[int]


@contextlib.contextmanager
def running_server(backend: str, workers: int, folder: Path) -> Iterator[Server]:
    env = {"ASSAY_WORKERS": str(workers)}
    if backend == "sqlite":
        instance = start(folder / "data", free_port(), folder / "up.log", env)
        try:
            yield Server(instance.url, [instance.process.pid])
        finally:
            stop(instance)
    elif backend == "postgres":
        with running_postgres(durable=True) as postgres:
            env["ASSAY_DATABASE_URL"] = postgres.create_database("bench")
            instance = start(folder / "data", free_port(), folder / "up.log", env)
            try:
                yield Server(instance.url, [instance.process.pid])
            finally:
                stop(instance)
    else:
        with (
            running_postgres(durable=True) as postgres,
            running_seaweedfs() as s3,
            running_cluster(postgres, s3, folder, workers=workers) as cluster,
        ):
            pids = [node.process.pid for node in cluster.nodes if node.process is not None]
            yield Server(cluster.url, pids)


# --- the measurement ------------------------------------------------------------------------


@dataclass
class Row:
    clients: int
    entries_per_s: float
    p50_ms: float
    p99_ms: float
    non_201: int
    statuses: dict[int, int]


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"{count} x {status}" for status, count in sorted(counts.items()))


def measure(backend: str, args: argparse.Namespace, clients: list[int]) -> bool:
    """Run every level against ``backend``; print its table; whether the goal was met."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bodies: dict[int, Path] = {}
        for concurrency in clients:  # signed before any server runs
            bodies[concurrency] = folder / f"bodies-{concurrency}.jsonl"
            salt = f"{backend}-{concurrency}-{time.time()}"
            bodies[concurrency].write_text(
                "\n".join(json.dumps(b) for b in requests(args.entries, salt)) + "\n"
            )
        with running_server(backend, args.workers, folder) as server:
            time.sleep(1.0)  # let start-up settle before the idle reading
            idle = tree_rss_bytes(server.pids) / MIB
            rows: list[Row] = []
            with PeakRss(server.pids, interval=0.1) as peak:
                for concurrency in clients:
                    result = run_wrk(
                        f"{server.url}/-/tlog/api/v1/log/entries",
                        concurrency,
                        args.seconds,
                        script=LUA,
                        script_args=(str(bodies[concurrency]),),
                    )
                    # wrk counts 4xx and 5xx; the script counts every answer but 201.
                    non_201 = max(result.non_2xx, sum(result.statuses.values()))
                    ok = 1 - non_201 / result.requests if result.requests else 0.0
                    rows.append(
                        Row(
                            concurrency,
                            result.requests_per_s * ok,
                            result.p50_ms,
                            result.p99_ms,
                            non_201,
                            result.statuses,
                        )
                    )
    per_node = "per node" if backend == "cluster" else "per server"
    print(
        f"\n{NAMES[backend]}: {args.workers} worker process(es) {per_node}, "
        f"{args.seconds:g} s per level, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'clients':>8} {'entries/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-201':>8}")
    for row in rows:
        print(
            f"{row.clients:>8} {row.entries_per_s:>10.0f} {row.p50_ms:>8.1f}"
            f" {row.p99_ms:>8.1f} {row.non_201:>8}"
            + (f"  ({_statuses(row.statuses)})" if row.statuses else "")
        )
    goal = [row for row in rows if row.clients == GOAL_CLIENTS]
    met = bool(goal) and goal[0].entries_per_s >= GOAL_RATE and goal[0].p99_ms < GOAL_P99_MS
    verdict = ("MET" if met else "MISSED") if goal else f"not measured (no {GOAL_CLIENTS} clients)"
    print(
        f"goal (>= {GOAL_RATE:,.0f} durable appends/s, p99 < {GOAL_P99_MS:,.0f} ms at "
        f"{GOAL_CLIENTS} clients): {verdict}"
    )
    print(
        f"server RSS (sum of its processes): idle {idle:.0f} MiB, "
        f"under load {peak.peak / MIB:.0f} MiB"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=40000, help="distinct bodies per level")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--backends", default="sqlite,postgres", help=f"comma-separated, of {', '.join(BACKENDS)}"
    )
    parser.add_argument("--cluster", action="store_true", help="also run the cluster backend")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server/node")
    parser.add_argument(
        "--clients",
        default=os.environ.get("BENCH_CLIENTS", "1,16,64"),
        help="comma-separated connection counts",
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.cluster and "cluster" not in backends:
        backends.append("cluster")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    clients = [int(c) for c in args.clients.split(",")]
    print(f"tlog durable appends over HTTP (wrk), load average {os.getloadavg()[0]:.2f}")
    results = {backend: measure(backend, args, clients) for backend in backends}
    print(
        "\nsummary: "
        + ", ".join(f"{NAMES[b]} {'MET' if m else 'MISSED'}" for b, m in results.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
