"""Issuing embedded signed certificate timestamps (RFC 6962 §3.2–§3.3; sigstore.md §2.1).

Clients require exactly one SCT in every leaf (sigstore-python ``verify_sct``; sigstore-js
``ctlogThreshold`` 1), but none of them talk to a CT log: they only check the SCT's signature
against a ``ctlogs`` key of the trusted root. So the CA signs the SCT itself with its CT key —
the wire format is identical to a log's, without the log's transparency (sigstore.md §2).

The signed struct and the verification are shared with the verifier, in
:mod:`assay.transparency.sct`. Real Fulcio signs a precertificate carrying the poison extension
(1.3.6.1.4.1.11129.2.4.3) and the log removes it; the TBS with the poison removed is byte-for-byte
the TBS without the SCT list, which is what we sign directly. cryptography's
``tbs_precertificate_bytes`` recomputes exactly that from the final certificate, so
:func:`sign_with_embedded_sct` checks the two agree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from assay.ca import CAFault
from assay.ca.chain import ca_signature_hash
from assay.keys import PrivateKey, Signer, key_id
from assay.provenance.fulcio import der_tlv
from assay.transparency.sct import V1, digitally_signed, issuer_key_hash, opaque16, timestamp_ms

SCT_LIST_OID = ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS  # 1.3.6.1.4.1.11129.2.4.2

_HASH_SHA256 = 4  # RFC 5246 §7.4.1.4.1 HashAlgorithm
_SIG_ECDSA = 3  # RFC 5246 §7.4.1.4.1 SignatureAlgorithm


def _opaque16(data: bytes) -> bytes:
    try:
        return opaque16(data)
    except ValueError as exc:
        raise CAFault(str(exc)) from exc


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
            struct.pack("!B", V1)
            + self.log_id
            + struct.pack("!Q", self.timestamp)
            + _opaque16(self.extensions)
            + struct.pack("!BB", _HASH_SHA256, _SIG_ECDSA)
            + _opaque16(self.signature)
        )


def sct_list_extension(scts: list[SignedCertificateTimestamp]) -> x509.UnrecognizedExtension:
    """The X.509 extension holding ``SignedCertificateTimestampList`` (RFC 6962 §3.3).

    Its extnValue is an OCTET STRING wrapping the TLS list (so the list is wrapped twice: once
    by the extension's own OCTET STRING, once by this one).
    """
    entries = b"".join(_opaque16(sct.encode()) for sct in scts)
    return x509.UnrecognizedExtension(SCT_LIST_OID, der_tlv(0x04, _opaque16(entries)))


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
        raise CAFault("the CT key must be ECDSA P-256 (SCT hash is SHA-256)")
    algorithm = ca_signature_hash(issuer_key)
    tbs_no_sct = builder.sign(issuer_key, algorithm).tbs_certificate_bytes
    moment = timestamp_ms(timestamp)
    try:
        signed = digitally_signed(moment, issuer_key_hash(issuer), tbs_no_sct)
    except ValueError as exc:
        raise CAFault(str(exc)) from exc
    signature = Signer(ct_key).sign(signed)
    sct = SignedCertificateTimestamp(log_id=key_id(ct_key), timestamp=moment, signature=signature)
    final = builder.add_extension(sct_list_extension([sct]), critical=False).sign(
        issuer_key, algorithm
    )
    if final.tbs_precertificate_bytes != tbs_no_sct:
        raise CAFault("the final certificate's precertificate TBS differs")
    return final
