"""wrk (Debian's HTTP load generator) for the benchmarks: install it if missing, run it, parse.

wrk is a C program that drives thousands of requests per second from one thread, so the load
generator is not what is measured (httpx's pool degrades past ~16 concurrent connections).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    install = ["apt-get", "install", "-y", "wrk"]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    # Answers by status, when the script prints "status <code> <count>" lines (post_bodies.lua).
    statuses: dict[int, int] = field(default_factory=dict)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str,
    connections: int,
    seconds: float,
    *,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
    threads: int = 1,
) -> WrkResult:
    args = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
    ]
    if script is not None:
        args += ["-s", str(script)]
    args.append(url)
    if script_args:
        args += ["--", *script_args]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    latency = {
        p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    }
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    statuses = {int(code): int(n) for code, n in re.findall(r"^status (\d+) (\d+)$", out, re.M)}
    non_2xx = int(bad.group(1)) if bad else 0
    return WrkResult(rate, latency["50"], latency["99"], total, non_2xx, statuses)
