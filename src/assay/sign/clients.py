"""The certificate authority and the transparency log over HTTP, as @sigstore/sign calls them.

One attempt per request (:mod:`assay.sign.http`); every failure —
unreachable, slow, refused, odd answer — becomes a :class:`~assay.sign.errors.SigningError`
naming the service and, where there is one, its own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.keys import spki_der, spki_pem
from assay.provenance.encoding import encode_base64
from assay.sign.errors import SigningError
from assay.sign.http import http_session, json_object, reason, request
from assay.sign.log import bundle_entry

if TYPE_CHECKING:
    from assay.sign.identity import IdentityToken

__all__ = ["HttpLog", "HttpLogV2", "request_certificate"]

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
    """A :class:`~assay.sign.log.LogWriter` over Rekor v1's ``POST /api/v1/log/entries``.

    ``bearer``: the log's writer secret (``Settings.tlog_writer_secret``), sent as
    ``Authorization: Bearer`` so that a trusted writer is not held to the per-client append
    limit (docs/operations.md, "Rate limits")."""

    def __init__(
        self, tlog_url: str, client: httpx.Client | None = None, *, bearer: str | None = None
    ) -> None:
        self.tlog_url = tlog_url.rstrip("/")
        self._client = client
        self._headers = {"Authorization": f"Bearer {bearer}"} if bearer else None

    def append(self, proposed: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.tlog_url}/api/v1/log/entries"
        with http_session(self._client) as http:
            response = request(
                http,
                "POST",
                url,
                what="the transparency log",
                json_body=dict(proposed),
                headers=self._headers,
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


class HttpLogV2:
    """Rekor v2's ``POST /api/v2/log/entries`` (rekor-tiles CLIENTS.md, sigstore.md §3.3).

    The answer is a ``TransparencyLogEntry`` in proto3 JSON, which goes into the bundle as it
    is; the log answers only once a checkpoint covers the entry, so the client waits.
    """

    def __init__(self, tlog_url: str, client: httpx.Client | None = None) -> None:
        self.tlog_url = tlog_url.rstrip("/")
        self._client = client

    def append(self, request_body: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.tlog_url}/api/v2/log/entries"
        with http_session(self._client) as http:
            response = request(
                http, "POST", url, what="the transparency log", json_body=dict(request_body)
            )
        if response.status_code not in (200, 201):
            raise SigningError(
                f"the transparency log refused the entry ({response.status_code}): "
                f"{reason(response)}",
                url=url,
                status=response.status_code,
            )
        return json_object(response, "the transparency log")
