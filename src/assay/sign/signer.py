"""Keyless signing: identity token → ephemeral key → certificate → DSSE → log entry → bundle.

This is what ``npm publish --provenance`` does through @sigstore/sign (npm-registry.md §1.4–1.6),
done against whichever CA and log a signing config names (sigstore.md §5.2):

1. An OIDC identity token (audience ``sigstore``) from the CI job: GitHub's ambient credential
   (``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore`` → ``{"value": …}``) or
   ``SIGSTORE_ID_TOKEN`` (:func:`ci_identity_token`, @sigstore/sign ``identity/ci.js``).
2. A fresh P-256 key that lives only in this process (never written, never logged).
3. ``POST <ca>/api/v2/signingCert`` in sigstore-js's ``publicKeyRequest`` shape: the PEM public
   key and a proof of possession, the key's signature over the token's ``email`` (when the
   issuer verified it) or ``sub`` (@sigstore/sign ``util/oidc.js``, sigstore.md §1.1). The leaf
   certificate is the first of the returned chain.
4. The DSSE envelope over the statement, signed with the same key (PAE, ECDSA-SHA256).
5. ``POST <tlog>/api/v1/log/entries`` with a ``dsse`` 0.0.1 proposed entry: the envelope as a
   JSON string and the base64 of the leaf's PEM as verifier (sigstore.md §3.2).
6. A v0.3 bundle (``certificate`` = the leaf DER) whose tlog entry is converted from the v1
   response as both reference clients convert it (sigstore.md §4): hex ``logID``, ``rootHash``
   and ``hashes`` to bytes, ``body`` kept as ``canonicalizedBody``, kind and version read from
   the body, the SET as ``inclusionPromise`` and the proof with its checkpoint.

We check what is ours to check and leave verification to :mod:`assay.verify`: the certificate
must certify our key, and the log must have logged what we sent (the body's payload hash,
signature and verifier; the envelope hash). Chains, SCTs, SETs and inclusion proofs are the
verifier's job; a bundle is verified by whoever relies on it (the registry, before it stores it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay import __version__
from assay.errors import AssayError, FormatError
from assay.keys import spki_der, spki_pem
from assay.provenance.bundle import (
    MEDIA_TYPE_V0_2,
    MEDIA_TYPE_V0_3,
    Bundle,
    KindVersion,
)
from assay.provenance.dsse import Envelope, pae
from assay.provenance.encoding import encode_base64
from assay.provenance.statement import PAYLOAD_TYPE, Statement

__all__ = [
    "DEFAULT_TIMEOUT",
    "SIGNING_CONFIG_MEDIA_TYPE",
    "IdentityToken",
    "SigningConfig",
    "SigningError",
    "TokenError",
    "ci_identity_token",
    "sign_dsse",
    "sign_statement",
]

SIGNING_CONFIG_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
# @sigstore/sign's default per-request timeout is 5 s with retries; we make one attempt with a
# longer budget, so a slow log answers instead of being asked twice.
DEFAULT_TIMEOUT: Final = 30.0
SIGSTORE_AUDIENCE: Final = "sigstore"
_USER_AGENT: Final = f"assay/{__version__}"


class SigningError(AssayError):
    """Keyless signing failed: a service refused, answered oddly, or could not be reached."""


class TokenError(SigningError):
    """No usable OIDC identity token."""


# --- the signing config -------------------------------------------------------------------------


def _parse_time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise SigningError(f"signing config: {where} must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SigningError(f"signing config: {where} is not an RFC 3339 time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _select(services: object, kind: str, now: datetime) -> str:
    """The first service of ``kind`` with API v1 valid at ``now`` (selector ``ANY``).

    sigstore.md §5.2: each entry has ``url``, ``majorApiVersion``, ``validFor`` and
    ``operator``. We speak only v1 of Fulcio and Rekor, so v2 logs are skipped.
    """
    if not isinstance(services, list):
        raise SigningError(f"signing config: {kind} must be a list")
    for index, service in enumerate(services):
        where = f"{kind}[{index}]"
        if not isinstance(service, dict) or not isinstance(service.get("url"), str):
            raise SigningError(f"signing config: {where} has no url")
        if service.get("majorApiVersion", 1) != 1:
            continue
        valid = service.get("validFor") or {}
        if not isinstance(valid, dict):
            raise SigningError(f"signing config: {where}.validFor must be an object")
        if "start" in valid and _parse_time(valid["start"], f"{where}.validFor.start") > now:
            continue
        if "end" in valid and _parse_time(valid["end"], f"{where}.validFor.end") < now:
            continue
        url: str = service["url"].rstrip("/")
        if urlsplit(url).scheme not in ("http", "https"):
            raise SigningError(f"signing config: {where}.url is not an http(s) URL: {url!r}")
        return url
    raise SigningError(f"signing config: no {kind} entry with majorApiVersion 1 is valid now")


@dataclass(frozen=True, slots=True)
class SigningConfig:
    """Where to get a certificate and a log entry: base URLs of a Fulcio v2 and a Rekor v1 API."""

    ca_url: str
    tlog_url: str
    oidc_url: str | None = None

    @classmethod
    def from_dict(cls, document: object, *, now: datetime | None = None) -> SigningConfig:
        """From a signing_config v0.2 or a client trust config (its ``signingConfig`` member)."""
        if not isinstance(document, dict):
            raise SigningError("signing config must be a JSON object")
        if document.get("mediaType") == CLIENT_TRUST_CONFIG_MEDIA_TYPE:
            return cls.from_dict(document.get("signingConfig"), now=now)
        if document.get("mediaType") != SIGNING_CONFIG_MEDIA_TYPE:
            raise SigningError(
                f"not a signing config: mediaType {document.get('mediaType')!r} "
                f"(expected {SIGNING_CONFIG_MEDIA_TYPE!r} or a client trust config)"
            )
        moment = now or datetime.now(UTC)
        oidc = document.get("oidcUrls") or []
        return cls(
            ca_url=_select(document.get("caUrls"), "caUrls", moment),
            tlog_url=_select(document.get("rekorTlogUrls"), "rekorTlogUrls", moment),
            oidc_url=_select(oidc, "oidcUrls", moment) if oidc else None,
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "signing config") -> SigningConfig:
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SigningError(f"{source} is not JSON: {exc}", source=source) from exc
        return cls.from_dict(document)

    @classmethod
    def from_file(cls, path: Path) -> SigningConfig:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
        return cls.from_json(text, source=str(path))

    @classmethod
    def fetch(cls, instance: str, *, client: httpx.Client | None = None) -> SigningConfig:
        """The signing config an Assay instance serves at ``/-/trust/signing_config.json``."""
        url = f"{instance.rstrip('/')}/-/trust/signing_config.json"
        with _client(client) as http:
            response = _request(http, "GET", url, what="the signing config")
        if response.status_code != 200:
            raise SigningError(
                f"GET {url} answered {response.status_code}: {_reason(response)}", url=url
            )
        return cls.from_json(response.content, source=url)


# --- identity tokens ----------------------------------------------------------------------------


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass(frozen=True, slots=True)
class IdentityToken:
    """An OIDC JWT, read but not verified (the CA verifies it; sigstore.md §1.2)."""

    raw: str = field(repr=False)  # a bearer credential: never in reprs or logs
    claims: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, raw: str) -> IdentityToken:
        token = raw.strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("the identity token is not a JWT (expected three dot-separated parts)")
        try:
            claims = json.loads(_b64url(parts[1]))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise TokenError("the identity token's claims are not base64url JSON") from exc
        if not isinstance(claims, dict):
            raise TokenError("the identity token's claims are not a JSON object")
        return cls(raw=token, claims=claims)

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))

    @property
    def challenge(self) -> str:
        """What the proof of possession signs: ``email`` if present (and verified), else ``sub``.

        @sigstore/sign ``util/oidc.js extractJWTSubject``; Fulcio's CI-provider principals check
        ``sub`` and email principals check ``email`` (sigstore.md §1.1).
        """
        email = self.claims.get("email")
        if email:
            if not self.claims.get("email_verified"):
                raise TokenError("JWT email not verified by issuer")
            return str(email)
        subject = self.claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenError("JWT subject not found")
        return subject

    def check(self, *, now: float | None = None) -> None:
        """Refuse a token the CA would refuse anyway, with a clearer message.

        sigstore-python's ``IdentityToken`` checks ``aud`` and expiry (5 s leeway); so do we.
        """
        audience = self.claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if SIGSTORE_AUDIENCE not in audiences:
            raise TokenError(
                f"the identity token's audience is {audience!r}, not {SIGSTORE_AUDIENCE!r}",
                issuer=self.issuer,
            )
        expires = self.claims.get("exp")
        moment = time.time() if now is None else now
        if isinstance(expires, int | float) and expires + 5 < moment:
            raise TokenError("the identity token has expired", issuer=self.issuer)


def ci_identity_token(env: Mapping[str, str], *, client: httpx.Client | None = None) -> str:
    """The Sigstore identity token of the CI job ``env`` describes, found as npm finds it.

    @sigstore/sign ``CIContextProvider('sigstore')`` is a ``Promise.any`` of GitHub's ambient
    credential and ``SIGSTORE_ID_TOKEN`` (npm-registry.md §1.5): whichever works. Raises
    :class:`TokenError` when neither does, naming why.
    """
    problems: list[str] = []
    request_url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if request_url and request_token:
        try:
            return github_actions_token(request_url, request_token, client=client)
        except TokenError as exc:
            problems.append(exc.message)
    elif request_url:
        problems.append("ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set")
    sigstore_token = env.get("SIGSTORE_ID_TOKEN")
    if sigstore_token:
        return sigstore_token
    problems.append("SIGSTORE_ID_TOKEN is not set")
    raise TokenError("no identity token: " + "; ".join(problems))


def github_actions_token(
    request_url: str, request_token: str, *, client: httpx.Client | None = None
) -> str:
    """Trade GitHub's ambient credential for a token with audience ``sigstore``.

    As @sigstore/sign ``identity/ci.js`` does: ``audience=sigstore`` appended to the request
    URL's query (which already has one), ``Authorization: Bearer``, ``Accept: application/json``;
    the token is the response's ``value``.
    """
    separator = "&" if urlsplit(request_url).query else "?"
    url = f"{request_url}{separator}audience={SIGSTORE_AUDIENCE}"
    with _client(client) as http:
        try:
            response = http.get(
                url,
                headers={"Authorization": f"Bearer {request_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TokenError(f"cannot reach the GitHub Actions token endpoint: {exc}") from exc
    if response.status_code != 200:
        raise TokenError(
            f"the GitHub Actions token endpoint answered {response.status_code}: "
            f"{_reason(response)}"
        )
    try:
        value = response.json().get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise TokenError("the GitHub Actions token endpoint answered without a token value")
    return value


# --- HTTP ---------------------------------------------------------------------------------------


class _client:
    """Use the caller's client, or a fresh one closed on exit."""

    def __init__(self, client: httpx.Client | None) -> None:
        self._given = client
        self._own: httpx.Client | None = None

    def __enter__(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        self._own = httpx.Client(timeout=DEFAULT_TIMEOUT, headers={"User-Agent": _USER_AGENT})
        return self._own

    def __exit__(self, *_: object) -> None:
        if self._own is not None:
            self._own.close()


def _reason(response: httpx.Response) -> str:
    """The message of a Fulcio/Rekor/npm error body, or the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return json.dumps(body)[:300]


def _request(
    client: httpx.Client, method: str, url: str, *, what: str, json_body: object = None
) -> httpx.Response:
    try:
        return client.request(method, url, json=json_body)
    except httpx.TimeoutException as exc:
        raise SigningError(f"{what} at {url} did not answer in time", url=url) from exc
    except httpx.HTTPError as exc:
        raise SigningError(f"cannot reach {what} at {url}: {exc}", url=url) from exc


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SigningError(f"{what} answered with something that is not JSON") from exc
    if not isinstance(body, dict):
        raise SigningError(f"{what} answered with JSON that is not an object")
    return body


# --- the CA -------------------------------------------------------------------------------------


def _certificate(
    client: httpx.Client,
    config: SigningConfig,
    token: IdentityToken,
    key: ec.EllipticCurvePrivateKey,
) -> str:
    """The leaf certificate (PEM, as the CA wrote it) for ``key`` and ``token``'s identity."""
    proof = key.sign(token.challenge.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    # @sigstore/sign signer/fulcio/ca.js toCertificateRequest.
    request = {
        "credentials": {"oidcIdentityToken": token.raw},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": spki_pem(key)},
            "proofOfPossession": encode_base64(proof),
        },
    }
    url = f"{config.ca_url}/api/v2/signingCert"
    response = _request(client, "POST", url, what="the certificate authority", json_body=request)
    if response.status_code not in (200, 201):
        raise SigningError(
            f"the certificate authority refused to issue a certificate "
            f"({response.status_code}): {_reason(response)}",
            url=url,
            status=response.status_code,
        )
    body = _json_object(response, "the certificate authority")
    # Either form; sigstore-js keeps only the leaf (signer/fulcio/ca.js).
    signed = body.get("signedCertificateEmbeddedSct") or body.get("signedCertificateDetachedSct")
    chain = signed.get("chain") if isinstance(signed, dict) else None
    certificates = chain.get("certificates") if isinstance(chain, dict) else None
    if (
        not isinstance(certificates, list)
        or not certificates
        or not isinstance(certificates[0], str)
    ):
        raise SigningError("the certificate authority answered without a certificate chain")
    leaf_pem: str = certificates[0]
    try:
        leaf = x509.load_pem_x509_certificate(leaf_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SigningError("the certificate authority's leaf certificate is not PEM") from exc
    certified = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if certified != spki_der(key):
        raise SigningError("the certificate authority certified a key that is not ours")
    return leaf_pem


# --- the log ------------------------------------------------------------------------------------


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


def _check_body(body: bytes, envelope_json: str, envelope: Envelope, verifier: str) -> KindVersion:
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
    return KindVersion(kind=kind, version=version)


def log_dsse_entry(
    client: httpx.Client, tlog_url: str, envelope: Envelope, verifier_pem: str
) -> dict[str, Any]:
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
    return _log_entry(
        client,
        tlog_url,
        proposed,
        lambda body: _check_body(body, envelope_json, envelope, verifier),
    )


def log_hashedrekord_entry(
    client: httpx.Client, tlog_url: str, digest: bytes, signature: bytes, certificate_pem: str
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

    def check(body: bytes) -> KindVersion:
        try:
            logged = json.loads(body)
        except ValueError as exc:
            raise SigningError("the log's entry body is not JSON") from exc
        if logged != proposed:
            raise SigningError("the log's entry does not record the signature we sent")
        return KindVersion(kind="hashedrekord", version="0.0.1")

    return _log_entry(client, tlog_url, proposed, check)


def _log_entry(
    client: httpx.Client,
    tlog_url: str,
    proposed: dict[str, Any],
    check_body: Callable[[bytes], KindVersion],
) -> dict[str, Any]:
    url = f"{tlog_url}/api/v1/log/entries"
    response = _request(client, "POST", url, what="the transparency log", json_body=proposed)
    if response.status_code != 201:
        raise SigningError(
            f"the transparency log refused the entry ({response.status_code}): {_reason(response)}",
            url=url,
            status=response.status_code,
        )
    entries = _json_object(response, "the transparency log")
    if len(entries) != 1:
        raise SigningError("the transparency log answered with other than one entry")
    (entry,) = entries.values()
    if not isinstance(entry, dict):
        raise SigningError("the transparency log's entry is not an object")
    try:
        body = base64.b64decode(entry.get("body", ""), validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise SigningError("the log's entry body is not base64") from exc
    kind_version = check_body(body)
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
    # witness/tlog/index.js toTransparencyLogEntry: hex → base64, body kept, kind and version
    # from the body. Unlike protobuf-specs' printer we keep zero and empty values (logIndex 0 of
    # a new log, an empty proof of a one-entry tree): sigstore-python requires the fields.
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
) -> Bundle:
    """Sign ``payload`` keylessly and return the v0.3 bundle npm 11 would upload.

    Raises :class:`SigningError` (:class:`TokenError` for a token that cannot work).
    """
    identity = token if isinstance(token, IdentityToken) else IdentityToken.parse(token)
    identity.check()
    # The ephemeral key: in memory only, dropped when this call returns.
    key = ec.generate_private_key(ec.SECP256R1())
    with _client(client) as http:
        leaf_pem = _certificate(http, config, identity, key)
        envelope = _envelope(payload_type, payload, key)
        entry = log_dsse_entry(http, config.tlog_url, envelope, leaf_pem)
    leaf_der = _leaf_der(leaf_pem)
    # @sigstore/bundle build.js toDSSEBundle, printed by protobuf-specs Bundle.toJSON: the
    # certificate, the entries, an empty timestampVerificationData, then the envelope.
    document = {
        "mediaType": MEDIA_TYPE_V0_3,
        "verificationMaterial": {
            "certificate": {"rawBytes": encode_base64(leaf_der)},
            "tlogEntries": [entry],
            "timestampVerificationData": {},
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
) -> Bundle:
    """Sign an in-toto statement (``application/vnd.in-toto+json``, as ``JSON.stringify``)."""
    return sign_dsse(statement.to_json(), PAYLOAD_TYPE, token, config, client=client)


def sign_dsse_with_key(
    payload: bytes,
    payload_type: str,
    key: ec.EllipticCurvePrivateKey,
    keyid: str,
    tlog_url: str,
    *,
    client: httpx.Client | None = None,
) -> Bundle:
    """Sign with a long-lived key and log it: the v0.2 bundle npmjs.org makes for its publish
    attestations (a ``publicKey`` hint naming ``keyid``, the keyid on the DSSE signature)."""
    envelope = _envelope(payload_type, payload, key, keyid)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    with _client(client) as http:
        entry = log_dsse_entry(http, tlog_url, envelope, public_pem)
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
) -> Bundle:
    """Sign a file keylessly as sigstore-python's ``sign`` does: an ECDSA signature over its
    SHA-256 digest, a ``hashedrekord`` entry, a v0.3 bundle with a ``messageSignature``."""
    identity = token if isinstance(token, IdentityToken) else IdentityToken.parse(token)
    identity.check()
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    with _client(client) as http:
        leaf_pem = _certificate(http, config, identity, key)
        entry = log_hashedrekord_entry(http, config.tlog_url, digest, signature, leaf_pem)
    leaf_der = _leaf_der(leaf_pem)
    document = {
        "mediaType": MEDIA_TYPE_V0_3,
        "verificationMaterial": {
            "certificate": {"rawBytes": encode_base64(leaf_der)},
            "tlogEntries": [entry],
            "timestampVerificationData": {},
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": encode_base64(digest)},
            "signature": encode_base64(signature),
        },
    }
    return _bundle(document)
