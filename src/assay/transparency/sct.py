"""Signed certificate timestamps: the signed struct and the check of an embedded SCT
(RFC 6962 §3.2–§3.3; sigstore.md §2.1).

Clients require exactly one SCT in every Fulcio leaf (sigstore-python ``verify_sct``; sigstore-js
``ctlogThreshold`` 1) and check only its signature against a ``ctlogs`` key of the trusted root.
The signed bytes (RFC 6962 §3.2, TLS presentation language of RFC 5246 §4)::

    digitally-signed struct {
        Version sct_version = v1(0);              u8
        SignatureType signature_type = 0;         u8  certificate_timestamp
        uint64 timestamp;                         ms since the epoch
        LogEntryType entry_type = precert(1);     u16
        opaque issuer_key_hash[32];               SHA-256 of the issuer's DER SPKI
        opaque tbs_certificate<1..2^24-1>;        the leaf's TBS *without* the SCT extension
        CtExtensions extensions<0..2^16-1>;
    }

cryptography's ``tbs_precertificate_bytes`` recomputes the TBS without the SCT list from the final
certificate, which is what the log (here, our CA) signed. Issuing SCTs is the CA's
(:mod:`assay.ca.sct`); this module is what both sides agree on, and the verification.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType, Version

from assay.errors import VerificationError
from assay.keys import key_id

__all__ = [
    "V1",
    "digitally_signed",
    "issuer_key_hash",
    "opaque16",
    "timestamp_ms",
    "verify_embedded_sct",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
V1: Final = 0
"""``Version v1(0)`` (RFC 6962 §3.2)."""
_CERTIFICATE_TIMESTAMP: Final = 0
_PRECERT_ENTRY: Final = 1


def timestamp_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding)."""
    if moment.tzinfo is None:
        raise ValueError("SCT timestamps need a timezone-aware datetime")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _opaque24(data: bytes) -> bytes:
    if not 0 < len(data) < 1 << 24:
        raise ValueError("TBS certificate does not fit an SCT's opaque<1..2^24-1>")
    return len(data).to_bytes(3, "big") + data


def opaque16(data: bytes) -> bytes:
    """A TLS ``opaque<0..2^16-1>``: a 2-byte length and the bytes; ValueError if too long."""
    if len(data) >= 1 << 16:
        raise ValueError("field does not fit an SCT's opaque<0..2^16-1>")
    return struct.pack("!H", len(data)) + data


def digitally_signed(
    timestamp: int, issuer_key_hash: bytes, tbs_certificate: bytes, extensions: bytes = b""
) -> bytes:
    """The bytes an SCT signature covers for a precertificate entry (RFC 6962 §3.2).

    Raises ValueError when a field does not fit its TLS vector.
    """
    if len(issuer_key_hash) != 32:
        raise ValueError("issuer_key_hash must be 32 bytes")
    return (
        struct.pack("!BBQH", V1, _CERTIFICATE_TIMESTAMP, timestamp, _PRECERT_ENTRY)
        + issuer_key_hash
        + _opaque24(tbs_certificate)
        + opaque16(extensions)
    )


# The issuer is a CA certificate of the trusted root, the same for every bundle it issued:
# its key hash and CA-ness are memoized by the certificate (hashed and compared by its DER).
@lru_cache(maxsize=64)
def issuer_key_hash(issuer: x509.Certificate) -> bytes:
    """SHA-256 of the issuing CA's DER SPKI (RFC 6962 §3.2), whatever its key type: a CA may
    hold an RSA key (conformance ``bundle-with-sct-with-extensions``); only the CT log's own
    signature is ECDSA."""
    return hashlib.sha256(
        issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


def verify_embedded_sct(
    leaf: x509.Certificate, issuer: x509.Certificate, ct_public_key: ec.EllipticCurvePublicKey
) -> datetime:
    """Verify the leaf's one embedded SCT against ``ct_public_key``; return its timestamp.

    The checks sigstore-python's ``verify_sct`` makes (sigstore.md §2), made stricter: exactly
    one SCT, v1, a precertificate entry, SHA-256/ECDSA, ``log_id`` equal to the key's id, an
    issuer that is a CA. Raises :class:`assay.errors.VerificationError`.
    """
    try:
        extension = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
    except x509.ExtensionNotFound as exc:
        raise VerificationError("certificate has no embedded SCT") from exc
    scts = list(extension.value)
    if len(scts) != 1:
        raise VerificationError(f"expected exactly one embedded SCT, found {len(scts)}")
    sct = scts[0]
    if sct.version != Version.v1 or sct.entry_type != LogEntryType.PRE_CERTIFICATE:
        raise VerificationError("the SCT is not a v1 precertificate SCT")
    if not isinstance(sct.signature_hash_algorithm, hashes.SHA256):
        raise VerificationError("the SCT is not hashed with SHA-256")
    if sct.signature_algorithm != x509.certificate_transparency.SignatureAlgorithm.ECDSA:
        raise VerificationError("the SCT is not an ECDSA signature")
    if sct.log_id != key_id(ct_public_key):
        raise VerificationError("the SCT was issued by another log", log_id=sct.log_id.hex())
    if not _is_ca(issuer):
        raise VerificationError("the SCT's issuer certificate is not a CA")
    stamp: datetime = sct.timestamp  # naive UTC in cryptography's API
    moment = stamp.replace(tzinfo=UTC)
    key_hash = issuer_key_hash(issuer)
    try:
        data = digitally_signed(
            timestamp_ms(moment), key_hash, leaf.tbs_precertificate_bytes, sct.extension_bytes
        )
        ct_public_key.verify(sct.signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("the embedded SCT's signature does not verify") from exc
    return moment


@lru_cache(maxsize=64)
def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca and usage.value.key_cert_sign
