"""The certificate authority and the transparency log over HTTP, as @sigstore/sign calls them.

One attempt per request with a generous timeout (:data:`DEFAULT_TIMEOUT`); every failure —
unreachable, slow, refused, odd answer — becomes a :class:`~assay.sign.errors.SigningError`
naming the service and, where there is one, its own message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay import __version__
from assay.keys import spki_der, spki_pem
from assay.provenance.encoding import encode_base64
from assay.sign.errors import SigningError
from assay.sign.log import bundle_entry

if TYPE_CHECKING:  # identity fetches tokens through this module's HTTP helpers
    from assay.sign.identity import IdentityToken

__all__ = ["DEFAULT_TIMEOUT", "HttpLog", "http_session", "json_object", "reason", "request"]

# @sigstore/sign's default per-request timeout is 5 s with retries; we make one attempt with a
# longer budget, so a slow log answers instead of being asked twice.
DEFAULT_TIMEOUT: Final = 30.0
_USER_AGENT: Final = f"assay/{__version__}"


class http_session:
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


def reason(response: httpx.Response) -> str:
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


def request(
    client: httpx.Client, method: str, url: str, *, what: str, json_body: object = None
) -> httpx.Response:
    try:
        return client.request(method, url, json=json_body)
    except httpx.TimeoutException as exc:
        raise SigningError(f"{what} at {url} did not answer in time", url=url) from exc
    except httpx.HTTPError as exc:
        raise SigningError(f"cannot reach {what} at {url}: {exc}", url=url) from exc


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SigningError(f"{what} answered with something that is not JSON") from exc
    if not isinstance(body, dict):
        raise SigningError(f"{what} answered with JSON that is not an object")
    return body


# --- the CA -------------------------------------------------------------------------------------


def request_certificate(
    client: httpx.Client,
    ca_url: str,
    token: IdentityToken,
    key: ec.EllipticCurvePrivateKey,
) -> str:
    """The leaf certificate (PEM, as the CA wrote it) for ``key`` and ``token``'s identity."""
    proof = key.sign(token.challenge.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    # @sigstore/sign signer/fulcio/ca.js toCertificateRequest.
    body = {
        "credentials": {"oidcIdentityToken": token.raw},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": spki_pem(key)},
            "proofOfPossession": encode_base64(proof),
        },
    }
    url = f"{ca_url}/api/v2/signingCert"
    response = request(client, "POST", url, what="the certificate authority", json_body=body)
    if response.status_code not in (200, 201):
        raise SigningError(
            f"the certificate authority refused to issue a certificate "
            f"({response.status_code}): {reason(response)}",
            url=url,
            status=response.status_code,
        )
    answer = json_object(response, "the certificate authority")
    # Either form; sigstore-js keeps only the leaf (signer/fulcio/ca.js).
    signed = answer.get("signedCertificateEmbeddedSct") or answer.get(
        "signedCertificateDetachedSct"
    )
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


class HttpLog:
    """A :class:`~assay.sign.log.LogWriter` over Rekor v1's ``POST /api/v1/log/entries``."""

    def __init__(self, tlog_url: str, client: httpx.Client | None = None) -> None:
        self.tlog_url = tlog_url.rstrip("/")
        self._client = client

    def append(self, proposed: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.tlog_url}/api/v1/log/entries"
        with http_session(self._client) as http:
            response = request(
                http, "POST", url, what="the transparency log", json_body=dict(proposed)
            )
        if response.status_code != 201:
            raise SigningError(
                f"the transparency log refused the entry ({response.status_code}): "
                f"{reason(response)}",
                url=url,
                status=response.status_code,
            )
        entries = json_object(response, "the transparency log")
        if len(entries) != 1:
            raise SigningError("the transparency log answered with other than one entry")
        (entry,) = entries.values()
        return bundle_entry(entry)
