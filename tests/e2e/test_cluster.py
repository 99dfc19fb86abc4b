"""A cluster: three `assay serve --config` nodes over one PostgreSQL and one S3 store (SeaweedFS),
behind Caddy as a round-robin load balancer (docs/deploy.md).

What must hold: a publish of one version through several nodes at once has exactly one winner;
a publish on one node is read on every other within the packument cache's bound; tarballs,
tiles and checkpoints are the same bytes from every node; and log appends through all nodes,
while one node is killed with SIGKILL and restarted, lose no acknowledged entry and never fork
the tree (every checkpoint a client saw is consistent with the final one).
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from assay.registry.service import CROSS_PROCESS_STALENESS
from assay.transparency.merkle import leaf_hash, verify_consistency
from tests.assay_up import free_port
from tests.cluster import CADDY, NODES, STARTUP, Cluster, Node, running_cluster
from tests.rekord import RekordSigner
from tests.services import Postgres, S3Server
from tests.unit.registry.tarballs import publish_body


@pytest.fixture(scope="module")
def cluster(
    postgres: Postgres, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if not CADDY.exists():
        pytest.fail(f"{CADDY} is missing; install the test extra: pip install -e '.[test]'")
    with running_cluster(postgres, s3_server, tmp_path_factory.mktemp("cluster")) as running:
        yield running


def _auth(cluster: Cluster) -> dict[str, str]:
    return {"Authorization": f"Bearer {cluster.token}"}


def test_publishes_through_every_node(cluster: Cluster) -> None:
    """Different packages through the balancer; then the same version through every node at
    once: exactly one publish wins, the others are refused, and nothing is half there."""
    with httpx.Client(base_url=cluster.url, headers=_auth(cluster), timeout=30) as http:
        for number in range(6):
            name = f"spread-{number}"
            response = http.put(f"/{name}", json=publish_body(name, "1.0.0"))
            assert response.status_code in (200, 201), response.text
        for number in range(6):
            assert http.get(f"/spread-{number}").json()["versions"].keys() == {"1.0.0"}

    def publish(node: Node, number: int) -> int:
        body = publish_body("contested", "1.0.0", description=f"from node {number}")
        return httpx.put(
            f"{node.url}/contested", json=body, headers=_auth(cluster), timeout=30
        ).status_code

    with ThreadPoolExecutor(NODES) as pool:
        codes = list(pool.map(publish, cluster.nodes, range(NODES)))
    assert sorted(codes)[0] in (200, 201)
    assert sum(code in (200, 201) for code in codes) == 1, codes
    assert all(code in (200, 201, 403, 409) for code in codes), codes
    documents = [httpx.get(f"{node.url}/contested").json() for node in cluster.nodes]
    assert all(d["versions"].keys() == {"1.0.0"} for d in documents)
    assert len({d["versions"]["1.0.0"]["dist"]["integrity"] for d in documents}) == 1


def test_a_publish_is_read_everywhere_within_the_bound(cluster: Cluster) -> None:
    """Node B caches the packument, node A publishes a new version: B serves it within the
    packument cache's documented bound (CROSS_PROCESS_STALENESS), A at once (read your writes).
    """
    first, second = cluster.nodes[0], cluster.nodes[1]
    headers = _auth(cluster)
    assert httpx.put(
        f"{first.url}/fresh", json=publish_body("fresh", "1.0.0"), headers=headers
    ).status_code in (200, 201)
    for _ in range(3):  # cached on the second node now
        assert httpx.get(f"{second.url}/fresh").json()["versions"].keys() == {"1.0.0"}
    body = publish_body("fresh", "1.1.0")
    response = httpx.put(f"{first.url}/fresh", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    published = time.monotonic()
    assert "1.1.0" in httpx.get(f"{first.url}/fresh").json()["versions"]
    while "1.1.0" not in httpx.get(f"{second.url}/fresh").json()["versions"]:
        assert time.monotonic() - published < CROSS_PROCESS_STALENESS + 2.0
        time.sleep(0.05)


def test_tarballs_are_the_same_bytes_from_every_node(cluster: Cluster) -> None:
    with httpx.Client(base_url=cluster.url, headers=_auth(cluster)) as http:
        body = publish_body("same-bytes", "2.0.0")
        assert http.put("/same-bytes", json=body).status_code in (200, 201)
    expected = base64.b64decode(body["_attachments"]["same-bytes-2.0.0.tgz"]["data"])
    for node in cluster.nodes:
        response = httpx.get(f"{node.url}/same-bytes/-/same-bytes-2.0.0.tgz")
        assert response.status_code == 200
        assert response.content == expected


def _appender(
    url: str,
    clients: int,
    stop: threading.Event,
    acknowledged: dict[int, str],
    heads: dict[int, bytes],
) -> None:
    """Append through the balancer from ``clients`` concurrent clients until ``stop``."""

    async def client(number: int) -> None:
        signer = RekordSigner()
        async with httpx.AsyncClient(base_url=url, timeout=40) as http:
            sequence = 0
            while not stop.is_set():
                sequence += 1
                try:
                    response = await http.post(
                        "/-/tlog/api/v1/log/entries",
                        json=signer.hashedrekord(b"client %d entry %d" % (number, sequence)),
                    )
                except httpx.TransportError:
                    continue  # the node died under this request: not acknowledged
                if response.status_code != 201:
                    continue  # refused (a 502 from the balancer, a 503): not acknowledged
                ((_, entry),) = response.json().items()
                acknowledged[entry["logIndex"]] = entry["body"]
                proof = entry["verification"]["inclusionProof"]
                heads[proof["treeSize"]] = bytes.fromhex(proof["rootHash"])

    async def all_clients() -> None:
        await asyncio.gather(*(client(n) for n in range(clients)))

    asyncio.run(all_clients())


def test_log_appends_survive_a_node_killed_mid_load(cluster: Cluster) -> None:
    acknowledged: dict[int, str] = {}  # log index → body (base64), as acknowledged
    heads: dict[int, bytes] = {}  # tree size → root, from the checkpoints clients received
    stop = threading.Event()
    thread = threading.Thread(target=_appender, args=(cluster.url, 12, stop, acknowledged, heads))
    thread.start()
    try:
        _wait_for(lambda: len(acknowledged) >= 100, 60)
        # Kill the node that holds the sequencer's lease: another takes it over, and appends
        # continue through the others meanwhile.
        victim = _lease_holder(cluster)
        victim.kill()
        count = len(acknowledged)
        _wait_for(lambda: len(acknowledged) >= count + 100, 60)
        victim.start()
        count = len(acknowledged)
        _wait_for(lambda: len(acknowledged) >= count + 100, 60)
    finally:
        stop.set()
        thread.join(90)
    assert not thread.is_alive()

    # Every acknowledged entry is in the log, at its index, with its body.
    info = httpx.get(f"{cluster.url}/-/tlog/api/v1/log").json()
    final_size, final_root = info["treeSize"], bytes.fromhex(info["rootHash"])
    assert max(acknowledged) < final_size
    for index, body in sorted(acknowledged.items())[:: max(1, len(acknowledged) // 60)]:
        served = httpx.get(
            f"{cluster.url}/-/tlog/api/v1/log/entries", params={"logIndex": index}
        ).json()
        ((entry),) = served.values()
        assert entry["body"] == body
    # ... and, all of them at once, in the tiles' leaves (tile level 0 holds every leaf hash).
    leaves = _leaves(cluster.nodes[0].url, final_size)
    for index, body in acknowledged.items():
        assert leaves[index] == leaf_hash(base64.b64decode(body)), index

    # Every checkpoint a client saw is consistent with the final tree: it never forked.
    for size, root in sorted(heads.items()):
        proof = httpx.get(
            f"{cluster.url}/-/tlog/api/v1/log/proof",
            params={"firstSize": size, "lastSize": final_size},
        ).json()
        verify_consistency(
            size, final_size, [bytes.fromhex(h) for h in proof["hashes"]], root, final_root
        )

    # Quiet now: every node serves the same checkpoint and the same tiles.
    checkpoints = {httpx.get(f"{node.url}/-/tlog/checkpoint").text for node in cluster.nodes}
    assert len(checkpoints) == 1
    tiles = {tuple(_tile_bytes(node.url, final_size)) for node in cluster.nodes}
    assert len(tiles) == 1


def _lease_holder(cluster: Cluster) -> Node:
    """The node whose process holds the lease (its holder name is ``host:pid:random``)."""
    with psycopg.connect(cluster.database.replace("postgresql+psycopg://", "postgresql://")) as db:
        row = db.execute("SELECT holder FROM tlog_lease WHERE name = 'sequencer'").fetchone()
    assert row is not None
    pid = int(row[0].split(":")[1])
    (node,) = [n for n in cluster.nodes if n.process is not None and n.process.pid == pid]
    return node


def _tile_paths(size: int) -> list[str]:
    full, rest = divmod(size, 256)
    paths = [f"/-/tlog/tile/0/{_index(n)}" for n in range(full)]
    if rest:
        paths.append(f"/-/tlog/tile/0/{_index(full)}.p/{rest}")
    return paths


def _index(n: int) -> str:
    """A tile index as tlog-tiles spells it: groups of three digits, all but the last x-ed."""
    digits = f"{n:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def _tile_bytes(url: str, size: int) -> list[bytes]:
    result = []
    for path in _tile_paths(size):
        response = httpx.get(f"{url}{path}")
        assert response.status_code == 200, path
        result.append(response.content)
    return result


def _leaves(url: str, size: int) -> list[bytes]:
    data = b"".join(_tile_bytes(url, size))
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def _wait_for(condition: object, timeout: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_up_with_workers_shares_one_log(tmp_path: Path) -> None:
    """`assay up --workers 2`: two processes on one port and one SQLite file; appends through
    both end in one log, each acknowledged entry at its own index."""
    port = free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "assay", "up", "--data", str(tmp_path / "data")),
                *("--port", str(port), "--workers", "2"),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ASSAY_TLOG_APPENDS_PER_MINUTE": "0"},
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _answers(f"{url}/-/ping"), STARTUP)
        signer = RekordSigner()

        def append(number: int) -> int:
            response = httpx.post(
                f"{url}/-/tlog/api/v1/log/entries",
                json=signer.hashedrekord(b"worker entry %d" % number),
                timeout=30,
            )
            assert response.status_code == 201, response.text
            ((_, entry),) = response.json().items()
            return int(entry["logIndex"])

        with ThreadPoolExecutor(8) as pool:
            indexes = sorted(pool.map(append, range(60)))
        assert indexes == list(range(60))
    finally:
        process.terminate()
        process.wait(20)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
