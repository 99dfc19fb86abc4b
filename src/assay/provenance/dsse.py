"""DSSE: the Dead Simple Signing Envelope that carries every in-toto statement we sign or verify.

Specification: https://github.com/secure-systems-lab/dsse, ``protocol.md`` and ``envelope.md``
(v1.0.2). A signature covers the pre-authentication encoding (PAE) of the payload type and the
payload bytes, never the JSON envelope, so the envelope's spelling does not matter to a
signature; we still keep it (see :mod:`assay.provenance.encoding`) because the Rekor ``dsse``
entry hashes the envelope text exactly as submitted, and stored attestations must be served back
unchanged.

Keys are those Sigstore's algorithm registry lists for signing (architecture-docs
``algorithm-registry.md``): ECDSA over P-256/P-384/P-521 with SHA-256/384/512 and ASN.1 DER
signatures (what Fulcio-certified keys and the npm registry key use), Ed25519, and RSA
PKCS#1 v1.5 with SHA-256. The key signs the PAE itself; the hash is part of the signature
algorithm, not a prehash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from assay.errors import ConfigError, EnvelopeError, VerificationError
from assay.provenance.encoding import (
    JSONValue,
    dump_json,
    encode_base64,
    invalid,
    load_json_object,
)
from assay.provenance.wire import (
    FRESH,
    ObjectReader,
    ObjectWriter,
    WireForm,
)

__all__ = [
    "Envelope",
    "PrivateKey",
    "PublicKey",
    "Signature",
    "pae",
    "sign",
    "signature_verifies",
    "verify",
]

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

# ECDSA curve -> the hash Sigstore pairs it with (algorithm-registry.md: PKIX_ECDSA_P256_SHA_256,
# PKIX_ECDSA_P384_SHA_384, PKIX_ECDSA_P521_SHA_512).
_ECDSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding (protocol.md, "Signature Definition").

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, where ``type`` is the UTF-8 encoding of
    the payload type and ``LEN`` is the ASCII decimal byte length without leading zeros.
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature of an envelope.

    ``keyid`` is an unauthenticated hint that "MUST NOT be used for security decisions"
    (protocol.md); unset and empty are the same value (envelope.md "Parsing rules"), so equality
    ignores the difference, but the wire form remembers it: npm's bundles carry ``"keyid": ""``.
    """

    sig: bytes
    keyid: str = ""
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    @classmethod
    def read(cls, reader: ObjectReader) -> Signature:
        """Parse from a reader positioned on a signature object."""
        # envelope.md: "sig" is REQUIRED and MUST be set, even if empty; "keyid" is OPTIONAL.
        sig = reader.binary("sig", required=True)
        keyid = reader.string("keyid")
        return reader.build(lambda wire: cls(sig=sig, keyid=keyid, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object, in the spelling it was parsed from."""
        writer = ObjectWriter(self.wire)
        # "sig" is REQUIRED even if empty (envelope.md). Envelopes built here always carry
        # "keyid" too, after "sig", as sigstore-js writes it and npm's bundles show.
        writer.put("sig", self.sig, encode_base64(self.sig), default=False)
        writer.string("keyid", self.keyid, always=True)
        return writer.result()


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE JSON envelope (envelope.md, "Standard JSON envelope").

    An envelope may hold any number of signatures, including none (envelope.md: the fields are
    REQUIRED "even if empty"); whether that is acceptable is for :func:`verify` and for the
    Sigstore bundle, which requires exactly one, to decide.
    """

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.payload_type.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(EnvelopeError, "payloadType", "is not valid Unicode") from None

    @classmethod
    def from_json(cls, data: str | bytes) -> Envelope:
        """Parse envelope JSON text; anything malformed raises :class:`EnvelopeError`."""
        return cls.from_dict(load_json_object(data, error=EnvelopeError, what="DSSE envelope"))

    @classmethod
    def from_dict(cls, value: object) -> Envelope:
        """Parse a decoded JSON object; anything malformed raises :class:`EnvelopeError`."""
        return cls.read(ObjectReader(value, path="", error=EnvelopeError, proto_names=False))

    @classmethod
    def read(cls, reader: ObjectReader) -> Envelope:
        """Parse from a reader, so that a bundle can embed an envelope under its own path/error.

        The reader should not accept proto names: ``envelope.proto`` names its fields
        ``payload``, ``payloadType``, ``signatures``, ``sig`` and ``keyid`` already.
        """
        # envelope.md "Parsing rules": payload, payloadType, signatures, signatures[].sig are
        # REQUIRED and MUST be set, even if empty.
        payload = reader.binary("payload", required=True)
        payload_type = reader.string("payloadType", required=True)
        signatures = reader.repeated_message("signatures", Signature.read, required=True)
        return reader.build(
            lambda wire: cls(
                payload=payload, payload_type=payload_type, signatures=signatures, wire=wire
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object, in the spelling it was parsed from."""
        writer = ObjectWriter(self.wire)
        # REQUIRED fields are written even when empty (envelope.md "Parsing rules").
        writer.put("payload", self.payload, encode_base64(self.payload), default=False)
        writer.put("payloadType", self.payload_type, self.payload_type, default=False)
        writer.put(
            "signatures",
            self.signatures,
            [signature.to_dict() for signature in self.signatures],
            default=False,
        )
        return writer.result()

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`."""
        return dump_json(self.to_dict())

    @property
    def pae(self) -> bytes:
        """The bytes every signature of this envelope covers."""
        return pae(self.payload_type, self.payload)


def sign(payload_type: str, payload: bytes, private_key: PrivateKey, keyid: str = "") -> Envelope:
    """Sign ``payload`` as ``payload_type`` and wrap it in a one-signature envelope.

    Raises :class:`ConfigError` for a key type or curve Sigstore does not sign with.
    """
    message = pae(payload_type, payload)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algorithm = _ECDSA_HASHES.get(private_key.curve.name)
        if algorithm is None:
            raise ConfigError(f"unsupported ECDSA curve {private_key.curve.name}")
        sig = private_key.sign(message, ec.ECDSA(algorithm()))
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        sig = private_key.sign(message)
    elif isinstance(private_key, rsa.RSAPrivateKey):
        sig = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ConfigError(f"unsupported signing key type {type(private_key).__name__}")
    return Envelope(
        payload=payload, payload_type=payload_type, signatures=(Signature(sig=sig, keyid=keyid),)
    )


def _verifies(signature: bytes, message: bytes, public_key: PublicKey) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            algorithm = _ECDSA_HASHES.get(public_key.curve.name)
            if algorithm is None:
                raise VerificationError(f"unsupported ECDSA curve {public_key.curve.name}")
            public_key.verify(signature, message, ec.ECDSA(algorithm()))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise VerificationError(f"unsupported public key type {type(public_key).__name__}")
    except (InvalidSignature, ValueError):
        # cryptography reports a malformed DER signature or a wrong-length Ed25519 one either way.
        return False
    return True


def signature_verifies(
    payload_type: str, payload: bytes, signature: bytes, public_key: PublicKey
) -> bool:
    """Whether this one ``signature`` verifies over the PAE with ``public_key``.

    For callers that must pair every signature with its own key (a Rekor ``dsse`` or ``intoto``
    entry), which :func:`verify`'s any-of rule does not tell. A key type DSSE cannot verify
    with counts as not verifying; a payload type that is not Unicode raises as for an envelope.
    """
    single = Envelope(
        payload=payload, payload_type=payload_type, signatures=(Signature(signature),)
    )
    try:
        verify(single, public_key)
    except VerificationError:
        return False
    return True


def verify(envelope: Envelope, public_key: PublicKey) -> bytes:
    """Verify ``envelope`` with ``public_key`` and return the payload it authenticates.

    Succeeds if any signature verifies over the PAE: one key is a (1, n) threshold in protocol.md
    "Multi-signature Verification". ``keyid`` is ignored (it "MUST NOT be used for security
    decisions"). The bytes returned are the ones verified, as protocol.md requires; callers must
    not re-read the payload from elsewhere. Raises :class:`VerificationError`.
    """
    message = envelope.pae
    for signature in envelope.signatures:
        if _verifies(signature.sig, message, public_key):
            return envelope.payload
    raise VerificationError(
        "no signature of the DSSE envelope verifies with the given key",
        payload_type=envelope.payload_type,
        signatures=len(envelope.signatures),
    )
