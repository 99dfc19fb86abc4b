"""What a client asks the TSA to timestamp: a message imprint, maybe a nonce and a policy.

Two encodings, as Sigstore's timestamp-authority takes them (``pkg/api/timestamp.go``):

* ``application/timestamp-query``: a DER ``TimeStampReq`` (RFC 3161 §2.4.1) — what
  sigstore-python (rfc3161-client) and ``openssl ts -query`` send::

      TimeStampReq ::= SEQUENCE {
         version        INTEGER { v1(1) },
         messageImprint MessageImprint,            -- SEQUENCE { AlgorithmIdentifier, OCTET STRING }
         reqPolicy      TSAPolicyId OPTIONAL,
         nonce          INTEGER OPTIONAL,
         certReq        BOOLEAN DEFAULT FALSE,
         extensions     [0] IMPLICIT Extensions OPTIONAL }

* ``application/json``: ``{"artifactHash": <base64 digest>, "hashAlgorithm": "sha256",
  "nonce"?, "certificates"?, "tsaPolicyOID"?}`` — what sigstore-js sends.

Both are checked the way timestamp-authority's ``verifyTimestampRequest`` checks them: SHA-256,
SHA-384 or SHA-512 only (SHA-1 is refused as weak), a digest of exactly that hash's length, the
TSA's own policy or none, no extensions. The DER form is read strictly (:mod:`assay.tsa.der`).
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Final

from assay.errors import FormatError
from assay.provenance import der
from assay.tsa import TSAError

# RFC 5758 / NIST: id-sha256, id-sha384, id-sha512, and the digest length of each.
HASH_OIDS: Final = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
_OID_BY_NAME: Final = {name: dotted for dotted, (name, _) in HASH_OIDS.items()}
SHA1_OID: Final = "1.3.14.3.2.26"
MAX_NONCE_BITS: Final = 256  # rfc3161-client sends 64 bits; openssl 64; be generous, not unbounded
MAX_JSON_BYTES: Final = 1024  # timestamp-authority's maxJSONRequestBytes


@dataclass(frozen=True, slots=True)
class TimestampRequest:
    """A request the TSA will grant; ``imprint`` is the DER MessageImprint the TSTInfo echoes."""

    hash_name: str
    hash_oid: str
    digest: bytes
    imprint: bytes
    nonce: int | None
    cert_req: bool
    policy: str | None

    @classmethod
    def from_der(cls, data: bytes) -> TimestampRequest:
        """Parse a DER TimeStampReq; :class:`TSAError` for anything malformed or unaccepted."""
        try:
            return cls._from_der(data)
        except FormatError as exc:
            raise TSAError(f"malformed timestamp request: {exc.message}") from exc

    @classmethod
    def _from_der(cls, data: bytes) -> TimestampRequest:
        request = der.read_single(data)
        if request.tag != der.SEQUENCE:
            raise FormatError("TimeStampReq is not a SEQUENCE")
        fields = request.children()
        if len(fields) < 2:
            raise FormatError("TimeStampReq needs a version and a messageImprint")
        if fields[0].as_integer() != 1:
            raise FormatError("TimeStampReq version must be 1")
        imprint = fields[1]
        hash_oid, digest = _message_imprint(imprint)
        rest = fields[2:]
        policy: str | None = None
        nonce: int | None = None
        cert_req = False
        if rest and rest[0].tag == der.OID:
            policy = rest.pop(0).as_oid()
        if rest and rest[0].tag == der.INTEGER:
            nonce = rest.pop(0).as_integer()
            _check_nonce(nonce)
        if rest and rest[0].tag == der.BOOLEAN:
            cert_req = rest.pop(0).as_boolean()
            if not cert_req:  # X.690 §11.5: a DEFAULT value is never encoded in DER
                raise FormatError("certReq FALSE is the default and must be omitted")
        if rest and rest[0].tag == der.context(0):
            raise TSAError(
                "unaccepted extension: requested extensions are not supported by the TSA"
            )
        if rest:
            raise FormatError("unexpected fields in TimeStampReq")
        return cls._accept(
            hash_oid, digest, imprint.encoding, nonce=nonce, cert_req=cert_req, policy=policy
        )

    @classmethod
    def from_json(cls, data: bytes) -> TimestampRequest:
        """Parse timestamp-authority's JSON request (``JSONRequest``, sigstore-js's form)."""
        if len(data) > MAX_JSON_BYTES:
            raise TSAError(f"timestamp request is too large (over {MAX_JSON_BYTES} bytes)")
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise TSAError("timestamp request is not valid JSON") from exc
        if not isinstance(document, dict):
            raise TSAError("timestamp request must be a JSON object")
        name = document.get("hashAlgorithm")
        artifact_hash = document.get("artifactHash")
        if not isinstance(name, str) or not isinstance(artifact_hash, str):
            raise TSAError("artifactHash and hashAlgorithm are required strings")
        if name.lower() == "sha1":
            raise TSAError("Weak hash algorithm in timestamp request")
        hash_oid = _OID_BY_NAME.get(name.lower())
        if hash_oid is None:
            raise TSAError(f"unsupported hash algorithm: {name[:20]}")
        try:
            digest = binascii.a2b_base64(artifact_hash.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise TSAError("artifactHash is not base64") from exc
        nonce = document.get("nonce")
        if nonce is not None and (isinstance(nonce, bool) or not isinstance(nonce, int)):
            raise TSAError("nonce must be an integer")
        if nonce is not None:
            _check_nonce(nonce)
        certificates = document.get("certificates", False)
        if not isinstance(certificates, bool):
            raise TSAError("certificates must be a boolean")
        policy = document.get("tsaPolicyOID") or None
        if policy is not None and not isinstance(policy, str):
            raise TSAError("tsaPolicyOID must be a string")
        try:
            imprint = der.sequence(der.algorithm_identifier(hash_oid), der.octet_string(digest))
            if policy is not None:
                der.read_single(der.oid(policy)).as_oid()
        except (ValueError, FormatError) as exc:
            raise TSAError("tsaPolicyOID is not an object identifier") from exc
        return cls._accept(
            hash_oid, digest, imprint, nonce=nonce, cert_req=certificates, policy=policy
        )

    @classmethod
    def _accept(
        cls,
        hash_oid: str,
        digest: bytes,
        imprint: bytes,
        *,
        nonce: int | None,
        cert_req: bool,
        policy: str | None,
    ) -> TimestampRequest:
        if hash_oid == SHA1_OID:
            raise TSAError("Weak hash algorithm in timestamp request")
        known = HASH_OIDS.get(hash_oid)
        if known is None:
            raise TSAError(f"unsupported hash algorithm {hash_oid}")
        name, size = known
        if len(digest) != size:
            raise TSAError(
                "Message digest has incorrect length for specified algorithm",
                algorithm=name,
                length=len(digest),
            )
        return cls(name, hash_oid, digest, imprint, nonce, cert_req, policy)


def _message_imprint(element: der.Element) -> tuple[str, bytes]:
    """``MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET
    STRING }``; the algorithm's parameters absent or NULL (RFC 5754 §2 allows both)."""
    if element.tag != der.SEQUENCE:
        raise FormatError("messageImprint is not a SEQUENCE")
    parts = element.children()
    if len(parts) != 2 or parts[0].tag != der.SEQUENCE:
        raise FormatError("messageImprint must hold an AlgorithmIdentifier and a digest")
    algorithm = parts[0].children()
    if not 1 <= len(algorithm) <= 2:
        raise FormatError("malformed hash AlgorithmIdentifier")
    if len(algorithm) == 2 and algorithm[1].encoding != der.null():
        raise FormatError("hash AlgorithmIdentifier parameters must be absent or NULL")
    return algorithm[0].as_oid(), parts[1].as_octets()


def _check_nonce(nonce: int) -> None:
    if nonce < 0 or nonce.bit_length() > MAX_NONCE_BITS:
        raise TSAError(f"nonce must be a non-negative integer of at most {MAX_NONCE_BITS} bits")
