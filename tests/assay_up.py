"""`assay up` as a real process on loopback, for tests that need the whole instance."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Instance:
    url: str
    data: Path
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing: what a crash looks like."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def start(data: Path, port: int, log: Path, env: dict[str, str] | None = None) -> Instance:
    url = f"http://127.0.0.1:{port}"
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "up", "--data", str(data), "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        # CI emulation is opt-in (issue 10); the tests sign provenance through it.
        # Every test signs from 127.0.0.1, one client to the log's append limit (tested on
        # its own in tests/integration/test_limits.py): unlimited here.
        env={
            **os.environ,
            "ASSAY_CI_EMULATION": "1",
            "ASSAY_TLOG_APPENDS_PER_MINUTE": "0",
            "ASSAY_TOKEN_EXCHANGES_PER_MINUTE": "0",
            **(env or {}),
        },
    )
    handle.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"assay up exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/-/ping", timeout=1).status_code == 200:
                return Instance(url, data, process, log)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"assay up did not answer /-/ping: {log.read_text()}")
        time.sleep(0.05)


def stop(instance: Instance) -> None:
    if instance.process.poll() is None:
        instance.process.terminate()
        try:
            instance.process.wait(10)
        except subprocess.TimeoutExpired:
            instance.kill()


@contextmanager
def running_instance(root: Path) -> Iterator[Instance]:
    root.mkdir(parents=True, exist_ok=True)
    instance = start(root / "data", free_port(), root / "assay-up.log")
    try:
        yield instance
    finally:
        stop(instance)
