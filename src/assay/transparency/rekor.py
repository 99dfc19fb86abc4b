"""Rekor v1 entries: proposed entries verified before acceptance, and their canonical bodies.

A client posts a ProposedEntry, ``{"apiVersion", "kind", "spec"}`` (rekor ``openapi.yaml``), to
``/api/v1/log/entries``. We accept the three kinds Sigstore clients write (sigstore.md §3.2):

``hashedrekord`` 0.0.1 (rekor ``pkg/types/hashedrekord/v0.0.1/entry.go``)
    A signature over an artifact digest: the client signs the *prehashed* digest
    ``spec.data.hash.value`` (ECDSA or RSA PKCS#1 v1.5 with ``Prehashed(<algorithm>)``; Rekor
    refuses Ed25519 here). The body is the request with the key re-encoded canonically
    (``pki/x509`` ``CanonicalValue``: standard PEM) and everything else dropped.

``dsse`` 0.0.1 (``pkg/types/dsse/v0.0.1/entry.go``)
    ``proposedContent.envelope`` is the DSSE envelope as a JSON *string* and ``verifiers`` the
    base64 PEM certificates or keys. Every signature must verify over the PAE with a verifier.
    The body keeps only hashes — ``envelopeHash`` = SHA-256 of the envelope string exactly as
    submitted, ``payloadHash`` = SHA-256 of the payload — and ``signatures``: each envelope
    signature string with the canonical PEM of the key that verified it, sorted by signature.

``intoto`` 0.0.2 (``pkg/types/intoto/v0.0.2/entry.go``)
    The envelope inline with base64 applied twice (``payload`` and each ``sig`` are the base64 of
    the envelope's base64 text) and a ``publicKey`` (base64 PEM) per signature. ``Canonicalize``
    keeps ``envelope.payloadType``, ``envelope.signatures`` as submitted (``keyid`` omitted when
    empty), the client's ``hash`` (no standard says how to compute it, so Rekor does not check it;
    @sigstore/sign hashes a JCS form of the envelope) and a server-computed ``payloadHash``.

Every body is RFC 8785 (JCS) canonical JSON, as Rekor's ``types.CanonicalizeEntry`` makes it
(``jsoncanonicalizer.Transform`` over ``Canonicalize``'s output). The entry UUID is the hex RFC
6962 leaf hash of the body.

We are stricter than Rekor where it is lenient by accident, never where a Sigstore client relies
on it: base64 must be standard, padded and canonical; a PEM value holds exactly one certificate or
public key; in ``dsse`` every verifier must verify some signature (Rekor stops looking once all
signatures verified, so it never even parses a surplus verifier); in ``intoto`` each signature
must verify with *its own* ``publicKey`` (Rekor tries every key) and a client-supplied
``payloadHash`` must be right (Rekor overwrites it); signature strings may not repeat. DSSE
signatures are checked by :func:`assay.provenance.dsse.verify` (Sigstore's algorithm registry:
ECDSA with the curve's own hash), where Rekor's ``LoadVerifier(key, SHA256)`` uses SHA-256 on every
curve; the two differ only for P-384/P-521 keys, which Sigstore clients do not sign with. Malformed
input raises :class:`~assay.errors.FormatError` (the envelope's own errors are its subclass
:class:`~assay.errors.EnvelopeError`); a signature or digest that does not verify raises
:class:`~assay.errors.VerificationError`. Nothing else escapes :meth:`ProposedEntry.from_json`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.errors import FormatError, VerificationError
from assay.provenance import dsse
from assay.provenance.dsse import Envelope, PublicKey
from assay.provenance.encoding import JSONValue, load_json_object
from assay.transparency.merkle import leaf_hash

__all__ = [
    "MAX_ENTRY_BYTES",
    "ProposedEntry",
    "SignedBy",
    "Verifier",
    "canonical_json",
    "decode_b64_field",
    "entry_uuid",
    "pair_dsse_signatures",
    "prehashed_signature_verifies",
    "set_payload",
]

MAX_ENTRY_BYTES: Final = 1 << 20
"""Largest ProposedEntry we parse. An npm provenance envelope is ~10 kB; Rekor's own limit on
attestations it stores is 100 kB (``max_attestation_size``)."""

MAX_SIGNATURES: Final = 8
MAX_VERIFIERS: Final = 8
MAX_PEM_BYTES: Final = 32 * 1024
MAX_SIGNATURE_BYTES: Final = 16 * 1024

_HASHES: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_MIN_RSA_BITS: Final = 2048
_STANDARD: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_PEM: Final = re.compile(
    r"-----BEGIN (CERTIFICATE|PUBLIC KEY)-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END \1-----"
)


def entry_uuid(canonical_body: bytes) -> str:
    """The entry UUID: hex ``SHA-256(0x00 || body)``, the RFC 6962 leaf hash (sigstore.md §3.1)."""
    return leaf_hash(canonical_body).hex()


_JCS_INT_MAX: Final = 2**53 - 1  # RFC 8785 §3.2.2.3: integers beyond IEEE 754 double precision
# Strings RFC 8785 §3.2.2.2 writes verbatim between quotes: printable ASCII without '"' and '\\'.
_JCS_VERBATIM: Final = re.compile(r"[ !#-\[\]-~]*")


def set_payload(body_b64: str, integrated_time: int, log_id_hex: str, log_index: int) -> bytes:
    """The bytes the log key signs as an entry's Signed Entry Timestamp (sigstore.md §3.1).

    JCS of exactly ``{"body", "integratedTime", "logID", "logIndex"}`` (rekor
    ``pkg/api/entries.go`` ``signEntry``), which sigstore-python and @sigstore/verify rebuild.
    """
    for name, value in (("integrated_time", integrated_time), ("log_index", log_index)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _JCS_INT_MAX:
            raise ValueError(f"{name} must be an integer in 0..2**53-1")
    if _JCS_VERBATIM.fullmatch(body_b64) and _JCS_VERBATIM.fullmatch(log_id_hex):
        # What RFC 8785 writes for these four members (sorted by name; integers in decimal;
        # strings quoted as they are, since base64 and hex need no escapes), without the
        # general serializer's cost on every verified bundle.
        return (
            f'{{"body":"{body_b64}","integratedTime":{integrated_time},'
            f'"logID":"{log_id_hex}","logIndex":{log_index}}}'
        ).encode("ascii")
    return _jcs(
        {
            "body": body_b64,
            "integratedTime": integrated_time,
            "logID": log_id_hex,
            "logIndex": log_index,
        }
    )


_JCS_INT_LIMIT: Final = 2**53 - 1


def _plain(value: JSONValue) -> bool:
    """Whether ``value`` holds only objects, arrays, strings, booleans, null and integers that
    JCS writes in decimal (no floats, no integers beyond 2**53 - 1)."""
    if isinstance(value, str | bool) or value is None:
        return True
    if isinstance(value, int):
        return -_JCS_INT_LIMIT <= value <= _JCS_INT_LIMIT
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return False


def _jcs(value: JSONValue) -> bytes:
    """RFC 8785 bytes of ``value``.

    An entry body is almost always base64, hex and fixed names: printable ASCII that needs no
    escape. For such a value JCS and the C encoder of :func:`json.dumps` (sorted keys, no
    whitespace, ASCII only) write the same bytes — keys in ASCII order are in UTF-16 order,
    integers below 2**53 are plain decimals (RFC 8785 §3.2.2.3), and a string without ``"``,
    ``\\`` or a control character is written as it is (§3.2.2.2). A backslash in the output means
    some string needed an escape (or was not ASCII), and then the general serializer writes it.
    """
    if _plain(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        if "\\" not in text:
            return text.encode("ascii")
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # only strings and small ints reach here
        raise FormatError(f"cannot canonicalize entry: {exc}") from exc


def canonical_json(value: JSONValue) -> bytes:
    """RFC 8785 (JCS) bytes of an entry body, as Rekor's ``CanonicalizeEntry`` writes them."""
    return _jcs(value)


def decode_b64_field(value: JSONValue, field: str, limit: int) -> bytes:
    """A bytes field of a request: standard padded, canonical base64 of at most ``limit``
    bytes (proto3 JSON and OpenAPI ``format: byte`` both write standard base64)."""
    return _b64(value, field, limit)


# --- the parties to an entry ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verifier:
    """A certificate or public key that verified a signature in the entry.

    ``pem`` is the canonical PEM Rekor writes into bodies (``pki/x509`` ``CanonicalValue``):
    standard 64-column PEM with a final newline, as ``cryptography`` also writes it.
    """

    pem: bytes
    public_key: PublicKey
    certificate: x509.Certificate | None = None

    @classmethod
    def of(cls, public_key: PublicKey, certificate: x509.Certificate | None = None) -> Verifier:
        """The verifier of ``public_key`` (from ``certificate`` if one was given), with its
        canonical PEM: the certificate's, else the key's SubjectPublicKeyInfo."""
        if certificate is not None:
            pem = certificate.public_bytes(serialization.Encoding.PEM)
        else:
            pem = public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return cls(pem=pem, public_key=public_key, certificate=certificate)

    @property
    def certificate_der(self) -> bytes | None:
        if self.certificate is None:
            return None
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class SignedBy:
    """One signature of the entry and the verifier it verified with."""

    signature: bytes
    verifier: Verifier


@dataclass(frozen=True, slots=True)
class ProposedEntry:
    """A verified ProposedEntry, ready to be appended: what was signed, by whom, and the body.

    ``digest`` is what the signatures vouch for: the artifact digest of a ``hashedrekord``
    (``digest_algorithm`` as the client named it), or SHA-256 of the DSSE payload for ``dsse``
    and ``intoto`` (whose ``payload`` and ``payload_type`` are kept too).
    """

    kind: str
    api_version: str
    canonical_body: bytes
    signatures: tuple[SignedBy, ...]
    digest_algorithm: str
    digest: bytes
    payload_type: str | None = None
    payload: bytes | None = None

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.canonical_body)

    @property
    def uuid(self) -> str:
        return entry_uuid(self.canonical_body)

    @property
    def certificates(self) -> tuple[bytes, ...]:
        """DER of each signing certificate (bare public keys have none)."""
        return tuple(der for signed in self.signatures if (der := signed.verifier.certificate_der))

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int = MAX_ENTRY_BYTES) -> ProposedEntry:
        """Parse and verify a ProposedEntry request body.

        Raises :class:`FormatError` for anything malformed, oversized or of a kind/version we do
        not accept, and :class:`VerificationError` for a signature or digest that does not verify.
        """
        if not isinstance(data, bytes | str):
            raise FormatError("proposed entry must be JSON text")
        size = len(data)
        if size <= max_bytes and isinstance(data, str):
            size = len(data.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise FormatError(f"proposed entry is larger than {max_bytes} bytes", size=size)
        root = load_json_object(data, error=FormatError, what="proposed entry")
        kind = _string(root, "kind", "")
        api_version = _string(root, "apiVersion", "")
        spec = _object(root, "spec", "")
        parser = _PARSERS.get((kind, api_version))
        if parser is None:
            raise FormatError(
                f"unsupported entry kind {kind[:40]!r} version {api_version[:20]!r}",
                kind=kind[:40],
                api_version=api_version[:20],
            )
        return parser(spec)


# --- strict field readers ------------------------------------------------------------------


def _field(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _get(obj: Mapping[str, JSONValue], name: str, path: str) -> JSONValue:
    value = obj.get(name)
    if value is None:
        raise FormatError(f"{_field(path, name)} is required", field=_field(path, name))
    return value


def _object(obj: Mapping[str, JSONValue], name: str, path: str) -> dict[str, JSONValue]:
    value = _get(obj, name, path)
    if not isinstance(value, dict):
        raise FormatError(f"{_field(path, name)} must be an object", field=_field(path, name))
    return value


def _string(obj: Mapping[str, JSONValue], name: str, path: str) -> str:
    value = _get(obj, name, path)
    if not isinstance(value, str) or not value:
        raise FormatError(
            f"{_field(path, name)} must be a non-empty string", field=_field(path, name)
        )
    return value


def _array(obj: Mapping[str, JSONValue], name: str, path: str, limit: int) -> list[JSONValue]:
    value = _get(obj, name, path)
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        raise FormatError(
            f"{_field(path, name)} must be an array of 1 to {limit} items",
            field=_field(path, name),
        )
    return value


def _b64(value: JSONValue, field: str, limit: int) -> bytes:
    """OpenAPI ``format: byte`` (go-openapi ``strfmt.Base64``): standard padded base64, which we
    also require to be canonical so the body re-encodes to exactly what was sent."""
    if not isinstance(value, str) or not value:
        raise FormatError(f"{field} must be a non-empty base64 string", field=field)
    if len(value) > (limit + 2) // 3 * 4:
        raise FormatError(f"{field} is too large", field=field)
    try:
        decoded = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise FormatError(f"{field} is not standard base64", field=field) from None
    if base64.b64encode(decoded).decode("ascii") != value:
        raise FormatError(f"{field} is not canonical base64", field=field)
    return decoded


def _inner_b64(raw: bytes, field: str) -> bytes:
    """The second base64 layer of ``intoto`` 0.0.2: the envelope's own base64 text, which DSSE
    verifiers decode in either alphabet (go-securesystemslib ``b64Decode``: Std, then URL)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(f"{field} does not hold base64 text", field=field) from None
    if _URLSAFE.fullmatch(text) and not _STANDARD.fullmatch(text):
        text = text.replace("-", "+").replace("_", "/")
    elif not _STANDARD.fullmatch(text):
        raise FormatError(f"{field} does not hold base64 text", field=field)
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except binascii.Error:
        raise FormatError(f"{field} does not hold base64 text", field=field) from None


def _hex_digest(
    obj: Mapping[str, JSONValue], path: str, algorithms: frozenset[str]
) -> tuple[str, bytes]:
    algorithm = _string(obj, "algorithm", path)
    if algorithm not in algorithms:
        raise FormatError(
            f"{path}.algorithm must be one of {sorted(algorithms)}", field=f"{path}.algorithm"
        )
    value = _string(obj, "value", path)
    size = _HASHES[algorithm]().digest_size
    # govalidator.IsHash: lowercase hex of the algorithm's length.
    if not re.fullmatch(f"[0-9a-f]{{{2 * size}}}", value):
        raise FormatError(
            f"{path}.value must be {2 * size} lowercase hex digits", field=f"{path}.value"
        )
    return algorithm, bytes.fromhex(value)


def _verifier(pem: bytes, field: str) -> Verifier:
    """One PEM certificate or SubjectPublicKeyInfo (rekor ``pki/x509.NewPublicKey``)."""
    try:
        text = pem.decode("ascii").strip()
    except UnicodeDecodeError:
        raise FormatError(f"{field} is not PEM", field=field) from None
    match = _PEM.fullmatch(text)
    if match is None:
        raise FormatError(f"{field} must be exactly one PEM certificate or public key", field=field)
    try:
        der = binascii.a2b_base64(re.sub(r"\r?\n", "", match[2]).encode(), strict_mode=True)
    except binascii.Error:
        raise FormatError(f"{field} has a malformed PEM body", field=field) from None
    certificate: x509.Certificate | None = None
    try:
        if match[1] == "CERTIFICATE":
            certificate = x509.load_der_x509_certificate(der)
            key: object = certificate.public_key()
        else:
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise FormatError(f"{field} does not parse: {exc}", field=field) from None
    return Verifier.of(_supported_key(key, field), certificate)


def _supported_key(key: object, field: str) -> PublicKey:
    # Sigstore's algorithm registry: ECDSA P-256/384/521, Ed25519, RSA (2048 bits or more).
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS:
        return key
    raise FormatError(f"{field} holds an unsupported key type", field=field)


def _check_distinct(signatures: list[str], field: str) -> None:
    if len(set(signatures)) != len(signatures):
        raise FormatError(f"{field} repeats a signature", field=field)


def pair_dsse_signatures(envelope: Envelope, keys: Sequence[PublicKey]) -> list[int]:
    """For each of the envelope's signatures, the index of the first key it verifies with.

    The rule of a ``dsse`` entry, v1 (rekor ``types/dsse`` entry.go) and v2 (rekor-tiles
    ``pkg/types/dsse``) alike: every signature verifies with some verifier and every verifier
    verifies some signature. Raises :class:`VerificationError` otherwise.
    """
    pairs: list[int] = []
    for signature in envelope.signatures:
        for position, key in enumerate(keys):
            if dsse.signature_verifies(envelope.payload_type, envelope.payload, signature.sig, key):
                pairs.append(position)
                break
        else:
            raise VerificationError(
                "a DSSE signature does not verify with any of the verifiers",
                signatures=len(envelope.signatures),
                verifiers=len(keys),
            )
    if len(set(pairs)) != len(keys):
        raise VerificationError("a verifier verifies none of the DSSE signatures")
    return pairs


def prehashed_signature_verifies(
    key: PublicKey, signature: bytes, digest: bytes, hash_type: type[hashes.HashAlgorithm]
) -> bool:
    """Whether ``signature`` verifies over an already hashed ``digest``: the hashedrekord rule
    of Rekor v1 and v2 alike (ECDSA, or RSA PKCS#1 v1.5, with ``Prehashed(hash_type)``).
    Any other key type does not verify; callers that must name the reason check it first."""
    prehashed = Prehashed(hash_type())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --- hashedrekord 0.0.1 ---------------------------------------------------------------------


def _hashedrekord(spec: dict[str, JSONValue]) -> ProposedEntry:
    signature = _object(spec, "signature", "spec")
    sig = _b64(
        _get(signature, "content", "spec.signature"), "spec.signature.content", MAX_SIGNATURE_BYTES
    )
    public_key = _object(signature, "publicKey", "spec.signature")
    pem = _b64(
        _get(public_key, "content", "spec.signature.publicKey"),
        "spec.signature.publicKey.content",
        MAX_PEM_BYTES,
    )
    verifier = _verifier(pem, "spec.signature.publicKey.content")
    data = _object(spec, "data", "spec")
    digest_json = _object(data, "hash", "spec.data")
    algorithm, digest = _hex_digest(digest_json, "spec.data.hash", frozenset(_HASHES))
    key = verifier.public_key
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        # hashedrekord entry.go: "ed25519 unsupported for hashedrekord" (it would need
        # Ed25519ph, which clients do not produce).
        raise FormatError("Ed25519 keys are not supported for hashedrekord entries")
    if not prehashed_signature_verifies(key, sig, digest, _HASHES[algorithm]):
        raise VerificationError(
            "hashedrekord signature does not verify over the digest", algorithm=algorithm
        )
    body: dict[str, JSONValue] = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
            "signature": {
                "content": base64.b64encode(sig).decode("ascii"),
                "publicKey": {"content": base64.b64encode(verifier.pem).decode("ascii")},
            },
        },
    }
    return ProposedEntry(
        kind="hashedrekord",
        api_version="0.0.1",
        canonical_body=_jcs(body),
        signatures=(SignedBy(sig, verifier),),
        digest_algorithm=algorithm,
        digest=digest,
    )


# --- dsse 0.0.1 -----------------------------------------------------------------------------


def _dsse(spec: dict[str, JSONValue]) -> ProposedEntry:
    # entry.go Unmarshal: a proposal must not carry the server-computed fields.
    for computed in ("envelopeHash", "payloadHash", "signatures"):
        if spec.get(computed) is not None:
            raise FormatError(
                f"spec.{computed} is computed by the log and must not be proposed",
                field=f"spec.{computed}",
            )
    proposed = _object(spec, "proposedContent", "spec")
    envelope_text = _string(proposed, "envelope", "spec.proposedContent")
    verifiers = [
        _verifier(
            _b64(value, f"spec.proposedContent.verifiers[{i}]", MAX_PEM_BYTES),
            f"spec.proposedContent.verifiers[{i}]",
        )
        for i, value in enumerate(
            _array(proposed, "verifiers", "spec.proposedContent", MAX_VERIFIERS)
        )
    ]
    envelope = Envelope.from_json(envelope_text)
    if not 1 <= len(envelope.signatures) <= MAX_SIGNATURES:
        raise FormatError(
            f"the DSSE envelope must carry 1 to {MAX_SIGNATURES} signatures",
            field="spec.proposedContent.envelope",
        )
    # The body carries each signature as the envelope spelled it (entry.go uses the raw string);
    # requiring that spelling to be canonical base64 keeps it within the body schema's pattern.
    spelled: list[str] = []
    for signature in envelope.signatures:
        text = signature.to_dict().get("sig")
        if not isinstance(text, str) or base64.b64encode(signature.sig).decode() != text:
            raise FormatError(
                "DSSE signatures must be standard padded base64",
                field="spec.proposedContent.envelope",
            )
        if not signature.sig:
            raise FormatError("a DSSE signature is empty", field="spec.proposedContent.envelope")
        spelled.append(text)
    _check_distinct(spelled, "spec.proposedContent.envelope")
    pairs = pair_dsse_signatures(envelope, [verifier.public_key for verifier in verifiers])
    signed = [
        (text, SignedBy(signature.sig, verifiers[position]))
        for text, signature, position in zip(spelled, envelope.signatures, pairs, strict=True)
    ]
    signed.sort(key=lambda item: item[0])
    payload_hash = hashlib.sha256(envelope.payload).digest()
    body: dict[str, JSONValue] = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(envelope_text.encode("utf-8")).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": payload_hash.hex()},
            "signatures": [
                {
                    "signature": text,
                    "verifier": base64.b64encode(by.verifier.pem).decode("ascii"),
                }
                for text, by in signed
            ],
        },
    }
    return ProposedEntry(
        kind="dsse",
        api_version="0.0.1",
        canonical_body=_jcs(body),
        signatures=tuple(by for _, by in signed),
        digest_algorithm="sha256",
        digest=payload_hash,
        payload_type=envelope.payload_type,
        payload=envelope.payload,
    )


# --- intoto 0.0.2 ---------------------------------------------------------------------------


def _intoto(spec: dict[str, JSONValue]) -> ProposedEntry:
    content = _object(spec, "content", "spec")
    path = "spec.content.envelope"
    envelope = _object(content, "envelope", "spec.content")
    payload = _inner_b64(
        _b64(_get(envelope, "payload", path), f"{path}.payload", MAX_ENTRY_BYTES),
        f"{path}.payload",
    )
    payload_type = _string(envelope, "payloadType", path)
    try:
        payload_type.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(f"{path}.payloadType is not valid Unicode") from None
    items = _array(envelope, "signatures", path, MAX_SIGNATURES)
    signatures: list[SignedBy] = []
    body_signatures: list[JSONValue] = []
    spelled: list[str] = []
    for i, item in enumerate(items):
        where = f"{path}.signatures[{i}]"
        if not isinstance(item, dict):
            raise FormatError(f"{where} must be an object", field=where)
        sig_outer = _b64(item.get("sig"), f"{where}.sig", MAX_SIGNATURE_BYTES)
        sig = _inner_b64(sig_outer, f"{where}.sig")
        if not sig:
            raise FormatError(f"{where}.sig is empty", field=f"{where}.sig")
        key_pem = _b64(item.get("publicKey"), f"{where}.publicKey", MAX_PEM_BYTES)
        verifier = _verifier(key_pem, f"{where}.publicKey")
        keyid = item.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise FormatError(f"{where}.keyid must be a string", field=f"{where}.keyid")
        if not dsse.signature_verifies(payload_type, payload, sig, verifier.public_key):
            raise VerificationError(f"{where} does not verify with its publicKey", field=where)
        # Both are kept as submitted (strfmt.Base64 re-encodes to the same canonical text).
        sig_text = base64.b64encode(sig_outer).decode("ascii")
        spelled.append(sig_text)
        signatures.append(SignedBy(sig, verifier))
        # models.IntotoV002SchemaContentEnvelopeSignaturesItems0: keyid is omitempty.
        entry: dict[str, JSONValue] = {
            "publicKey": base64.b64encode(key_pem).decode("ascii"),
            "sig": sig_text,
        }
        if keyid:
            entry["keyid"] = keyid
        body_signatures.append(entry)
    _check_distinct(spelled, f"{path}.signatures")
    envelope_hash_json = _object(content, "hash", "spec.content")
    _, envelope_hash = _hex_digest(envelope_hash_json, "spec.content.hash", frozenset({"sha256"}))
    payload_hash = hashlib.sha256(payload).digest()
    claimed = content.get("payloadHash")
    if claimed is not None:
        if not isinstance(claimed, dict):
            raise FormatError("spec.content.payloadHash must be an object")
        _, claimed_hash = _hex_digest(claimed, "spec.content.payloadHash", frozenset({"sha256"}))
        if claimed_hash != payload_hash:
            raise VerificationError("spec.content.payloadHash does not match the payload")
    body: dict[str, JSONValue] = {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {"payloadType": payload_type, "signatures": body_signatures},
                "hash": {"algorithm": "sha256", "value": envelope_hash.hex()},
                "payloadHash": {"algorithm": "sha256", "value": payload_hash.hex()},
            }
        },
    }
    return ProposedEntry(
        kind="intoto",
        api_version="0.0.2",
        canonical_body=_jcs(body),
        signatures=tuple(signatures),
        digest_algorithm="sha256",
        digest=payload_hash,
        payload_type=payload_type,
        payload=payload,
    )


_PARSERS: Final = {
    ("hashedrekord", "0.0.1"): _hashedrekord,
    ("dsse", "0.0.1"): _dsse,
    ("intoto", "0.0.2"): _intoto,
}
