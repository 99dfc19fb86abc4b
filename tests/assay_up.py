"""`assay up` as a real process on loopback, for tests that need the whole instance."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT = 30.0


# Ports for the servers tests start, outside Linux's ephemeral range (32768-60999): a port the
# kernel handed out for bind(0) is soon handed to another process's bind(0) or client socket
# too, and two xdist workers starting servers at once then collide on it.
_PORTS = (20000, 32000)


def free_port() -> int:
    """A loopback port nothing listens on now, picked at random outside the ephemeral range."""
    for _ in range(100):
        port = random.randint(*_PORTS)  # noqa: S311 - a port number, not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORTS}")


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
    """`assay up` on `port`, answered by this very process (its admin token works there).

    Another server may have taken the port between :func:`free_port` and the bind: the ping
    would then be answered by someone else. When the caller did not write the port into
    `env`, the instance is started again on another port; otherwise that is an error."""
    for _ in range(3):
        instance = _start(data, port, log, env)
        if instance is not None:
            return instance
        if any(str(port) in value for value in (env or {}).values()):
            raise RuntimeError(f"port {port} was taken by another server; see {log}")
        port = free_port()
    raise RuntimeError(f"assay up found its port taken three times; see {log}")


def _start(data: Path, port: int, log: Path, env: dict[str, str] | None) -> Instance | None:
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
    instance = Instance(url, data, process, log)
    wait_until_up(url, process, log, "assay up", STARTUP_TIMEOUT)
    if _answers_as(instance):
        return instance
    stop(instance)
    return None


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout: float
) -> None:
    """Until ``url``'s ``/-/ping`` answers 200 (Assay's, a node's, Verdaccio's, Caddy's file):
    an error with ``log``'s text if ``process`` exits first or ``timeout`` seconds pass (then
    the process is killed)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/-/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{what} did not answer {url}/-/ping:\n{log.read_text()}")
        time.sleep(0.05)


def _answers_as(instance: Instance) -> bool:
    """Whether the server on the instance's port is this instance: its admin token, written
    before it serves, is known there."""
    token = instance.data / "admin.token"
    if not token.exists():
        return False  # it cannot serve before the token exists: someone else answered
    headers = {"Authorization": f"Bearer {token.read_text().strip()}"}
    return httpx.get(f"{instance.url}/-/whoami", headers=headers, timeout=5).status_code == 200


def stop_process(process: subprocess.Popen[Any], wait: float = 10) -> None:
    """SIGTERM, up to `wait` seconds to exit, then SIGKILL: how every server the tests and the
    benchmarks start is stopped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def stop(instance: Instance) -> None:
    stop_process(instance.process)


@contextmanager
def running_instance(root: Path, env: dict[str, str] | None = None) -> Iterator[Instance]:
    """`assay up` with its data and log under ``root``, stopped on the way out."""
    root.mkdir(parents=True, exist_ok=True)
    instance = start(root / "data", free_port(), root / "assay-up.log", env=env)
    try:
        yield instance
    finally:
        stop(instance)
