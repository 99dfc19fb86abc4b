"""The timestamp itself: TSTInfo, the CMS SignedData over it, and the TimeStampResp.

RFC 3161 §2.4.2 and RFC 5652 (CMS)::

    TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
    ContentInfo   ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
    SignedData    ::= SEQUENCE { version 3, digestAlgorithms SET OF AlgorithmIdentifier,
                                 encapContentInfo SEQUENCE { id-ct-TSTInfo,
                                                             [0] EXPLICIT OCTET STRING (TSTInfo) },
                                 certificates [0] IMPLICIT SET OF Certificate OPTIONAL,
                                 signerInfos SET OF SignerInfo }
    SignerInfo    ::= SEQUENCE { version 1, sid IssuerAndSerialNumber, digestAlgorithm sha256,
                                 signedAttrs [0] IMPLICIT SET OF Attribute,
                                 signatureAlgorithm ecdsa-with-SHA256, signature OCTET STRING }
    TSTInfo       ::= SEQUENCE { version 1, policy, messageImprint, serialNumber, genTime,
                                 accuracy OPTIONAL, ordering DEFAULT FALSE, nonce OPTIONAL, … }

The signed attributes are contentType (= id-ct-TSTInfo), messageDigest (SHA-256 of the TSTInfo
DER) and signingCertificateV2 (RFC 5816: the SHA-256 of the TSA certificate with its issuer and
serial, which binds the signer's certificate to the signature, RFC 3161 §2.4.1 requirement on
ESSCertID). The signature is over the DER of those attributes as a SET (RFC 5652 §5.4). The
token is signed with ECDSA P-256 / SHA-256, the pairing every Sigstore verifier supports
(sigstore-js maps ``ecdsa-with-SHA256`` to SHA-256; rfc3161-client verifies through OpenSSL).

``certReq`` TRUE puts the TSA certificate into ``certificates``, as RFC 3161 §2.4.1 requires;
FALSE leaves it out (the verifier then takes it from its trusted root).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.provenance import der
from assay.tsa.request import TimestampRequest

ID_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
ID_CT_TST_INFO: Final = "1.2.840.113549.1.9.16.1.4"
ID_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
ID_SIGNING_CERTIFICATE_V2: Final = "1.2.840.113549.1.9.16.2.47"
ID_SHA256: Final = "2.16.840.1.101.3.4.2.1"
ECDSA_WITH_SHA256: Final = "1.2.840.10045.4.3.2"
PKI_STATUS_GRANTED: Final = 0


@dataclass(frozen=True, slots=True)
class TimestampInfo:
    """The facts a timestamp asserts: this digest existed at ``gen_time`` (RFC 3161 §2.4.2)."""

    policy: str
    imprint: bytes  # the request's MessageImprint, DER, echoed as it came
    serial: int
    gen_time: datetime
    nonce: int | None
    accuracy_seconds: int = 1  # what timestamp-authority states

    def to_der(self) -> bytes:
        fields = [
            der.integer(1),
            der.oid(self.policy),
            self.imprint,
            der.integer(self.serial),
            der.generalized_time(self.gen_time),
            der.sequence(der.integer(self.accuracy_seconds)),
            # ordering FALSE is the DEFAULT: never encoded (X.690 §11.5).
        ]
        if self.nonce is not None:
            fields.append(der.integer(self.nonce))
        return der.sequence(*fields)


def _issuer_and_serial(certificate: x509.Certificate) -> bytes:
    return der.sequence(certificate.issuer.public_bytes(), der.integer(certificate.serial_number))


def _attribute(attribute_oid: str, value: bytes) -> bytes:
    return der.sequence(der.oid(attribute_oid), der.set_of(value))


def _signing_certificate_v2(certificate: x509.Certificate) -> bytes:
    """``SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }`` (RFC 5035 §3),
    one ESSCertIDv2 ``{ certHash (SHA-256, the DEFAULT algorithm, so omitted), issuerSerial
    { issuer GeneralNames (directoryName [4]), serialNumber } }``."""
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    issuer = der.sequence(der.tlv(der.context(4), certificate.issuer.public_bytes()))
    issuer_serial = der.sequence(issuer, der.integer(certificate.serial_number))
    cert_id = der.sequence(der.octet_string(hashlib.sha256(cert_der).digest()), issuer_serial)
    return der.sequence(der.sequence(cert_id))


def timestamp_token(
    info: TimestampInfo,
    key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    *,
    include_certificate: bool,
) -> bytes:
    """The ContentInfo holding the SignedData over ``info``, signed by ``key``."""
    tst_info = info.to_der()
    signed_attributes = [
        _attribute(ID_CONTENT_TYPE, der.oid(ID_CT_TST_INFO)),
        _attribute(ID_MESSAGE_DIGEST, der.octet_string(hashlib.sha256(tst_info).digest())),
        _attribute(ID_SIGNING_CERTIFICATE_V2, _signing_certificate_v2(certificate)),
    ]
    # RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag; the
    # SignerInfo carries the same bytes under [0] IMPLICIT.
    attributes_set = der.set_of(*signed_attributes)
    signature = key.sign(attributes_set, ec.ECDSA(hashes.SHA256()))
    sha256 = der.algorithm_identifier(ID_SHA256)
    signer_info = der.sequence(
        der.integer(1),
        _issuer_and_serial(certificate),
        sha256,
        der.context(0).to_bytes(1, "big") + attributes_set[1:],
        der.algorithm_identifier(ECDSA_WITH_SHA256),
        der.octet_string(signature),
    )
    encapsulated = der.sequence(
        der.oid(ID_CT_TST_INFO), der.tlv(der.context(0), der.octet_string(tst_info))
    )
    parts = [der.integer(3), der.set_of(sha256), encapsulated]
    if include_certificate:
        parts.append(der.tlv(der.context(0), certificate.public_bytes(serialization.Encoding.DER)))
    parts.append(der.set_of(signer_info))
    return der.sequence(der.oid(ID_SIGNED_DATA), der.tlv(der.context(0), der.sequence(*parts)))


def granted_response(token: bytes) -> bytes:
    """``TimeStampResp`` with status granted (0) and the token (RFC 3161 §2.4.2)."""
    return der.sequence(der.sequence(der.integer(PKI_STATUS_GRANTED)), token)


def request_info(
    request: TimestampRequest, policy: str, serial: int, gen_time: datetime
) -> TimestampInfo:
    """The TSTInfo answering ``request``: its imprint and nonce echoed, our policy."""
    return TimestampInfo(
        policy=policy,
        imprint=request.imprint,
        serial=serial,
        gen_time=gen_time,
        nonce=request.nonce,
    )
