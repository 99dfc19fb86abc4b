"""A cluster of Assay nodes as real processes: `assay serve --config` nodes over one PostgreSQL
and one S3 store (SeaweedFS), behind Caddy as a round-robin load balancer (docs/deploy.md).

Shared by the cluster test (tests/e2e/test_cluster.py) and the log's benchmark
(bench/tlog_append.py --cluster), so both run the same deployment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.assay_up import free_port, stop_process, wait_until_up
from tests.services import Postgres, S3Server, wait_for_port

CADDY = Path(sys.executable).parent / "caddy"
NODES = 3
STARTUP = 60.0


@dataclass
class Node:
    config: Path
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "assay", "serve", "--config", str(self.config)],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        wait_until_up(self.url, self.process, self.log, "node", STARTUP)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 15)


@dataclass
class Cluster:
    url: str
    nodes: list[Node]
    token: str
    caddy: subprocess.Popen[bytes]
    database: str


def _config(
    keys: Path,
    origin: str,
    port: int,
    *,
    database: str,
    s3: S3Server,
    bucket: str,
    workers: int,
) -> str:
    return f"""
[server]
public_url = "{origin}"
host = "127.0.0.1"
port = {port}
workers = {workers}

[database]
url = "{database}"

[blobs]
store = "s3"
bucket = "{bucket}"
endpoint_url = "{s3.endpoint}"
region = "{s3.region}"

[keys]
dir = "{keys}"
"""


@contextlib.contextmanager
def running_cluster(
    postgres: Postgres,
    s3_server: S3Server,
    root: Path,
    *,
    nodes: int = NODES,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Prepare a key directory once, start ``nodes`` nodes (each with ``workers`` processes and
    its own copy of the keys) and Caddy in front of them; stop them all on exit."""
    if not CADDY.exists():
        raise RuntimeError(f"{CADDY} is missing; install the test extra: pip install -e '.[test]'")
    database = postgres.create_database("cluster")
    bucket = s3_server.create_bucket("cluster")
    lb_port = free_port()
    origin = f"http://127.0.0.1:{lb_port}"
    environment = {
        **os.environ,
        # The S3 credentials through the environment, never in the file (docs/deploy.md).
        "ASSAY_S3_ACCESS_KEY_ID": s3_server.access_key,
        "ASSAY_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "ASSAY_TLOG_APPENDS_PER_MINUTE": "0",
        **(env or {}),
    }

    def config(keys: Path, port: int) -> str:
        return _config(
            keys, origin, port, database=database, s3=s3_server, bucket=bucket, workers=workers
        )

    # Prepared once; every node then gets its own copy of the key directory (a secret).
    prepared = root / "prepared.toml"
    prepared.write_text(config(root / "keys", 0))
    subprocess.run(
        [sys.executable, "-m", "assay", "serve", "--config", str(prepared), "--prepare"],
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    token = (root / "keys" / "admin.token").read_text().strip()
    members = []
    for number in range(nodes):
        keys = root / f"node{number}-keys"
        shutil.copytree(root / "keys", keys)
        port = free_port()
        node_config = root / f"node{number}.toml"
        node_config.write_text(config(keys, port))
        members.append(Node(node_config, port, root / f"node{number}.log", environment))
    caddyfile = root / "Caddyfile"
    upstreams = " ".join(f"127.0.0.1:{node.port}" for node in members)
    # Round robin; a node that refuses connections is skipped (the request is retried on the
    # next one: only requests that never reached a node are retried, so a POST is never sent
    # twice) and left out for a second.
    caddyfile.write_text(
        "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"
        f"http://127.0.0.1:{lb_port} {{\n"
        f"\treverse_proxy {upstreams} {{\n"
        "\t\tlb_policy round_robin\n\t\tlb_try_duration 5s\n\t\tfail_duration 1s\n"
        "\t}\n}\n"
    )
    caddy_log = (root / "caddy.log").open("wb")
    caddy = subprocess.Popen(
        [str(CADDY), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        stdout=caddy_log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root / "caddy-data")},
    )
    caddy_log.close()
    try:
        with ThreadPoolExecutor(nodes) as pool:
            list(pool.map(Node.start, members))
        wait_for_port(lb_port, 30, caddy)
        yield Cluster(origin, members, token, caddy, database)
    finally:
        for node in members:
            node.stop()
        caddy.terminate()
        caddy.wait(10)
