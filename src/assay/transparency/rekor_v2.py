"""Rekor v2 log entries: the ``hashedrekord`` and ``dsse`` 0.0.2 bodies a tile-based log records.

Rekor v2 (rekor-tiles, ``api/proto/rekor/v2/{entry,hashedrekord,dsse,verifier}.proto``) logs only
two kinds, both at version ``0.0.2``, and its leaf is the RFC 8785 (JCS) canonical JSON of the
protojson ``Entry`` message (camelCase names, ``bytes`` as standard base64, enums by name)::

    {"apiVersion": "0.0.2", "kind": "hashedrekord",
     "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": <b64 digest>},
        "signature": {"content": <b64 signature>,
                      "verifier": {"keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                   "x509Certificate": {"rawBytes": <b64 DER>}
                                   | "publicKey": {"rawBytes": <b64 DER SPKI>}}}}}}

    {"apiVersion": "0.0.2", "kind": "dsse",
     "spec": {"dsseV002": {
        "payloadHash": {"algorithm": "SHA2_256", "digest": <b64 SHA-256 of the payload>},
        "signatures": [{"content": <b64 signature>, "verifier": {...as above...}}]}}}

A DSSE envelope may also be logged as a ``hashedrekord`` 0.0.2 entry (rekor-v2-spec §6.1.4,
"hashedrekord over DSSE"): ``data`` is then the digest of the envelope's PAE under the hash the
signing algorithm externalizes (``keyDetails``), and ``signature.content`` the envelope's
signature. Which hash that is comes from the Sigstore algorithm registry, :data:`PREHASH`.

There is no signed entry timestamp and no integrated time: a v2 entry proves inclusion with an
inclusion proof and a signed checkpoint only, and time comes from RFC 3161 timestamps.

Parsing is strict (every field typed and present; unknown fields refused) because the log writes
these bodies from a proto schema: anything else is not a v2 body. Malformed input raises
:class:`~assay.errors.FormatError`. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Final

import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from assay.errors import FormatError
from assay.provenance.encoding import encode_base64

__all__ = [
    "API_VERSION",
    "PREHASH",
    "DsseV002",
    "HashedRekordV002",
    "V2Signature",
    "V2Verifier",
    "canonical_body",
    "key_details",
    "parse_entry_body",
]

API_VERSION: Final = "0.0.2"

PREHASH: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Sigstore algorithm registry (architecture-docs algorithm-registry.md): the hash each
        # signing algorithm externalizes. Pure Ed25519 has none, so it cannot sign a hashedrekord.
        "PKIX_ECDSA_P256_SHA_256": "SHA2_256",
        "PKIX_ECDSA_P384_SHA_384": "SHA2_384",
        "PKIX_ECDSA_P521_SHA_512": "SHA2_512",
        "PKIX_RSA_PKCS1V15_2048_SHA256": "SHA2_256",
        "PKIX_RSA_PKCS1V15_3072_SHA256": "SHA2_256",
        "PKIX_RSA_PKCS1V15_4096_SHA256": "SHA2_256",
        "PKIX_RSA_PSS_2048_SHA256": "SHA2_256",
        "PKIX_RSA_PSS_3072_SHA256": "SHA2_256",
        "PKIX_RSA_PSS_4096_SHA256": "SHA2_256",
    }
)
"""``keyDetails`` → the ``HashAlgorithm`` name of the digest a hashedrekord records."""

_HASH_SIZES: Final[Mapping[str, int]] = MappingProxyType(
    {"SHA2_256": 32, "SHA2_384": 48, "SHA2_512": 64}
)
_MAX_SIGNATURES: Final = 16
_CURVES: Final[Mapping[str, str]] = MappingProxyType(
    {"secp256r1": "P256_SHA_256", "secp384r1": "P384_SHA_384", "secp521r1": "P521_SHA_512"}
)


def key_details(key: object) -> frozenset[str]:
    """The ``keyDetails`` names a v2 verifier may carry for ``key`` (registry, by key type)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = _CURVES.get(key.curve.name)
        return frozenset({f"PKIX_ECDSA_{curve}"}) if curve else frozenset()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return frozenset({"PKIX_ED25519"})
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in (2048, 3072, 4096):
        size = key.key_size
        return frozenset({f"PKIX_RSA_PKCS1V15_{size}_SHA256", f"PKIX_RSA_PSS_{size}_SHA256"})
    return frozenset()


# --- the body --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class V2Verifier:
    """``dev.sigstore.rekor.v2.Verifier``: exactly one of a DER certificate or a DER SPKI key."""

    key_details: str
    x509_certificate: bytes | None = None
    public_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.x509_certificate is None) == (self.public_key is None):
            raise FormatError("a v2 verifier holds exactly one of x509Certificate, publicKey")
        if not self.key_details:
            raise FormatError("a v2 verifier needs keyDetails")

    def to_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {"keyDetails": self.key_details}
        if self.x509_certificate is not None:
            value["x509Certificate"] = {"rawBytes": encode_base64(self.x509_certificate)}
        else:
            value["publicKey"] = {"rawBytes": encode_base64(self.public_key or b"")}
        return value


@dataclass(frozen=True, slots=True)
class V2Signature:
    """``dev.sigstore.rekor.v2.Signature``: signature bytes and who made them."""

    content: bytes
    verifier: V2Verifier

    def to_dict(self) -> dict[str, Any]:
        return {"content": encode_base64(self.content), "verifier": self.verifier.to_dict()}


@dataclass(frozen=True, slots=True)
class HashedRekordV002:
    """``HashedRekordLogEntryV002``: a signature over a digest (``algorithm`` a proto name)."""

    algorithm: str
    digest: bytes
    signature: V2Signature

    kind: ClassVar[str] = "hashedrekord"

    def __post_init__(self) -> None:
        _check_digest(self.algorithm, self.digest, "data")

    def to_dict(self) -> dict[str, Any]:
        spec = {
            "data": {"algorithm": self.algorithm, "digest": encode_base64(self.digest)},
            "signature": self.signature.to_dict(),
        }
        return {
            "apiVersion": API_VERSION,
            "kind": "hashedrekord",
            "spec": {"hashedRekordV002": spec},
        }


@dataclass(frozen=True, slots=True)
class DsseV002:
    """``DSSELogEntryV002``: the payload's hash and the envelope's signatures with verifiers."""

    payload_algorithm: str
    payload_hash: bytes
    signatures: tuple[V2Signature, ...]

    kind: ClassVar[str] = "dsse"

    def __post_init__(self) -> None:
        _check_digest(self.payload_algorithm, self.payload_hash, "payloadHash")
        if not 1 <= len(self.signatures) <= _MAX_SIGNATURES:
            raise FormatError(f"a dsse entry records 1 to {_MAX_SIGNATURES} signatures")

    def to_dict(self) -> dict[str, Any]:
        spec = {
            "payloadHash": {
                "algorithm": self.payload_algorithm,
                "digest": encode_base64(self.payload_hash),
            },
            "signatures": [signature.to_dict() for signature in self.signatures],
        }
        return {"apiVersion": API_VERSION, "kind": "dsse", "spec": {"dsseV002": spec}}


def canonical_body(entry: HashedRekordV002 | DsseV002) -> bytes:
    """The leaf a Rekor v2 log records for ``entry``: JCS of its protojson ``Entry``."""
    return bytes(rfc8785.dumps(entry.to_dict()))


def parse_entry_body(body: bytes) -> HashedRekordV002 | DsseV002:
    """Parse a Rekor v2 canonicalized body, or raise FormatError."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FormatError("the Rekor v2 entry body is not JSON") from None
    root = _object(value, "body", {"apiVersion", "kind", "spec"})
    if root.get("apiVersion") != API_VERSION:
        raise FormatError(f"the Rekor v2 entry's apiVersion is not {API_VERSION}")
    kind = root.get("kind")
    if kind == "hashedrekord":
        spec = _object(root.get("spec"), "spec", {"hashedRekordV002"})
        entry = _object(spec.get("hashedRekordV002"), "hashedRekordV002", {"data", "signature"})
        data = _object(entry.get("data"), "data", {"algorithm", "digest"})
        return HashedRekordV002(
            algorithm=_string(data.get("algorithm"), "data.algorithm"),
            digest=_unb64(data.get("digest"), "data.digest"),
            signature=_signature(entry.get("signature"), "signature"),
        )
    if kind == "dsse":
        spec = _object(root.get("spec"), "spec", {"dsseV002"})
        entry = _object(spec.get("dsseV002"), "dsseV002", {"payloadHash", "signatures"})
        payload_hash = _object(entry.get("payloadHash"), "payloadHash", {"algorithm", "digest"})
        signatures = entry.get("signatures")
        if not isinstance(signatures, list):
            raise FormatError("dsseV002.signatures must be an array")
        return DsseV002(
            payload_algorithm=_string(payload_hash.get("algorithm"), "payloadHash.algorithm"),
            payload_hash=_unb64(payload_hash.get("digest"), "payloadHash.digest"),
            signatures=tuple(
                _signature(item, f"signatures[{index}]") for index, item in enumerate(signatures)
            ),
        )
    raise FormatError(f"unknown Rekor v2 entry kind {str(kind)[:40]!r}")


# --- helpers ---------------------------------------------------------------------------------


def _signature(value: object, where: str) -> V2Signature:
    signature = _object(value, where, {"content", "verifier"})
    verifier = _object(
        signature.get("verifier"),
        f"{where}.verifier",
        {"keyDetails", "x509Certificate", "publicKey"},
        required={"keyDetails"},
    )
    certificate = verifier.get("x509Certificate")
    key = verifier.get("publicKey")
    return V2Signature(
        content=_unb64(signature.get("content"), f"{where}.content"),
        verifier=V2Verifier(
            key_details=_string(verifier.get("keyDetails"), f"{where}.verifier.keyDetails"),
            x509_certificate=None if certificate is None else _raw(certificate, f"{where}.cert"),
            public_key=None if key is None else _raw(key, f"{where}.publicKey"),
        ),
    )


def _raw(value: object, where: str) -> bytes:
    return _unb64(_object(value, where, {"rawBytes"}).get("rawBytes"), f"{where}.rawBytes")


def _object(
    value: object, where: str, allowed: set[str], required: set[str] | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{where} must be a JSON object")
    unknown = set(value) - allowed
    if unknown:
        raise FormatError(f"{where} has unknown fields {sorted(unknown)}")
    missing = (allowed if required is None else required) - set(value)
    if missing:
        raise FormatError(f"{where} lacks {sorted(missing)}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise FormatError(f"{where} must be a non-empty string")
    return value


def _unb64(value: object, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise FormatError(f"{where} must be non-empty base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{where} is not base64") from None


def _check_digest(algorithm: str, digest: bytes, where: str) -> None:
    size = _HASH_SIZES.get(algorithm)
    if size is None:
        raise FormatError(f"{where}.algorithm {algorithm[:40]!r} is not a supported hash")
    if len(digest) != size:
        raise FormatError(f"{where}.digest is {len(digest)} bytes, not {size}")
