"""The log over HTTP, under uvicorn on loopback: Rekor v1 shapes, proofs an independent
implementation accepts, signed entry timestamps, duplicates, bad input, batching, tiles."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.keys import Signer, generate_ec, verify_signature
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.tlog_store import TlogStore
from assay.tlog.app import create_app
from assay.tlog.sequencer import LogIdentity, Sequencer
from assay.tlog.service import LogService
from assay.tlog.tiles import split_tile
from assay.transparency.checkpoint import verify_checkpoint
from assay.transparency.merkle import leaf_hash, verify_consistency
from tests.rekord import hashedrekord
from tests.servers import serve_app
from tests.services import Postgres
from tests.unit.transparency.test_merkle import mth

TREE_ID = 1234567890123


@pytest.fixture
def log_key() -> ec.EllipticCurvePrivateKey:
    return generate_ec()


@pytest.fixture(params=["sqlite", "postgres"])
def log(
    request: pytest.FixtureRequest, tmp_path: Path, log_key: ec.EllipticCurvePrivateKey
) -> Iterator[tuple[str, TlogStore]]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "log.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database("tlog")
    engine = open_engine(url)
    migrate(engine)
    store = TlogStore(engine)
    identity = LogIdentity(name="log.test", tree_id=TREE_ID, signer=Signer(log_key))
    service = LogService(store, identity, Sequencer(store, identity))
    with serve_app(create_app(service)) as url:
        yield url, store
    engine.dispose()


def _only(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    body: dict[str, dict[str, Any]] = response.json()
    assert len(body) == 1
    ((entry_id, entry),) = body.items()
    return entry_id, entry


def test_append_returns_a_verifiable_entry(
    log: tuple[str, TlogStore], log_key: ec.EllipticCurvePrivateKey
) -> None:
    url, _ = log
    with httpx.Client(base_url=url) as client:
        for i in range(5):
            assert (
                client.post("/api/v1/log/entries", json=hashedrekord(b"a%d" % i)).status_code == 201
            )
        response = client.post("/api/v1/log/entries", json=hashedrekord(b"artifact"))
    assert response.status_code == 201
    entry_id, entry = _only(response)
    body = base64.b64decode(entry["body"])
    assert entry_id == f"{TREE_ID:016x}{leaf_hash(body).hex()}"
    assert response.headers["location"].endswith(f"/api/v1/log/entries/{entry_id}")
    assert entry["logIndex"] == 5
    assert (
        entry["logID"]
        == hashlib.sha256(
            log_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).hexdigest()
    )

    # Signed entry timestamp over JCS({body, integratedTime, logID, logIndex}) (rekor signEntry).
    signed = rfc8785.dumps({k: entry[k] for k in ("body", "integratedTime", "logID", "logIndex")})
    sig = base64.b64decode(entry["verification"]["signedEntryTimestamp"])
    verify_signature(log_key.public_key(), sig, signed)

    # The proof, checked against a root an independent RFC 6962 implementation computes.
    proof = entry["verification"]["inclusionProof"]
    assert proof["treeSize"] == 6
    checkpoint = verify_checkpoint(proof["checkpoint"], "log.test", log_key.public_key())
    assert checkpoint.size == 6
    assert checkpoint.root_hash.hex() == proof["rootHash"]
    assert checkpoint.origin == f"log.test - {TREE_ID}"
    with httpx.Client(base_url=url) as client:
        bodies = [
            base64.b64decode(_only(client.get(f"/api/v1/log/entries?logIndex={i}"))[1]["body"])
            for i in range(6)
        ]
    assert mth(tuple(bodies)).hex() == proof["rootHash"]


def test_sigstore_python_accepts_the_inclusion_proof(log: tuple[str, TlogStore]) -> None:
    from sigstore._internal.merkle import verify_merkle_inclusion
    from sigstore.models import TransparencyLogEntry

    url, _ = log
    with httpx.Client(base_url=url) as client:
        for i in range(3):
            client.post("/api/v1/log/entries", json=hashedrekord(b"x%d" % i))
        _, entry = _only(client.get("/api/v1/log/entries?logIndex=1"))
    parsed = TransparencyLogEntry._from_v1_response({"uuid": entry})
    verify_merkle_inclusion(parsed)


def test_lookup_by_uuid_and_entry_id(log: tuple[str, TlogStore]) -> None:
    url, _ = log
    with httpx.Client(base_url=url) as client:
        entry_id, entry = _only(client.post("/api/v1/log/entries", json=hashedrekord(b"q")))
        assert _only(client.get(f"/api/v1/log/entries/{entry_id}"))[1]["body"] == entry["body"]
        assert _only(client.get(f"/api/v1/log/entries/{entry_id[16:]}"))[0] == entry_id
        retrieved = client.post(
            "/api/v1/log/entries/retrieve", json={"entryUUIDs": [entry_id], "logIndexes": [0, 99]}
        ).json()
        assert [next(iter(r)) for r in retrieved] == [entry_id, entry_id]
        assert client.get("/api/v1/log/entries/" + "0" * 64).status_code == 404
        assert client.get("/api/v1/log/entries/nothex").status_code == 400
        assert client.get("/api/v1/log/entries?logIndex=7").status_code == 404
        assert client.get("/api/v1/log/entries?logIndex=-1").status_code == 400


def test_duplicate_is_409_with_the_existing_entry(log: tuple[str, TlogStore]) -> None:
    url, store = log
    request = hashedrekord(b"same")
    with httpx.Client(base_url=url) as client:
        first = client.post("/api/v1/log/entries", json=request)
        again = client.post("/api/v1/log/entries", json=request)
        assert again.status_code == 409
        assert again.json()["code"] == 409
        existing = client.get(again.headers["location"])
    assert _only(existing)[0] == _only(first)[0]
    assert store.latest_checkpoint() is not None
    assert store.latest_checkpoint().tree_size == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        json.dumps({"apiVersion": "0.0.1", "kind": "rekord", "spec": {}}).encode(),
        json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}}).encode(),
        b"{" * 100_000,
    ],
)
def test_malformed_entries_are_400_and_log_nothing(log: tuple[str, TlogStore], body: bytes) -> None:
    url, store = log
    with httpx.Client(base_url=url) as client:
        response = client.post(
            "/api/v1/log/entries", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message"}
    assert store.latest_checkpoint().tree_size == 0  # type: ignore[union-attr]


def test_bad_signature_is_refused(log: tuple[str, TlogStore]) -> None:
    url, store = log
    request = hashedrekord(b"artifact")
    request["spec"]["data"]["hash"]["value"] = hashlib.sha256(b"other").hexdigest()
    with httpx.Client(base_url=url) as client:
        response = client.post("/api/v1/log/entries", json=request)
    assert response.status_code == 400
    assert store.entries_range(0, 10) == []


def test_oversized_body_is_413(log: tuple[str, TlogStore]) -> None:
    url, store = log
    with httpx.Client(base_url=url) as client:
        response = client.post("/api/v1/log/entries", content=b"x" * (2 << 20))
    assert response.status_code == 413
    assert store.entries_range(0, 10) == []


def test_concurrent_submissions_are_batched_and_consistent(
    log: tuple[str, TlogStore], log_key: ec.EllipticCurvePrivateKey
) -> None:
    url, store = log

    async def submit_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post("/api/v1/log/entries", json=hashedrekord(b"c%d" % i))
                    for i in range(64)
                )
            )

    with httpx.Client(base_url=url) as client:
        before = client.get("/api/v1/log").json()
    responses = asyncio.run(submit_all())
    assert [r.status_code for r in responses] == [201] * 64
    indexes = sorted(_only(r)[1]["logIndex"] for r in responses)
    assert indexes == list(range(64))
    # Fewer checkpoints than entries: submissions were committed in batches.
    checkpoints = [store.checkpoint_at(n) for n in range(1, 65)]
    assert sum(c is not None for c in checkpoints) < 64
    with httpx.Client(base_url=url) as client:
        after = client.get("/api/v1/log").json()
        assert after["treeSize"] == 64
        verify_checkpoint(after["signedTreeHead"], "log.test", log_key.public_key())
        for first in (1, 5, 33, 63):
            proof = client.get(f"/api/v1/log/proof?firstSize={first}&lastSize=64").json()
            assert proof["rootHash"] == after["rootHash"]
            old_root = bytes.fromhex(
                client.get(f"/api/v1/log/proof?firstSize=0&lastSize={first}").json()["rootHash"]
            )
            verify_consistency(
                first,
                64,
                [bytes.fromhex(h) for h in proof["hashes"]],
                old_root,
                bytes.fromhex(after["rootHash"]),
            )
        assert client.get("/api/v1/log/proof?firstSize=65").status_code == 400
    assert before["treeSize"] == 0


def test_tiles_and_checkpoint(
    log: tuple[str, TlogStore], log_key: ec.EllipticCurvePrivateKey
) -> None:
    url, _ = log
    with httpx.Client(base_url=url) as client:
        bodies = []
        for i in range(3):
            _, entry = _only(client.post("/api/v1/log/entries", json=hashedrekord(b"t%d" % i)))
            bodies.append(base64.b64decode(entry["body"]))
        note = client.get("/checkpoint").text
        assert verify_checkpoint(note, "log.test", log_key.public_key()).size == 3
        tile = client.get("/tile/0/000.p/3")
        assert tile.status_code == 200
        assert split_tile(tile.content, 3) == [leaf_hash(b) for b in bodies]
        assert client.get("/tile/0/000").status_code == 404  # no full tile yet
        assert client.get("/tile/0/../../etc/passwd").status_code == 404
        assert client.get("/tile/entries/000.p/3").status_code == 200
        pem = client.get("/api/v1/log/publicKey").text
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
