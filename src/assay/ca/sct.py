"""Embedded signed certificate timestamps (RFC 6962 §3.2–§3.3; sigstore.md §2.1).

Clients require exactly one SCT in every leaf (sigstore-python ``verify_sct``; sigstore-js
``ctlogThreshold`` 1), but none of them talk to a CT log: they only check the SCT's signature
against a ``ctlogs`` key of the trusted root. So the CA signs the SCT itself with its CT key —
the wire format is identical to a log's, without the log's transparency (sigstore.md §2).

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

Real Fulcio signs a precertificate carrying the poison extension (1.3.6.1.4.1.11129.2.4.3) and
the log removes it; the TBS with the poison removed is byte-for-byte the TBS without the SCT
list, which is what we sign directly. cryptography's ``tbs_precertificate_bytes`` recomputes
exactly that from the final certificate, so :func:`sign_with_embedded_sct` checks the two agree.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType, Version
from cryptography.x509.oid import ExtensionOID

from assay.ca import CAError
from assay.ca.chain import ca_signature_hash
from assay.ca.extensions import der_tlv
from assay.errors import VerificationError
from assay.keys import PrivateKey, Signer, key_id, spki_der

SCT_LIST_OID = ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS  # 1.3.6.1.4.1.11129.2.4.2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_V1 = 0
_CERTIFICATE_TIMESTAMP = 0
_PRECERT_ENTRY = 1
_HASH_SHA256 = 4  # RFC 5246 §7.4.1.4.1 HashAlgorithm
_SIG_ECDSA = 3  # RFC 5246 §7.4.1.4.1 SignatureAlgorithm


def timestamp_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding)."""
    if moment.tzinfo is None:
        raise ValueError("SCT timestamps need a timezone-aware datetime")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _u24(data: bytes) -> bytes:
    if not 0 < len(data) < 1 << 24:
        raise CAError("TBS certificate does not fit an SCT's opaque<1..2^24-1>", http_status=500)
    return len(data).to_bytes(3, "big") + data


def _u16(data: bytes) -> bytes:
    if len(data) >= 1 << 16:
        raise CAError("field does not fit an SCT's opaque<0..2^16-1>", http_status=500)
    return struct.pack("!H", len(data)) + data


def digitally_signed(
    timestamp: int, issuer_key_hash: bytes, tbs_certificate: bytes, extensions: bytes = b""
) -> bytes:
    """The bytes an SCT signature covers for a precertificate entry (RFC 6962 §3.2)."""
    if len(issuer_key_hash) != 32:
        raise CAError("issuer_key_hash must be 32 bytes", http_status=500)
    return (
        struct.pack("!BBQH", _V1, _CERTIFICATE_TIMESTAMP, timestamp, _PRECERT_ENTRY)
        + issuer_key_hash
        + _u24(tbs_certificate)
        + _u16(extensions)
    )


@dataclass(frozen=True, slots=True)
class SignedCertificateTimestamp:
    """One v1 SCT signed with ECDSA P-256 / SHA-256 (RFC 6962 §3.2)."""

    log_id: bytes
    timestamp: int
    signature: bytes
    extensions: bytes = b""

    def encode(self) -> bytes:
        """``u8 version || log_id[32] || u64 timestamp || extensions<..2^16-1> || signature``."""
        return (
            struct.pack("!B", _V1)
            + self.log_id
            + struct.pack("!Q", self.timestamp)
            + _u16(self.extensions)
            + struct.pack("!BB", _HASH_SHA256, _SIG_ECDSA)
            + _u16(self.signature)
        )


def sct_list_extension(scts: list[SignedCertificateTimestamp]) -> x509.UnrecognizedExtension:
    """The X.509 extension holding ``SignedCertificateTimestampList`` (RFC 6962 §3.3).

    Its extnValue is an OCTET STRING wrapping the TLS list (so the list is wrapped twice: once
    by the extension's own OCTET STRING, once by this one).
    """
    entries = b"".join(_u16(sct.encode()) for sct in scts)
    return x509.UnrecognizedExtension(SCT_LIST_OID, der_tlv(0x04, _u16(entries)))


def sign_with_embedded_sct(
    builder: x509.CertificateBuilder,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    ct_key: ec.EllipticCurvePrivateKey,
    timestamp: datetime,
) -> x509.Certificate:
    """Sign ``builder`` (every extension but the SCT already added) with the SCT as last extension.

    Steps of sigstore.md §2.1: sign once without the SCT to get ``TBS_noSCT``; sign the
    ``digitally-signed`` struct with the CT key; append the SCT list; sign the final certificate.
    """
    if not isinstance(ct_key, ec.EllipticCurvePrivateKey) or ct_key.curve.name != "secp256r1":
        raise CAError("the CT key must be ECDSA P-256 (SCT hash is SHA-256)", http_status=500)
    algorithm = ca_signature_hash(issuer_key)
    tbs_no_sct = builder.sign(issuer_key, algorithm).tbs_certificate_bytes
    issuer_key_hash = hashlib.sha256(spki_der(_issuer_public_key(issuer))).digest()
    moment = timestamp_ms(timestamp)
    signature = Signer(ct_key).sign(digitally_signed(moment, issuer_key_hash, tbs_no_sct))
    sct = SignedCertificateTimestamp(log_id=key_id(ct_key), timestamp=moment, signature=signature)
    final = builder.add_extension(sct_list_extension([sct]), critical=False).sign(
        issuer_key, algorithm
    )
    if final.tbs_precertificate_bytes != tbs_no_sct:
        raise CAError("the final certificate's precertificate TBS differs", http_status=500)
    return final


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
    issuer_key_hash = hashlib.sha256(spki_der(_issuer_public_key(issuer))).digest()
    try:
        data = digitally_signed(
            timestamp_ms(moment),
            issuer_key_hash,
            leaf.tbs_precertificate_bytes,
            sct.extension_bytes,
        )
        ct_public_key.verify(sct.signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, CAError) as exc:
        raise VerificationError("the embedded SCT's signature does not verify") from exc
    return moment


def _issuer_public_key(issuer: x509.Certificate) -> ec.EllipticCurvePublicKey:
    public = issuer.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise VerificationError("the SCT issuer's key is not an ECDSA key")
    return public


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca and usage.value.key_cert_sign
