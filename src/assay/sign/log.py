"""The log-writer seam: how a signer gets an entry into a transparency log.

A signer hands a Rekor v1 *proposed entry* (sigstore.md §3.2) to a :class:`LogWriter` and gets
back the bundle's ``tlogEntries`` item for it. Two writers exist: :class:`~assay.sign.clients.
HttpLog` posts to a log's ``/api/v1/log/entries`` (what every Sigstore client does), and
:class:`InProcessLog` calls a log service running in the same process — DESIGN.md: "a service
that needs another in the same process calls it through a Protocol, not over HTTP". Both read
the same Rekor ``LogEntry`` object and convert it the same way (:func:`bundle_entry`), so the
entries and bundles are identical whichever writer made them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Protocol

import anyio
import anyio.from_thread

from assay.errors import AssayError
from assay.provenance.bundle import KindVersion
from assay.provenance.encoding import encode_base64
from assay.sign.errors import SigningError

__all__ = ["InProcessLog", "LogAppender", "LogWriter", "bundle_entry", "logged_body"]

# The same budget as one HTTP request to a log (assay.sign.clients.DEFAULT_TIMEOUT).
_TIMEOUT = 30.0


class LogWriter(Protocol):
    """Appends entries to one transparency log."""

    def append(self, proposed: Mapping[str, Any]) -> dict[str, Any]:
        """Enter ``proposed`` (a Rekor v1 ``ProposedEntry``: ``apiVersion``, ``kind``, ``spec``)
        and return it as a v0.3 bundle's ``tlogEntries`` item, once the log has committed it.

        Raises :class:`~assay.sign.errors.SigningError` when the log refuses, cannot be reached
        or answers with something that is not a logged entry. Checking that the entry records
        what was sent is the caller's job (it knows what it sent).
        """
        ...


class LogAppender(Protocol):
    """What :class:`InProcessLog` needs of a log service (``assay.tlog.service.LogService``):
    Rekor's ``POST /api/v1/log/entries`` without HTTP — the request body in, the entry ID and
    the ``LogEntry`` object out."""

    async def create(self, request_body: bytes) -> tuple[str, dict[str, Any]]: ...


class InProcessLog:
    """A :class:`LogWriter` that calls the log service of this process directly.

    The log's sequencer runs on the event loop that serves requests, and signers are
    synchronous; so :meth:`append` must be called from a worker thread of that loop (as the
    registry's handlers run, through ``run_in_threadpool``) and hands the append to the loop.
    The request body is the JSON an HTTP client would send, so the log sees the same entry.
    """

    def __init__(self, service: LogAppender, *, timeout: float = _TIMEOUT) -> None:
        self._service = service
        self._timeout = timeout

    def append(self, proposed: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(proposed, separators=(",", ":")).encode("utf-8")
        try:
            _entry_id, entry = anyio.from_thread.run(self._create, body)
        except TimeoutError as exc:
            raise SigningError("the transparency log did not answer in time") from exc
        except SigningError:
            raise
        except AssayError as exc:
            # What the log's HTTP API answers with 4xx/5xx (duplicate, overloaded, malformed).
            raise SigningError(
                f"the transparency log refused the entry: {exc.message}", **exc.details
            ) from exc
        return bundle_entry(entry)

    async def _create(self, body: bytes) -> tuple[str, dict[str, Any]]:
        with anyio.fail_after(self._timeout):
            return await self._service.create(body)


# --- Rekor v1 LogEntry → bundle tlog entry --------------------------------------------------------


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise SigningError(f"the log's {what} is not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise SigningError(f"the log's {what} is not hex: {value!r}") from exc


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SigningError(f"the log's {what} is not an integer")
    return value


def _kind_version(body: bytes) -> KindVersion:
    try:
        logged = json.loads(body)
        kind, version = logged["kind"], logged["apiVersion"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SigningError("the log's entry body is not a Rekor entry") from exc
    if not isinstance(kind, str) or not isinstance(version, str):
        raise SigningError("the log's entry body is not a Rekor entry")
    return KindVersion(kind=kind, version=version)


def bundle_entry(entry: object) -> dict[str, Any]:
    """A Rekor v1 ``LogEntry`` object as a bundle's ``tlogEntries`` item.

    witness/tlog/index.js toTransparencyLogEntry: hex → base64, body kept, kind and version from
    the body. Unlike protobuf-specs' printer we keep zero and empty values (logIndex 0 of a new
    log, an empty proof of a one-entry tree): sigstore-python requires the fields.
    """
    if not isinstance(entry, dict):
        raise SigningError("the transparency log's entry is not an object")
    try:
        body = base64.b64decode(entry.get("body", ""), validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise SigningError("the log's entry body is not base64") from exc
    kind_version = _kind_version(body)
    verification = entry.get("verification")
    if not isinstance(verification, dict):
        raise SigningError("the transparency log answered without verification data")
    proof = verification.get("inclusionProof")
    set_b64 = verification.get("signedEntryTimestamp")
    if not isinstance(proof, dict) or not isinstance(proof.get("checkpoint"), str):
        raise SigningError(
            "the transparency log answered without an inclusion proof and checkpoint"
        )
    if not isinstance(set_b64, str) or not set_b64:
        raise SigningError("the transparency log answered without a signed entry timestamp")
    hashes_hex = proof.get("hashes")
    if not isinstance(hashes_hex, list):
        raise SigningError("the log's inclusion proof has no hashes list")
    return {
        "logIndex": str(_int(entry.get("logIndex"), "logIndex")),
        "logId": {"keyId": encode_base64(_hex(entry.get("logID"), "logID"))},
        "kindVersion": kind_version.to_dict(),
        "integratedTime": str(_int(entry.get("integratedTime"), "integratedTime")),
        "inclusionPromise": {"signedEntryTimestamp": set_b64},
        "inclusionProof": {
            "logIndex": str(_int(proof.get("logIndex"), "inclusionProof.logIndex")),
            "rootHash": encode_base64(_hex(proof.get("rootHash"), "inclusionProof.rootHash")),
            "treeSize": str(_int(proof.get("treeSize"), "inclusionProof.treeSize")),
            "hashes": [encode_base64(_hex(h, "inclusionProof.hashes")) for h in hashes_hex],
            "checkpoint": {"envelope": proof["checkpoint"]},
        },
        "canonicalizedBody": encode_base64(body),
    }


def logged_body(entry: Mapping[str, Any]) -> bytes:
    """The canonical body of a :func:`bundle_entry` result (what the log committed)."""
    return base64.b64decode(entry["canonicalizedBody"])
