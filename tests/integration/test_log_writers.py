"""The two log writers of `assay.sign.log`: appending in process makes the entry HTTP would.

The all-in-one instance's registry logs its publish attestations through `InProcessLog` (no HTTP
request to itself); a separate registry posts them with `HttpLog`. Here one attestation is
logged in process and read back over the log's HTTP API: the bundle's entry is exactly what the
HTTP writer makes of the log's answer. A refusal of the log becomes a `SigningError`, as a 4xx
does over HTTP.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from assay.keys import Signer, generate_ec, npm_key_id
from assay.provenance.bundle import Bundle
from assay.provenance.publish import publish_statement
from assay.provenance.statement import PAYLOAD_TYPE
from assay.provenance.subject import Digest
from assay.sign.errors import SigningError
from assay.sign.log import InProcessLog, bundle_entry
from assay.sign.signer import sign_dsse_with_key
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.tlog_store import TlogStore
from assay.tlog.app import create_app
from assay.tlog.sequencer import LogIdentity, Sequencer
from assay.tlog.service import LogService
from tests.servers import serve_app


def _log_service(path: Path) -> LogService:
    engine = open_engine(sqlite_url(path))
    migrate(engine)
    store = TlogStore(engine)
    identity = LogIdentity(name="log.test", tree_id=42, signer=Signer(generate_ec()))
    return LogService(store, identity, Sequencer(store, identity))


def test_in_process_entry_is_the_entry_http_serves(tmp_path: Path) -> None:
    service = _log_service(tmp_path / "log.db")
    key = generate_ec("P-256")
    statement = publish_statement("widget", "1.0.0", "https://registry.test", Digest.of(b"tarball"))

    def sign() -> Bundle:
        # As the registry's handlers run: in a worker thread of the loop that runs the log.
        return sign_dsse_with_key(
            statement.to_json(), PAYLOAD_TYPE, key, npm_key_id(key.public_key()),
            InProcessLog(service),
        )  # fmt: skip

    async def main() -> Bundle:
        bundle: Bundle = await anyio.to_thread.run_sync(sign)
        await service.sequencer.stop()
        return bundle

    bundle = anyio.run(main)
    document: Any = json.loads(bundle.to_json())
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    assert entry["logIndex"] == "0"
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}

    # The same entry through the log's HTTP API, converted as HttpLog converts an answer.
    with serve_app(create_app(service)) as url:
        answer = httpx.get(f"{url}/api/v1/log/entries", params={"logIndex": 0}).json()
    (served,) = answer.values()
    assert bundle_entry(served) == entry
    logged = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    signature = document["dsseEnvelope"]["signatures"][0]["sig"]
    assert logged["spec"]["signatures"][0]["signature"] == signature


def test_a_refusal_in_process_is_a_signing_error(tmp_path: Path) -> None:
    service = _log_service(tmp_path / "log.db")
    proposed: dict[str, Any] = {"apiVersion": "0.0.1", "kind": "dsse", "spec": {}}

    async def main() -> None:
        try:
            with pytest.raises(SigningError, match="transparency log refused the entry"):
                await anyio.to_thread.run_sync(InProcessLog(service).append, proposed)
        finally:
            await service.sequencer.stop()

    anyio.run(main)
