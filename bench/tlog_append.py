"""Benchmark: durable appends to the transparency log over HTTP.

Starts `assay up` (one process, uvicorn) on a fresh data directory and appends distinct signed
`hashedrekord` entries through `POST /-/tlog/api/v1/log/entries` with wrk at 1, 16 and 64
concurrent connections for a fixed time, reporting entries per second and p50/p99 latency.
Every 201 is durable: the sequencer answers only after the batch's transaction committed
(SQLite synchronous=FULL, or PostgreSQL). Requests are signed before the clock starts, so
the figures measure the log.

    .venv/bin/python bench/tlog_append.py [--seconds 5] [--postgres | --database-url URL]

There is no Rekor on this machine to run beside it; the target (issue 3) is >= 1,000 durable
appends per second on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.rekord import RekordSigner
from tests.services import running_postgres

from bench.wrk import run_wrk

LUA = Path(__file__).with_name("post_bodies.lua")


def requests(count: int, salt: str) -> list[dict[str, Any]]:
    signer = RekordSigner()
    return [signer.hashedrekord(f"{salt}-{i}".encode()) for i in range(count)]


CONCURRENCY = tuple(int(c) for c in os.environ.get("BENCH_CLIENTS", "1,16,64").split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=20000, help="distinct bodies per run")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL and use it"
    )
    args = parser.parse_args()
    if args.postgres:
        with running_postgres() as server:
            args.database_url = server.create_database("bench")
            return measure(args)
    return measure(args)


def measure(args: argparse.Namespace) -> int:
    env = {"ASSAY_DATABASE_URL": args.database_url} if args.database_url else {}
    backend = "PostgreSQL" if args.database_url else "SQLite"
    with tempfile.TemporaryDirectory() as folder:
        instance = start(Path(folder) / "data", free_port(), Path(folder) / "up.log", env)
        try:
            print(f"tlog appends over HTTP (wrk), {backend}, {args.seconds:g} s per run")
            print(f"{'clients':>8} {'entries/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-201':>8}")
            for concurrency in CONCURRENCY:
                bodies = Path(folder) / f"bodies-{concurrency}.jsonl"
                salt = f"{backend}-{concurrency}-{time.time()}"
                bodies.write_text(
                    "\n".join(json.dumps(b) for b in requests(args.entries, salt)) + "\n"
                )
                result = run_wrk(
                    f"{instance.url}/-/tlog/api/v1/log/entries",
                    concurrency,
                    args.seconds,
                    script=LUA,
                    script_args=(str(bodies),),
                )
                print(
                    f"{concurrency:>8} {result.requests_per_s:>10.0f} {result.p50_ms:>8.1f}"
                    f" {result.p99_ms:>8.1f} {result.non_2xx:>8}"
                )
        finally:
            stop(instance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
