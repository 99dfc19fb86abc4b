"""Keys, envelopes and bundles: the signing half of :mod:`assay.sign`.

:func:`sign_dsse` and :func:`sign_statement` are npm's keyless provenance signing (@sigstore/sign
``DSSEBundleBuilder``); :func:`sign_artifact` is sigstore-python's ``sign`` (a ``hashedrekord``
entry); :func:`sign_dsse_with_key` is the registry's own publish attestation (a long-lived key,
npmjs.org's v0.2 bundle). The CA is reached over HTTP (:mod:`.clients`); the log through any
:class:`~assay.sign.log.LogWriter`. Each checks that the log recorded what it sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.errors import FormatError
from assay.provenance.bundle import MEDIA_TYPE_V0_2, MEDIA_TYPE_V0_3, Bundle
from assay.provenance.dsse import Envelope, pae
from assay.provenance.encoding import encode_base64
from assay.provenance.statement import PAYLOAD_TYPE, Statement
from assay.sign.clients import HttpLog, HttpLogV2, request_certificate
from assay.sign.config import SigningConfig
from assay.sign.errors import SigningError
from assay.sign.http import http_session
from assay.sign.identity import IdentityToken
from assay.sign.log import LogWriter, logged_body
from assay.sign.timestamp import request_timestamp
from assay.transparency.rekor_v2 import HashedRekordV002, V2Signature, V2Verifier, canonical_body

__all__ = [
    "log_dsse_entry",
    "log_dsse_v002_entry",
    "log_hashedrekord_entry",
    "log_hashedrekord_v002_entry",
    "sign_artifact",
    "sign_dsse",
    "sign_dsse_with_key",
    "sign_statement",
]


# --- log entries ----------------------------------------------------------------------------------


def _check_dsse_body(body: bytes, envelope_json: str, envelope: Envelope, verifier: str) -> None:
    """The log logged our envelope: dsse 0.0.1 with our payload hash, signature and verifier.

    Rekor ``pkg/types/dsse/v0.0.1/entry.go``: ``payloadHash`` = sha256(payload),
    ``envelopeHash`` = sha256(the envelope string as submitted), ``signatures`` =
    ``[{signature, verifier}]`` (sigstore.md §3.2). Clients check the first and the last.
    """
    try:
        entry = json.loads(body)
        spec = entry["spec"]
        kind, version = entry["kind"], entry["apiVersion"]
        payload_hash = spec["payloadHash"]
        envelope_hash = spec["envelopeHash"]
        signatures = spec["signatures"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SigningError("the log's entry body is not a dsse entry") from exc
    if (kind, version) != ("dsse", "0.0.1"):
        raise SigningError(f"the log recorded a {kind} {version} entry, not dsse 0.0.1")
    expected = [{"signature": encode_base64(envelope.signatures[0].sig), "verifier": verifier}]
    if (
        payload_hash
        != {"algorithm": "sha256", "value": hashlib.sha256(envelope.payload).hexdigest()}
        or envelope_hash
        != {"algorithm": "sha256", "value": hashlib.sha256(envelope_json.encode()).hexdigest()}
        or signatures != expected
    ):
        raise SigningError("the log's entry does not record the envelope we sent")


def log_dsse_entry(log: LogWriter, envelope: Envelope, verifier_pem: str) -> dict[str, Any]:
    """Enter ``envelope`` in the log as a ``dsse`` 0.0.1 entry; the bundle's ``tlogEntries``
    item for it. ``verifier_pem`` is the signing certificate, or the public key of a keyed
    signature (the registry's publish attestations)."""
    envelope_json = envelope.to_json()
    verifier = encode_base64(verifier_pem.encode("ascii"))
    # @sigstore/sign witness/tlog/entry.js toProposedDSSEEntry.
    proposed = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope_json, "verifiers": [verifier]}},
    }
    entry = log.append(proposed)
    _check_dsse_body(logged_body(entry), envelope_json, envelope, verifier)
    return entry


def log_hashedrekord_entry(
    log: LogWriter, digest: bytes, signature: bytes, certificate_pem: str
) -> dict[str, Any]:
    """Enter a signature over a SHA-256 artifact digest as ``hashedrekord`` 0.0.1, the entry
    sigstore-python's ``sign`` makes; its canonical body is the request itself (§3.2)."""
    proposed = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {
                "content": encode_base64(signature),
                "publicKey": {"content": encode_base64(certificate_pem.encode("ascii"))},
            },
        },
    }
    entry = log.append(proposed)
    try:
        logged = json.loads(logged_body(entry))
    except ValueError as exc:
        raise SigningError("the log's entry body is not JSON") from exc
    if logged != proposed:
        raise SigningError("the log's entry does not record the signature we sent")
    return entry


def log_hashedrekord_v002_entry(
    log: HttpLogV2, digest: bytes, signature: bytes, leaf_der: bytes
) -> dict[str, Any]:
    """Enter a signature over a SHA-256 digest through Rekor v2 as ``hashedrekord`` 0.0.2 and
    return the bundle's ``tlogEntries`` item (the log's ``TransparencyLogEntry`` as it came).

    A DSSE envelope goes in this way too, with ``digest`` = SHA-256 of its PAE and its one
    signature (rekor-v2 spec §6.1.4; sigstore-python ``client_v2._build_dsse_request``). The
    entry must record exactly what we sent: its canonical body is rebuilt and compared.
    """
    verifier: dict[str, Any] = {
        "x509Certificate": {"rawBytes": encode_base64(leaf_der)},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
    }
    entry = log.append(
        {
            "hashedRekordRequestV002": {
                "digest": encode_base64(digest),
                "signature": {"content": encode_base64(signature), "verifier": verifier},
            }
        }
    )
    expected = canonical_body(
        HashedRekordV002(
            "SHA2_256",
            digest,
            V2Signature(
                signature, V2Verifier("PKIX_ECDSA_P256_SHA_256", x509_certificate=leaf_der)
            ),
        )
    )
    if entry.get("kindVersion") != {"kind": "hashedrekord", "version": "0.0.2"}:
        raise SigningError("the log did not record a hashedrekord 0.0.2 entry")
    if entry.get("canonicalizedBody") != encode_base64(expected):
        raise SigningError("the log's entry does not record the signature we sent")
    return entry


def log_dsse_v002_entry(log: HttpLogV2, envelope: Envelope, leaf_der: bytes) -> dict[str, Any]:
    """Enter a DSSE envelope through Rekor v2 as a ``dsse`` 0.0.2 entry (``dsseRequestV002``,
    what @sigstore/sign sends) and return the bundle's ``tlogEntries`` item.

    Why not hashedrekord-over-DSSE, as sigstore-python signs: npm verifies provenance with
    @sigstore/verify 3.x, which checks a v2 DSSE entry's digest against the *payload* hash, as
    ``dsse`` 0.0.2 records it; a hashedrekord entry records the PAE hash and npm refuses it
    (sigstore.md §3.3). sigstore-python 4.x refuses ``dsse`` 0.0.2 in turn; npm is the
    consumer of npm provenance.
    """
    verifier: dict[str, Any] = {
        "x509Certificate": {"rawBytes": encode_base64(leaf_der)},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
    }
    entry = log.append(
        {"dsseRequestV002": {"envelope": envelope.to_dict(), "verifiers": [verifier]}}
    )
    expected = {
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {
            "dsseV002": {
                "payloadHash": {
                    "algorithm": "SHA2_256",
                    "digest": encode_base64(hashlib.sha256(envelope.payload).digest()),
                },
                "signatures": [
                    {"content": encode_base64(envelope.signatures[0].sig), "verifier": verifier}
                ],
            }
        },
    }
    if entry.get("kindVersion") != {"kind": "dsse", "version": "0.0.2"}:
        raise SigningError("the log did not record a dsse 0.0.2 entry")
    try:
        logged = json.loads(base64.b64decode(entry.get("canonicalizedBody", ""), validate=True))
    except (ValueError, TypeError) as exc:
        raise SigningError("the log's entry body is not JSON") from exc
    if logged != expected:
        raise SigningError("the log's entry does not record the envelope we sent")
    return entry


def _timestamp_data(timestamp: bytes | None) -> dict[str, Any]:
    """``timestampVerificationData``: empty as @sigstore/bundle prints it, or our one token."""
    if timestamp is None:
        return {}
    return {"rfc3161Timestamps": [{"signedTimestamp": encode_base64(timestamp)}]}


# --- signing ------------------------------------------------------------------------------------


def _envelope(
    payload_type: str, payload: bytes, key: ec.EllipticCurvePrivateKey, keyid: str | None = None
) -> Envelope:
    signature = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    # Built from sigstore-js's JSON (protobuf-specs Envelope.toJSON), which leaves out an empty
    # keyid: this is the exact text npm 11 logs and uploads. A keyed signature names its key.
    entry = {"sig": encode_base64(signature)}
    if keyid is not None:
        entry["keyid"] = keyid
    return Envelope.from_dict(
        {"payload": encode_base64(payload), "payloadType": payload_type, "signatures": [entry]}
    )


def _leaf_der(leaf_pem: str) -> bytes:
    certificate = x509.load_pem_x509_certificate(leaf_pem.encode("ascii"))
    return certificate.public_bytes(serialization.Encoding.DER)


def _bundle(document: dict[str, Any]) -> Bundle:
    try:
        return Bundle.from_dict(document)
    except FormatError as exc:
        raise SigningError(f"the log's answer does not make a valid bundle: {exc.message}") from exc


def sign_dsse(
    payload: bytes,
    payload_type: str,
    token: str | IdentityToken,
    config: SigningConfig,
    *,
    client: httpx.Client | None = None,
    rekor_version: int = 1,
) -> Bundle:
    """Sign ``payload`` keylessly and return the v0.3 bundle npm 11 would upload.

    With ``rekor_version`` 2 the signature is timestamped by the config's TSA and logged
    through Rekor v2 as a ``dsse`` 0.0.2 entry (what @sigstore/sign makes, and npm verifies);
    the bundle carries the timestamp.

    Raises :class:`SigningError` (:class:`TokenError` for a token that cannot work).
    """
    identity = token if isinstance(token, IdentityToken) else IdentityToken.parse(token)
    identity.check()
    log_url = config.log_for(rekor_version)
    # The ephemeral key: in memory only, dropped when this call returns.
    key = ec.generate_private_key(ec.SECP256R1())
    timestamp: bytes | None = None
    with http_session(client) as http:
        leaf_pem = request_certificate(http, config.ca_url, identity, key)
        leaf_der = _leaf_der(leaf_pem)
        envelope = _envelope(payload_type, payload, key)
        if rekor_version == 1:
            entry = log_dsse_entry(HttpLog(log_url, http), envelope, leaf_pem)
        else:
            assert config.tsa_url is not None  # noqa: S101 - log_for checked it
            timestamp = request_timestamp(http, config.tsa_url, envelope.signatures[0].sig)
            entry = log_dsse_v002_entry(HttpLogV2(log_url, http), envelope, leaf_der)
    # @sigstore/bundle build.js toDSSEBundle, printed by protobuf-specs Bundle.toJSON: the
    # certificate, the entries, an empty timestampVerificationData, then the envelope.
    document = {
        "mediaType": MEDIA_TYPE_V0_3,
        "verificationMaterial": {
            "certificate": {"rawBytes": encode_base64(leaf_der)},
            "tlogEntries": [entry],
            "timestampVerificationData": _timestamp_data(timestamp),
        },
        "dsseEnvelope": envelope.to_dict(),
    }
    return _bundle(document)


def sign_statement(
    statement: Statement,
    token: str | IdentityToken,
    config: SigningConfig,
    *,
    client: httpx.Client | None = None,
    rekor_version: int = 1,
) -> Bundle:
    """Sign an in-toto statement (``application/vnd.in-toto+json``, as ``JSON.stringify``)."""
    return sign_dsse(
        statement.to_json(),
        PAYLOAD_TYPE,
        token,
        config,
        client=client,
        rekor_version=rekor_version,
    )


def sign_dsse_with_key(
    payload: bytes,
    payload_type: str,
    key: ec.EllipticCurvePrivateKey,
    keyid: str,
    log: LogWriter,
) -> Bundle:
    """Sign with a long-lived key and log it: the v0.2 bundle npmjs.org makes for its publish
    attestations (a ``publicKey`` hint naming ``keyid``, the keyid on the DSSE signature)."""
    envelope = _envelope(payload_type, payload, key, keyid)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    entry = log_dsse_entry(log, envelope, public_pem)
    document = {
        "mediaType": MEDIA_TYPE_V0_2,
        "verificationMaterial": {
            "publicKey": {"hint": keyid},
            "tlogEntries": [entry],
            "timestampVerificationData": {"rfc3161Timestamps": []},
        },
        "dsseEnvelope": envelope.to_dict(),
    }
    return _bundle(document)


def sign_artifact(
    artifact: bytes,
    token: str | IdentityToken,
    config: SigningConfig,
    *,
    client: httpx.Client | None = None,
    rekor_version: int = 1,
) -> Bundle:
    """Sign a file keylessly as sigstore-python's ``sign`` does: an ECDSA signature over its
    SHA-256 digest, a ``hashedrekord`` entry (0.0.1 through Rekor v1; 0.0.2 through Rekor v2,
    with a TSA timestamp), a v0.3 bundle with a ``messageSignature``."""
    identity = token if isinstance(token, IdentityToken) else IdentityToken.parse(token)
    identity.check()
    log_url = config.log_for(rekor_version)
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    timestamp: bytes | None = None
    with http_session(client) as http:
        leaf_pem = request_certificate(http, config.ca_url, identity, key)
        leaf_der = _leaf_der(leaf_pem)
        if rekor_version == 1:
            entry = log_hashedrekord_entry(HttpLog(log_url, http), digest, signature, leaf_pem)
        else:
            assert config.tsa_url is not None  # noqa: S101 - log_for checked it
            timestamp = request_timestamp(http, config.tsa_url, signature)
            entry = log_hashedrekord_v002_entry(
                HttpLogV2(log_url, http), digest, signature, leaf_der
            )
    document = {
        "mediaType": MEDIA_TYPE_V0_3,
        "verificationMaterial": {
            "certificate": {"rawBytes": encode_base64(leaf_der)},
            "tlogEntries": [entry],
            "timestampVerificationData": _timestamp_data(timestamp),
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": encode_base64(digest)},
            "signature": encode_base64(signature),
        },
    }
    return _bundle(document)
