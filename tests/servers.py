"""Real servers on loopback for tests (DESIGN.md convention 9: no mocks of our own code).

:func:`serve_app` runs an ASGI app under uvicorn in a background thread, on a socket bound to
127.0.0.1 with a free port, and yields its base URL. Bind the socket first with
:func:`loopback_socket` when the app must know its own URL before it is built (an OIDC issuer's
``iss`` is its URL).

uvicorn is configured so that nothing optional loads: no websockets implementation (whose
imports are where uvicorn's DeprecationWarnings come from), no lifespan, no access log, no
signal handlers (uvicorn installs those only on the main thread). :class:`QuickServer` stops
within milliseconds of being told to, not at uvicorn's next 0.1 s tick: the suite starts and stops
over a hundred of these.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 10.0


class QuickServer(uvicorn.Server):
    """uvicorn's server, watching ``should_exit`` every 5 ms between its 0.1 s ticks."""

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):
            for _ in range(20):
                await asyncio.sleep(0.005)
                if self.should_exit:
                    return
            ticks = (ticks + 1) % 864_000


def loopback_socket() -> socket.socket:
    """A TCP socket bound to 127.0.0.1 on a free port, not yet listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@contextmanager
def serve_app(app: ASGIApp, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve ``app`` on ``sock`` (or a fresh loopback socket) and yield the base URL."""
    sock = sock if sock is not None else loopback_socket()
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
    )
    server = QuickServer(config)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn {socket_url(sock)}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if failures or not thread.is_alive():
            sock.close()
            raise RuntimeError("the test server did not start") from (
                failures[0] if failures else None
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("the test server did not start in time")
        time.sleep(0.005)
    try:
        yield socket_url(sock)
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()
    if failures:
        raise RuntimeError("the test server failed") from failures[0]
