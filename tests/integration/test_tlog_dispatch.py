"""The instance hands a log append straight to the log's handler (assay.instance.app ``_Dispatch``,
assay.tlog.app ``LogAppends``); the answers must be the ones the log's own routes give.

Two instances of the same log are compared: the whole instance (appends dispatched before its
router) and the log's app served on its own (appends through its FastAPI routes). Every answer
of the append routes — 201, 409 with its ``Location``, 400, 401, 413, the v2 answer — has the
same status, the same headers that matter and the same shape through both doors.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.instance.app import create_instance_app
from assay.instance.layout import DataDir
from assay.instance.setup import initialize
from assay.keys import Signer, generate_ec
from assay.settings import Settings
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.tlog_store import TlogStore
from assay.tlog.app import create_app as create_tlog_app
from assay.tlog.sequencer import LogIdentity, Sequencer
from assay.tlog.service import LogService
from assay.transparency.rekor import MAX_ENTRY_BYTES
from tests.rekord import hashedrekord
from tests.servers import loopback_socket, serve_app, socket_url

WRITER = "writer-secret-for-the-test"


@pytest.fixture
def doors(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Base URLs of the log's append routes: through the instance, and the log app alone."""
    data = tmp_path / "data"
    initialize(DataDir(data))
    sock = loopback_socket()
    settings = Settings(
        data_dir=data,
        public_url=socket_url(sock),
        tlog_appends_per_minute=0,
        tlog_writer_secret=WRITER,
    )
    engine = open_engine(sqlite_url(tmp_path / "alone.db"))
    migrate(engine)
    store = TlogStore(engine)
    identity = LogIdentity(name="log.test", tree_id=7, signer=Signer(generate_ec()))
    service = LogService(store, identity, Sequencer(store, identity))
    with (
        serve_app(create_instance_app(settings), sock) as instance,
        serve_app(create_tlog_app(service, writer_secret=WRITER)) as alone,
    ):
        yield {"instance": f"{instance}/-/tlog", "alone": alone}


def _v2_request(artifact: bytes) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "hashedRekordRequestV002": {
            "digest": b64(digest),
            "signature": {
                "content": b64(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))),
                "verifier": {
                    "publicKey": {"rawBytes": b64(spki)},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                },
            },
        }
    }


def _answers(base: str, mount: str) -> list[tuple[Any, ...]]:
    """Every kind of answer of the append routes, reduced to what must agree."""
    entry = hashedrekord(b"dispatch")
    found: list[tuple[Any, ...]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        created = client.post("/api/v1/log/entries", json=entry)
        assert created.status_code == 201, created.text
        (entry_id,) = created.json()
        assert created.headers["location"] == f"{mount}/api/v1/log/entries/{entry_id}"
        assert created.headers["etag"] == entry_id
        body = created.json()[entry_id]
        found.append((201, sorted(body), sorted(body["verification"]["inclusionProof"])))

        again = client.post("/api/v1/log/entries", json=entry)
        assert again.headers["location"] == f"{mount}/api/v1/log/entries/{entry_id}"
        found.append((again.status_code, again.json()["code"], again.json()["message"][:40]))

        for content in (b"{", b"[]", b'{"kind":"rekord"}'):
            bad = client.post("/api/v1/log/entries", content=content)
            found.append((bad.status_code, bad.json()["code"]))

        huge = client.post("/api/v1/log/entries", content=b" " * (MAX_ENTRY_BYTES + 1))
        found.append((huge.status_code, huge.json()["code"], huge.json()["message"]))

        wrong = client.post(
            "/api/v1/log/entries",
            json=hashedrekord(b"wrong"),
            headers={"authorization": "Bearer guess"},
        )
        found.append((wrong.status_code, wrong.headers["www-authenticate"]))
        trusted = client.post(
            "/api/v1/log/entries",
            json=hashedrekord(b"trusted"),
            headers={"authorization": f"Bearer {WRITER}"},
        )
        found.append((trusted.status_code,))

        v2 = client.post("/api/v2/log/entries", json=_v2_request(b"v2"))
        assert v2.status_code == 200, v2.text
        found.append((200, sorted(v2.json()), v2.json()["integratedTime"]))
        v2_bad = client.post("/api/v2/log/entries", content=b"{}")
        found.append((v2_bad.status_code, v2_bad.json()["code"]))

        # Only POST is dispatched: the other methods reach the log's router as before.
        listed = client.get("/api/v1/log/entries", params={"logIndex": 0})
        found.append((listed.status_code, len(listed.json())))
    return found


def test_appends_answer_the_same_through_the_instance_and_the_log_app(
    doors: dict[str, str],
) -> None:
    through_instance = _answers(doors["instance"], "/-/tlog")
    alone = _answers(doors["alone"], "")
    assert through_instance == alone
    statuses = [answer[0] for answer in alone]
    assert statuses == [201, 409, 400, 400, 400, 413, 401, 201, 200, 400, 200]
