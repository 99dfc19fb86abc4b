"""Rekor v2 entries: a ``CreateEntryRequest`` verified, and the canonical ``Entry`` it becomes.

rekor-tiles ``api/proto/rekor/v2/{entry,hashedrekord,dsse,verifier}.proto`` and
``pkg/types/hashedrekord`` (sigstore.md §3.3). A client posts, in proto3 JSON, one of:

``hashedRekordRequestV002``
    ``{"digest": <b64>, "signature": {"content": <b64>, "verifier": V}}`` where ``V`` is
    ``{"x509Certificate": {"rawBytes": <b64 DER>}`` or ``"publicKey": {"rawBytes": <b64 DER
    SPKI>}``, ``"keyDetails": <PublicKeyDetails>}``. The signature is over the *prehashed*
    digest with the hash ``keyDetails`` names, and the digest must be that hash's length. DSSE
    envelopes are logged this way too — digest = hash(PAE), content = the envelope's signature
    (rekor-v2 spec §6.1.4; what sigstore-python 4.x sends).

``dsseRequestV002`` (deprecated in rekor-tiles, still sent by @sigstore/sign)
    ``{"envelope": <DSSE envelope>, "verifiers": [V, …]}``; every signature must verify over the
    PAE with some verifier and every verifier must verify some signature.

The body is the ``Entry`` message in proto3 JSON, RFC 8785-canonicalized (rekor-tiles marshals
with protojson, then ``jsoncanonicalizer.Transform``)::

    {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{
       "data":{"algorithm":"SHA2_256","digest":<b64>},
       "signature":{"content":<b64>,"verifier":{"keyDetails":…,"x509Certificate":{"rawBytes":…}}}}}}
    {"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{
       "payloadHash":{"algorithm":"SHA2_256","digest":<b64>},
       "signatures":[{"content":<b64>,"verifier":V}, …]}}}       -- sorted by signature bytes

The body itself is written by :mod:`assay.transparency.rekor_v2` (its dataclasses and
:func:`~assay.transparency.rekor_v2.canonical_body`), the one writer of 0.0.2 bodies that the
verifier and the signer also use; this module parses and verifies the request. Bytes fields
are standard padded base64 and must be canonical; a certificate or key must be exactly one DER
value and its type must match ``keyDetails``.
Malformed input raises :class:`FormatError`, a signature that does not verify
:class:`VerificationError` — the same contract as :meth:`ProposedEntry.from_json` for v1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from assay.errors import FormatError, VerificationError
from assay.provenance.dsse import Envelope, PublicKey
from assay.provenance.encoding import JSONValue, load_json_object
from assay.transparency.rekor import (
    MAX_ENTRY_BYTES,
    ProposedEntry,
    SignedBy,
    Verifier,
    decode_b64_field,
    pair_dsse_signatures,
    prehashed_signature_verifies,
)
from assay.transparency.rekor_v2 import (
    API_VERSION,
    PREHASH,
    DsseV002,
    HashedRekordV002,
    V2Signature,
    V2Verifier,
    canonical_body,
    key_details,
)

__all__ = ["KEY_DETAILS", "proposed_entry_v2"]

# protobuf-specs PublicKeyDetails the log accepts: ECDSA with the curve's own hash and RSA
# PKCS#1 v1.5 with SHA-256 — the pairs Sigstore's algorithm registry allows by default. Which
# hash each prehashes with is the registry's (rekor_v2.PREHASH); Ed25519 cannot sign a prehashed
# digest, and RSA-PSS the log does not verify.
KEY_DETAILS: Final = frozenset(
    {
        "PKIX_ECDSA_P256_SHA_256",
        "PKIX_ECDSA_P384_SHA_384",
        "PKIX_ECDSA_P521_SHA_512",
        "PKIX_RSA_PKCS1V15_2048_SHA256",
        "PKIX_RSA_PKCS1V15_3072_SHA256",
        "PKIX_RSA_PKCS1V15_4096_SHA256",
    }
)
_HASHES: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {
    "SHA2_256": hashes.SHA256,
    "SHA2_384": hashes.SHA384,
    "SHA2_512": hashes.SHA512,
}
MAX_SIGNATURE_BYTES: Final = 16 * 1024
MAX_VERIFIER_BYTES: Final = 32 * 1024
MAX_VERIFIERS: Final = 10  # rekor-tiles dsse maxVerifiers / maxSignatures
MAX_SIGNATURES: Final = 10


def _object(parent: Mapping[str, JSONValue], name: str, path: str) -> dict[str, JSONValue]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise FormatError(f"{path}.{name} must be an object", field=f"{path}.{name}")
    return value


def _only(obj: Mapping[str, JSONValue], allowed: set[str], path: str) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise FormatError(f"{path} has unknown fields {sorted(unknown)[:3]}", field=path)


def _bytes(parent: Mapping[str, JSONValue], name: str, path: str, limit: int) -> bytes:
    return decode_b64_field(parent.get(name), f"{path}.{name}", limit)


def _verifier(value: JSONValue, path: str) -> tuple[Verifier, V2Verifier]:
    """A v2 ``Verifier``: the key or certificate that verifies, and the form a body records."""
    if not isinstance(value, dict):
        raise FormatError(f"{path} must be an object", field=path)
    _only(value, {"publicKey", "x509Certificate", "keyDetails"}, path)
    details = value.get("keyDetails")
    if not isinstance(details, str) or details not in KEY_DETAILS:
        raise FormatError(
            f"{path}.keyDetails must be one of {sorted(KEY_DETAILS)}", field=f"{path}.keyDetails"
        )
    if ("publicKey" in value) == ("x509Certificate" in value):
        raise FormatError(f"{path} needs exactly one of publicKey, x509Certificate", field=path)
    member = "publicKey" if "publicKey" in value else "x509Certificate"
    holder = _object(value, member, path)
    _only(holder, {"rawBytes"}, f"{path}.{member}")
    raw = _bytes(holder, "rawBytes", f"{path}.{member}", MAX_VERIFIER_BYTES)
    certificate: x509.Certificate | None = None
    try:
        if member == "x509Certificate":
            certificate = x509.load_der_x509_certificate(raw)
            key: object = certificate.public_key()
            reencoded = certificate.public_bytes(serialization.Encoding.DER)
        else:
            key = serialization.load_der_public_key(raw)
            reencoded = key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise FormatError(f"{path}.{member} does not parse: {exc}", field=path) from None
    if reencoded != raw:
        raise FormatError(f"{path}.{member} is not exactly one DER value", field=path)
    public = _check_key(key, details, path)
    recorded = (
        V2Verifier(details, x509_certificate=raw)
        if member == "x509Certificate"
        else V2Verifier(details, public_key=raw)
    )
    return Verifier.of(public, certificate), recorded


def _check_key(key: object, details: str, path: str) -> PublicKey:
    """The key is of the type and size ``keyDetails`` names (rekor-tiles
    ``CheckEntryAlgorithms``; the registry's pairs, :func:`rekor_v2.key_details`)."""
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) and details in key_details(
        key
    ):
        return key
    raise FormatError(f"{path}: the key does not match keyDetails {details}", field=path)


def _hashedrekord(request: dict[str, JSONValue]) -> ProposedEntry:
    path = "hashedRekordRequestV002"
    _only(request, {"digest", "signature"}, path)
    digest = _bytes(request, "digest", path, 64)
    signature_json = _object(request, "signature", path)
    _only(signature_json, {"content", "verifier"}, f"{path}.signature")
    signature = _bytes(signature_json, "content", f"{path}.signature", MAX_SIGNATURE_BYTES)
    verifier, recorded = _verifier(signature_json.get("verifier"), f"{path}.signature.verifier")
    details = recorded.key_details
    algorithm = PREHASH[details]
    hash_type = _HASHES[algorithm]
    size = hash_type().digest_size
    if len(digest) != size:
        raise FormatError(
            f"{path}.digest must be {size} bytes for {details}",
            field=f"{path}.digest",
        )
    if not prehashed_signature_verifies(verifier.public_key, signature, digest, hash_type):
        raise VerificationError("hashedrekord signature does not verify over the digest")
    return ProposedEntry(
        kind="hashedrekord",
        api_version=API_VERSION,
        canonical_body=canonical_body(
            HashedRekordV002(algorithm, digest, V2Signature(signature, recorded))
        ),
        signatures=(SignedBy(signature, verifier),),
        digest_algorithm=hash_type().name,
        digest=digest,
    )


def _dsse(request: dict[str, JSONValue]) -> ProposedEntry:
    path = "dsseRequestV002"
    _only(request, {"envelope", "verifiers"}, path)
    envelope = Envelope.from_dict(_object(request, "envelope", path))
    raw_verifiers = request.get("verifiers")
    if not isinstance(raw_verifiers, list) or not 1 <= len(raw_verifiers) <= MAX_VERIFIERS:
        raise FormatError(f"{path}.verifiers must hold 1 to {MAX_VERIFIERS} verifiers")
    verifiers = [
        _verifier(value, f"{path}.verifiers[{i}]") for i, value in enumerate(raw_verifiers)
    ]
    if len({recorded for _, recorded in verifiers}) != len(verifiers):
        raise FormatError(f"{path}.verifiers repeats a verifier")
    signatures = [signature.sig for signature in envelope.signatures]
    if not 1 <= len(signatures) <= MAX_SIGNATURES or not all(signatures):
        raise FormatError(f"{path}.envelope must carry 1 to {MAX_SIGNATURES} non-empty signatures")
    if len(set(signatures)) != len(signatures):
        raise FormatError(f"{path}.envelope repeats a signature")
    pairs = pair_dsse_signatures(envelope, [verifier.public_key for verifier, _ in verifiers])
    signed = [
        (signature, *verifiers[position])
        for signature, position in zip(signatures, pairs, strict=True)
    ]
    signed.sort(key=lambda item: item[0])
    payload_hash = hashlib.sha256(envelope.payload).digest()
    body = DsseV002(
        "SHA2_256",
        payload_hash,
        tuple(V2Signature(sig, recorded) for sig, _, recorded in signed),
    )
    return ProposedEntry(
        kind="dsse",
        api_version=API_VERSION,
        canonical_body=canonical_body(body),
        signatures=tuple(SignedBy(sig, verifier) for sig, verifier, _ in signed),
        digest_algorithm="sha256",
        digest=payload_hash,
        payload_type=envelope.payload_type,
        payload=envelope.payload,
    )


def proposed_entry_v2(data: bytes, *, max_bytes: int = MAX_ENTRY_BYTES) -> ProposedEntry:
    """Parse and verify a v2 ``CreateEntryRequest`` (exactly one of its two request shapes)."""
    if len(data) > max_bytes:
        raise FormatError(f"entry request is larger than {max_bytes} bytes", size=len(data))
    root = load_json_object(data, error=FormatError, what="entry request")
    shapes = {"hashedRekordRequestV002": _hashedrekord, "dsseRequestV002": _dsse}
    present = [name for name in root if name in shapes]
    _only(root, set(shapes), "request")
    if len(present) != 1:
        raise FormatError(
            "the request needs exactly one of hashedRekordRequestV002, dsseRequestV002"
        )
    (name,) = present
    return shapes[name](_object(root, name, "request"))
