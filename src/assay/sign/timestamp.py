"""The signer's TSA client: an RFC 3161 timestamp over the signature, as sigstore-python asks.

sigstore.md §3.4: ``POST <tsa url>`` with ``Content-Type: application/timestamp-query`` and a
DER ``TimeStampReq`` over SHA-256 of the **signature bytes**, with a random nonce and certReq
TRUE (rfc3161-client's defaults); a DER ``TimeStampResp`` comes back and goes into the bundle's
``timestampVerificationData.rfc3161Timestamps`` as it came.

We check what is ours to check — the TSA granted, and its TSTInfo carries our imprint and our
nonce (RFC 3161 §2.4.2: "the client MUST check" both) — and leave the signature, the chain and
the validity window to whoever verifies the bundle against a trusted root (:mod:`assay.verify`).
"""

from __future__ import annotations

import hashlib
import secrets

import httpx

from assay.errors import FormatError
from assay.provenance import der
from assay.sign.errors import SigningError
from assay.sign.http import reason, request

__all__ = ["request_timestamp"]

_SHA256 = "2.16.840.1.101.3.4.2.1"
_ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_ID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"


def timestamp_request(signature: bytes, nonce: int) -> tuple[bytes, bytes]:
    """``(TimeStampReq DER, the MessageImprint DER it carries)`` for ``signature``."""
    imprint = der.sequence(
        der.algorithm_identifier(_SHA256, parameters=der.null()),
        der.octet_string(hashlib.sha256(signature).digest()),
    )
    body = der.sequence(der.integer(1), imprint, der.integer(nonce), der.boolean(True))
    return body, imprint


def check_response(response: bytes, imprint: bytes, nonce: int) -> None:
    """The TSA granted, and its TSTInfo echoes our imprint and nonce (RFC 3161 §2.4.2)."""
    try:
        fields = der.read_single(response).children()
        status = fields[0].children()[0].as_integer()
        if status not in (0, 1):  # granted, grantedWithMods
            raise SigningError(f"the timestamp authority refused the request (status {status})")
        if len(fields) != 2:
            raise FormatError("a granted TimeStampResp carries exactly one token")
        content_info = fields[1].children()
        if content_info[0].as_oid() != _ID_SIGNED_DATA:
            raise FormatError("the token is not CMS SignedData")
        signed_data = content_info[1].children()[0].children()
        encapsulated = signed_data[2].children()
        if encapsulated[0].as_oid() != _ID_CT_TST_INFO:
            raise FormatError("the token does not hold a TSTInfo")
        tst_info = der.read_single(encapsulated[1].children()[0].as_octets()).children()
        echoed = tst_info[2].encoding
        nonces = [f.as_integer() for f in tst_info[5:] if f.tag == der.INTEGER]
    except (FormatError, IndexError) as exc:
        raise SigningError(
            f"the timestamp authority's answer is not a TimeStampResp: {exc}"
        ) from exc
    if echoed != imprint:
        raise SigningError("the timestamp authority timestamped another digest")
    if nonces != [nonce]:
        raise SigningError("the timestamp authority's answer does not carry our nonce")


def request_timestamp(client: httpx.Client, tsa_url: str, signature: bytes) -> bytes:
    """The DER ``TimeStampResp`` the TSA at ``tsa_url`` (its full URL) gives for ``signature``."""
    nonce = secrets.randbits(63)
    body, imprint = timestamp_request(signature, nonce)
    response = request(
        client,
        "POST",
        tsa_url,
        what="the timestamp authority",
        content=body,
        headers={"Content-Type": "application/timestamp-query"},
    )
    if response.status_code not in (200, 201):
        raise SigningError(
            f"the timestamp authority refused the request ({response.status_code}): "
            f"{reason(response)}",
            url=tsa_url,
            status=response.status_code,
        )
    check_response(response.content, imprint, nonce)
    return response.content
