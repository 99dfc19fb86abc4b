"""`kill -9` of `assay up` while clients append: every acknowledged entry survives, and the
tree after the restart is consistent with every checkpoint handed out before the crash."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from pathlib import Path

import httpx

from assay.transparency.checkpoint import parse_signed_note
from assay.transparency.merkle import leaf_hash, verify_consistency, verify_inclusion
from tests.assay_up import free_port, start, stop
from tests.rekord import hashedrekord

CLIENTS = 16


def test_acknowledged_entries_survive_kill_9(tmp_path: Path) -> None:
    port = free_port()
    instance = start(tmp_path / "data", port, tmp_path / "up.log")
    acknowledged: dict[str, int] = {}  # entry ID → log index
    heads: dict[int, bytes] = {}  # tree size → root, from checkpoints clients received
    stop_flag = threading.Event()

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=instance.url, timeout=5) as http:
            sequence = 0
            while not stop_flag.is_set():
                sequence += 1
                try:
                    response = await http.post(
                        "/-/tlog/api/v1/log/entries",
                        json=hashedrekord(b"client %d entry %d" % (number, sequence)),
                    )
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 201:
                    ((entry_id, entry),) = response.json().items()
                    acknowledged[entry_id] = entry["logIndex"]
                    proof = entry["verification"]["inclusionProof"]
                    heads[proof["treeSize"]] = bytes.fromhex(proof["rootHash"])

    def load() -> None:
        async def all_clients() -> None:
            await asyncio.gather(*(client(n) for n in range(CLIENTS)))

        asyncio.run(all_clients())

    thread = threading.Thread(target=load)
    thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    instance.kill()  # mid-load, no warning
    stop_flag.set()
    thread.join(30)
    assert len(acknowledged) >= 150

    restarted = start(tmp_path / "data", port, tmp_path / "up.log")
    try:
        with httpx.Client(base_url=f"{restarted.url}/-/tlog") as http:
            info = http.get("/api/v1/log").json()
            new_size, new_root = info["treeSize"], bytes.fromhex(info["rootHash"])
            assert new_size >= max(acknowledged.values()) + 1
            for entry_id, index in acknowledged.items():
                response = http.get(f"/api/v1/log/entries/{entry_id}")
                assert response.status_code == 200, entry_id
                ((_, entry),) = response.json().items()
                assert entry["logIndex"] == index
                proof = entry["verification"]["inclusionProof"]
                verify_inclusion(
                    leaf_hash(base64.b64decode(entry["body"])),
                    index,
                    proof["treeSize"],
                    [bytes.fromhex(h) for h in proof["hashes"]],
                    bytes.fromhex(proof["rootHash"]),
                )
            for old_size, old_root in heads.items():
                consistency = http.get(
                    f"/api/v1/log/proof?firstSize={old_size}&lastSize={new_size}"
                ).json()
                verify_consistency(
                    old_size,
                    new_size,
                    [bytes.fromhex(h) for h in consistency["hashes"]],
                    old_root,
                    new_root,
                )
            checkpoint, _ = parse_signed_note(info["signedTreeHead"])
            assert checkpoint.size == new_size
    finally:
        stop(restarted)
