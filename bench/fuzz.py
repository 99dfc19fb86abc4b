"""Fuzzing: schemathesis against `assay up`, from the OpenAPI document it serves (issue 15 §2).

Starts `assay up` on a fresh data directory (CI emulation on, the log's append and the token
exchange's per-client limits off, as the tests run it), publishes one package and stages one
version so that generated requests can reach real packuments, tarballs, attestations and pages,
then drives every operation of `/-/openapi.json` with generated requests — positive (fitting the
document) and negative (not) — in passes of ``--examples`` cases per operation and mode, each
pass with a new seed, until ``--requests`` requests were sent. Every response is checked: no
5xx, a documented status, media type, headers and body schema (tests/fuzzing.py).

After the run, the instance's invariants: every live version's tarball matches its integrity,
and the log's leaves recompute to the root of its checkpoint.

    .venv/bin/python bench/fuzz.py [--requests 100000] [--examples 1000] [--seed 0]

Prints progress every 30 s and, at the end, the count of requests, of 5xx responses and of
schema violations (each distinct one with a curl command to replay it), the statuses seen and
the invariants. Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.assay_up import free_port, start, stop
from tests.fuzzing import Known, Report, fuzz, invariants, seed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--examples", type=int, default=1000, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes, each fuzzing a share of the operations"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assay-fuzz-") as tmp:
        root = Path(tmp)
        instance = start(root / "data", free_port(), root / "assay-up.log")
        try:
            return run(instance.url, root / "data", args)
        finally:
            stop(instance)


def run(url: str, data: Path, args: argparse.Namespace) -> int:
    token = (data / "admin.token").read_text().strip()
    known = seed(url, token)
    print(
        f"fuzzing {url}/-/openapi.json: {args.requests} requests, {args.workers} workers, "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.monotonic()
    jobs = [
        Job(url, token, known, args.seed + 1000 * worker, args.examples, worker, args.workers,
            args.requests // args.workers + (worker < args.requests % args.workers))
        for worker in range(args.workers)
    ]  # fmt: skip
    total = Report()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for report in pool.map(worker_run, jobs):
            total.requests += report.requests
            total.statuses.update(report.statuses)
            total.server_errors += report.server_errors
            total.violations += report.violations
            total.transport_errors += report.transport_errors
    elapsed = time.monotonic() - started
    print(f"\n{total.requests} requests in {elapsed:.0f} s ({total.requests / elapsed:.1f}/s)")
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(total.statuses.items())))
    print(f"5xx responses: {total.server_error_count}")
    print(f"schema violations: {len(total.violations)}")
    print(f"transport errors: {total.transport_errors}")
    for finding in total.distinct([*total.server_errors, *total.violations]):
        print(f"  {finding.line()}\n    {finding.curl}")
    counts, problems = invariants(url, data)
    print("invariants: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    for problem in problems:
        print(f"  BROKEN: {problem}")
    print("  every version's tarball matches its integrity; the log matches its checkpoint"
          if not problems else "  INVARIANTS BROKEN")  # fmt: skip
    failed = total.server_error_count or total.violations or total.transport_errors or problems
    return 1 if failed else 0


@dataclass(frozen=True)
class Job:
    url: str
    token: str
    known: Known
    first_seed: int
    examples: int
    worker: int
    workers: int
    budget: int


def worker_run(job: Job) -> Report:
    """One worker: passes over its share of the operations (every ``workers``-th, by label),
    each with a new seed, until it sent ``budget`` requests."""
    url, token, known, examples = job.url, job.token, job.known, job.examples
    worker, workers, budget = job.worker, job.workers, job.budget
    started = time.monotonic()
    total = Report()
    passes = 0

    def mine(label: str) -> bool:
        return int(hashlib.sha256(label.encode()).hexdigest(), 16) % workers == worker

    def progress(report: Report) -> None:
        sent = total.requests + report.requests
        elapsed = time.monotonic() - started
        errors = total.server_error_count + report.server_error_count
        violations = len(total.violations) + len(report.violations)
        print(
            f"  [{worker}] {elapsed:6.0f} s  {sent:7d} requests  {sent / elapsed:6.1f}/s  "
            f"5xx {errors}  violations {violations}",
            flush=True,
        )

    while total.requests < budget:
        report = fuzz(
            url,
            examples=examples,
            token=token,
            known=known,
            seed=job.first_seed + passes,
            budget=budget - total.requests,
            only=mine if workers > 1 else None,
            progress=progress,
            found=lambda finding: print(
                f"  [{worker}] FOUND {finding.line()}\n    {finding.curl}", flush=True
            ),
        )
        passes += 1
        total.requests += report.requests
        total.statuses.update(report.statuses)
        total.server_errors += report.server_errors
        total.violations += report.violations
        total.transport_errors += report.transport_errors
        if report.requests == 0:
            break
    return total


if __name__ == "__main__":
    sys.exit(main())
