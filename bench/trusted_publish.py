"""Benchmark: trusted publishing's OIDC exchange, and what it adds to a publish.

Starts `assay up` (CI emulation on, a fresh data directory), publishes two packages with a
maintainer's token and gives both a GitHub trusted publisher, then:

1. exchanges N distinct OIDC tokens from the instance's issuer (minted up front with its key, so
   only the exchange is timed), one at a time and from several threads: exchanges per second;
2. publishes M versions each way, alternating: a token publish (one PUT with the maintainer's
   token) and a trusted publish (the exchange, then the PUT with the minted token), bodies built
   up front: the median of each, and the ratio.

    .venv/bin/python bench/trusted_publish.py [--exchanges 300] [--threads 4] [--publishes 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.trusted import Trusted, bearer, github_publisher
from tests.unit.registry.tarballs import publish_body

REPOSITORY = "acme/bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=300, help="OIDC exchanges to time")
    parser.add_argument("--threads", type=int, default=4, help="concurrent exchanging threads")
    parser.add_argument("--publishes", type=int, default=40, help="publishes each way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assay-bench-tp-") as tmp:
        root = Path(tmp)
        instance = start(root / "data", free_port(), root / "assay-up.log")
        try:
            trusted = Trusted(instance)
            try:
                return measure(trusted, args)
            finally:
                trusted.close()
        finally:
            stop(instance)


def measure(trusted: Trusted, args: argparse.Namespace) -> int:
    _, maintainer = trusted.user("bench")
    for name in ("bench-token", "bench-trusted"):
        response = trusted.publish(name, "0.0.1", maintainer)
        response.raise_for_status()
        trusted.add_publisher(name, "github", github_publisher(REPOSITORY))
    claims = {"repository": REPOSITORY}

    # 1. Exchanges per second, sequential and concurrent (fresh tokens: each jti once).
    def exchange(token: str) -> float:
        started = time.perf_counter()
        response = trusted.exchange("bench-trusted", token)
        elapsed = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(response.text)
        return elapsed

    tokens = [trusted.minted("github", claims) for _ in range(args.exchanges)]
    exchange(tokens.pop())  # warm-up: the publisher is pinned on first use
    started = time.perf_counter()
    sequential = [exchange(token) for token in tokens[: len(tokens) // 2]]
    sequential_rate = len(sequential) / (time.perf_counter() - started)
    rest = tokens[len(tokens) // 2 :]
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        concurrent = list(pool.map(exchange, rest))
    concurrent_rate = len(concurrent) / (time.perf_counter() - started)

    # 2. Token publish vs trusted publish (exchange + PUT), alternating.
    token_times: list[float] = []
    trusted_times: list[float] = []
    exchange_times: list[float] = []
    oidc = [trusted.minted("github", claims) for _ in range(args.publishes)]
    bodies = {
        (name, i): publish_body(name, f"1.0.{i}")
        for name in ("bench-token", "bench-trusted")
        for i in range(args.publishes)
    }
    http = trusted.http
    for i in range(args.publishes):
        started = time.perf_counter()
        body = bodies["bench-token", i]
        response = http.put("/bench-token", json=body, headers=bearer(maintainer))
        token_times.append(time.perf_counter() - started)
        response.raise_for_status()

        started = time.perf_counter()
        minted = trusted.exchange("bench-trusted", oidc[i])
        exchanged = time.perf_counter()
        body, auth = bodies["bench-trusted", i], bearer(minted.json()["token"])
        response = http.put("/bench-trusted", json=body, headers=auth)
        done = time.perf_counter()
        response.raise_for_status()
        exchange_times.append(exchanged - started)
        trusted_times.append(done - started)

    token_median = statistics.median(token_times)
    trusted_median = statistics.median(trusted_times)
    exchange_median = statistics.median(exchange_times)
    threads = args.threads
    print(f"OIDC exchanges: {len(sequential)} sequential, {len(concurrent)} on {threads} threads")
    for label, rate, times in (
        ("sequential", sequential_rate, sequential),
        ("concurrent", concurrent_rate, concurrent),
    ):
        median = statistics.median(times) * 1000
        print(f"  {label}   {rate:8.1f} /s   median {median:6.2f} ms")
    print(f"  concurrent / sequential throughput: {concurrent_rate / sequential_rate:.2f}x")
    print(f"publishes: {args.publishes} each way (median wall time)")
    print(f"  token publish (PUT)                 {token_median * 1000:7.2f} ms")
    print(f"  trusted publish (exchange + PUT)    {trusted_median * 1000:7.2f} ms")
    print(f"    of which the exchange             {exchange_median * 1000:7.2f} ms")
    added = (trusted_median - token_median) * 1000
    ratio = trusted_median / token_median
    print(f"  trusted / token: {ratio:.2f}x (+{added:.2f} ms per publish)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
