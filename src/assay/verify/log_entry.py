"""What the log says, checked against the bundle: steps 16, 17 and 20 of sigstore.md §6.

The log entry in a bundle is only worth something once the log's own signatures vouch for it (the
signed entry timestamp over the entry, step 17; the signed checkpoint over the tree the inclusion
proof leads to, step 16) and once its canonicalized body — what the log actually recorded — names
the same signature, certificate or key and digest as the bundle (step 20; CVE-2022-36056 was a
verifier that skipped this). Pure: the log keys come from the trusted root.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from assay.errors import FormatError, VerificationError
from assay.keys import verify_signature
from assay.provenance.bundle import Bundle, HashAlgorithm, TlogEntry
from assay.provenance.dsse import Envelope, PublicKey, pae
from assay.transparency.checkpoint import parse_signed_note, verify_checkpoint
from assay.transparency.rekor import set_payload
from assay.transparency.rekor_v2 import (
    PREHASH,
    DsseV002,
    HashedRekordV002,
    V2Verifier,
    key_details,
    parse_entry_body,
)
from assay.verify.steps import fail
from assay.verify.trust import TransparencyLog

__all__ = [
    "MESSAGE_HASHES",
    "check_dsse_body",
    "check_dsse_v2_body",
    "check_hashedrekord_body",
    "check_hashedrekord_v2_body",
    "check_intoto_body",
    "entry_body",
    "entry_body_v2",
    "verify_checkpoint_note",
    "verify_promise",
]

MESSAGE_HASHES: Final[Mapping[HashAlgorithm, str]] = {
    HashAlgorithm.SHA2_256: "sha256",
    HashAlgorithm.SHA2_384: "sha384",
    HashAlgorithm.SHA2_512: "sha512",
}


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _get(obj: object, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _same_signer(value: object, leaf: x509.Certificate | None, key: PublicKey) -> bool:
    """Whether a body's base64 PEM names the bundle's certificate (or, keyed, its public key)."""
    pem = _b64(value)
    if pem is None:
        return False
    try:
        if leaf is not None:
            return x509.load_pem_x509_certificate(pem) == leaf
        if b"CERTIFICATE" in pem:
            return False
        loaded = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        return False
    return _spki(loaded) == _spki(key)  # type: ignore[arg-type]


def verify_promise(
    entry: TlogEntry,
    signed_entry_timestamp: bytes,
    logs: tuple[TransparencyLog, ...],
    moment: datetime,
) -> None:
    try:
        message = set_payload(
            base64.b64encode(entry.canonicalized_body).decode("ascii"),
            entry.integrated_time,
            entry.log_id.key_id.hex(),
            entry.log_index,
        )
    except ValueError as exc:
        raise fail(17, f"the entry cannot be canonicalized: {exc}") from None
    valid = [log for log in logs if log.valid_for.contains(moment)]
    if not valid:
        raise fail(17, f"the log's key was not valid at the integrated time {moment.isoformat()}")
    for log in valid:
        if _verifies(log.public_key, signed_entry_timestamp, message):
            return
    raise fail(17, "the signed entry timestamp does not verify with the log's key")


def verify_checkpoint_note(
    note: str,
    root_hash: bytes,
    tree_size: int,
    entry: TlogEntry,
    logs: tuple[TransparencyLog, ...],
) -> None:
    try:
        _, signatures = parse_signed_note(note)
    except FormatError as exc:
        raise fail(16, f"the checkpoint is malformed: {exc.message}") from None
    hint = entry.log_id.key_id[:4]
    errors: list[str] = []
    for log in logs:
        # sigstore-js: key hint == logId[:4] and the key name inside the log's baseUrl.
        names = {s.name for s in signatures if s.key_id == hint and s.name in log.base_url}
        if isinstance(log.public_key, rsa.RSAPublicKey):
            continue  # signed notes use ECDSA or Ed25519 keys (C2SP signed-note)
        for name in sorted(names):
            try:
                checkpoint = verify_checkpoint(note, name, log.public_key)
            except (VerificationError, FormatError, TypeError) as exc:
                errors.append(str(exc))
                continue
            if checkpoint.root_hash != root_hash:
                raise fail(16, "the checkpoint's root hash differs from the inclusion proof's")
            if checkpoint.size != tree_size:
                raise fail(
                    16,
                    f"the checkpoint's tree size {checkpoint.size} differs from the inclusion "
                    f"proof's {tree_size}",
                )
            return
    if errors:
        raise fail(16, "the checkpoint signature does not verify: " + "; ".join(errors))
    raise fail(16, "the checkpoint is not signed by the entry's log")


def entry_body(entry: TlogEntry, kind: tuple[str, str]) -> dict[str, Any]:
    try:
        body = json.loads(entry.canonicalized_body)
    except (ValueError, UnicodeDecodeError):
        raise fail(20, "the log entry body is not JSON") from None
    if not isinstance(body, dict):
        raise fail(20, "the log entry body is not a JSON object")
    if (body.get("kind"), body.get("apiVersion")) != kind:
        raise fail(
            20,
            f"the log entry body is {body.get('kind')!r} {body.get('apiVersion')!r}, "
            f"but kindVersion says {kind[0]} {kind[1]}",
        )
    return body


def check_hashedrekord_body(
    body: dict[str, Any], bundle: Bundle, leaf: x509.Certificate | None, key: PublicKey
) -> None:
    message = bundle.message_signature
    if message is None:
        raise fail(20, "the bundle has no message signature")
    algorithm = MESSAGE_HASHES[message.message_digest.algorithm]
    spec = body.get("spec")
    if (
        _get(spec, "data", "hash", "algorithm") != algorithm
        or _get(spec, "data", "hash", "value") != message.message_digest.digest.hex()
    ):
        raise fail(20, "the log entry records a different artifact digest")
    if _b64(_get(spec, "signature", "content")) != message.signature:
        raise fail(20, "the log entry records a different signature")
    if not _same_signer(_get(spec, "signature", "publicKey", "content"), leaf, key):
        raise fail(20, "the log entry records a different certificate or key")


def check_dsse_body(
    body: dict[str, Any],
    envelope: Envelope,
    leaf: x509.Certificate | None,
    key: PublicKey,
) -> None:
    spec = body.get("spec")
    payload_hash = _get(spec, "payloadHash")
    if payload_hash != {
        "algorithm": "sha256",
        "value": hashlib.sha256(envelope.payload).hexdigest(),
    }:
        raise fail(20, "the log entry's payload hash does not match the DSSE payload")
    signatures = _get(spec, "signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise fail(20, "the log entry must record exactly one DSSE signature")
    if _b64(_get(signatures[0], "signature")) != envelope.signatures[0].sig:
        raise fail(20, "the log entry records a different DSSE signature")
    if not _same_signer(_get(signatures[0], "verifier"), leaf, key):
        raise fail(20, "the log entry records a different certificate or key")


def check_intoto_body(
    body: dict[str, Any],
    envelope: Envelope,
    leaf: x509.Certificate | None,
    key: PublicKey,
) -> None:
    content = _get(body, "spec", "content")
    payload_hash = _get(content, "payloadHash")
    if payload_hash != {
        "algorithm": "sha256",
        "value": hashlib.sha256(envelope.payload).hexdigest(),
    }:
        raise fail(20, "the log entry's payload hash does not match the DSSE payload")
    recorded = _get(content, "envelope")
    if _get(recorded, "payloadType") != envelope.payload_type:
        raise fail(20, "the log entry records a different payload type")
    if _get(recorded, "payload") is not None:
        inner = _b64(_get(recorded, "payload"))
        if inner is None or _b64(inner.decode("ascii", "replace")) != envelope.payload:
            raise fail(20, "the log entry records a different payload")
    signatures = _get(recorded, "signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise fail(20, "the log entry must record exactly one DSSE signature")
    # intoto 0.0.2 stores the envelope's base64 text base64-encoded again (sigstore.md §3.2).
    outer = _b64(_get(signatures[0], "sig"))
    if outer is None or _b64(outer.decode("ascii", "replace")) != envelope.signatures[0].sig:
        raise fail(20, "the log entry records a different DSSE signature")
    if not _same_signer(_get(signatures[0], "publicKey"), leaf, key):
        raise fail(20, "the log entry records a different certificate or key")


# --- Rekor v2 (hashedrekord and dsse 0.0.2; assay.transparency.rekor_v2) ------------------------

_HASH_NAMES: Final[Mapping[str, str]] = {
    "SHA2_256": "sha256",
    "SHA2_384": "sha384",
    "SHA2_512": "sha512",
}


def entry_body_v2(entry: TlogEntry, kind: tuple[str, str]) -> HashedRekordV002 | DsseV002:
    """The entry's canonicalized body as a Rekor v2 entry of the kind ``kindVersion`` names."""
    try:
        body = parse_entry_body(entry.canonicalized_body)
    except FormatError as exc:
        raise fail(20, f"the log entry body is not a Rekor v2 entry: {exc.message}") from None
    if (body.kind, "0.0.2") != kind:
        raise fail(20, f"the log entry body is {body.kind} 0.0.2, but kindVersion says {kind}")
    return body


def _same_v2_signer(verifier: V2Verifier, leaf: x509.Certificate | None, key: PublicKey) -> bool:
    """Whether a v2 verifier names the bundle's certificate (or, keyed, its key) and key type."""
    if verifier.key_details not in key_details(key):
        return False
    if leaf is not None:
        return verifier.x509_certificate == leaf.public_bytes(serialization.Encoding.DER)
    return verifier.public_key is not None and verifier.public_key == _spki(key)


def check_hashedrekord_v2_body(
    body: HashedRekordV002 | DsseV002,
    bundle: Bundle,
    leaf: x509.Certificate | None,
    key: PublicKey,
) -> None:
    """hashedrekord 0.0.2: the digest, signature and verifier the bundle has (CVE-2022-36056).

    For a message signature the recorded digest is the bundle's ``messageDigest`` (already
    matched to the artifact in step 19); for a DSSE envelope (rekor-v2-spec §6.1.4) it is the
    digest of the envelope's PAE under the hash that ``keyDetails`` externalizes.
    """
    if not isinstance(body, HashedRekordV002):
        raise fail(20, "the log entry is not a hashedrekord entry")
    verifier = body.signature.verifier
    if not _same_v2_signer(verifier, leaf, key):
        raise fail(20, "the log entry records a different certificate or key")
    envelope = bundle.dsse_envelope
    message = bundle.message_signature
    if envelope is not None:
        algorithm = PREHASH.get(verifier.key_details)
        if algorithm is None or body.algorithm != algorithm:
            raise fail(
                20,
                f"a DSSE hashedrekord entry for {verifier.key_details} must record "
                f"{algorithm or 'a prehash'}, not {body.algorithm}",
            )
        digest = hashlib.new(
            _HASH_NAMES[algorithm], pae(envelope.payload_type, envelope.payload)
        ).digest()
        signature = envelope.signatures[0].sig
    elif message is not None:
        recorded = MESSAGE_HASHES.get(message.message_digest.algorithm)
        if recorded is None or _HASH_NAMES.get(body.algorithm) != recorded:
            raise fail(20, "the log entry records a digest of a different algorithm")
        digest = message.message_digest.digest
        signature = message.signature
    else:
        raise fail(20, "the bundle has neither a message signature nor a DSSE envelope")
    if body.digest != digest:
        raise fail(20, "the log entry records a different artifact digest")
    if body.signature.content != signature:
        raise fail(20, "the log entry records a different signature")


def check_dsse_v2_body(
    body: HashedRekordV002 | DsseV002,
    envelope: Envelope,
    leaf: x509.Certificate | None,
    key: PublicKey,
) -> None:
    """dsse 0.0.2: the payload's SHA-256 and the one signature with its verifier."""
    if not isinstance(body, DsseV002):
        raise fail(20, "the log entry is not a dsse entry")
    if body.payload_algorithm != "SHA2_256" or (
        body.payload_hash != hashlib.sha256(envelope.payload).digest()
    ):
        raise fail(20, "the log entry's payload hash does not match the DSSE payload")
    if len(body.signatures) != 1:
        raise fail(20, "the log entry must record exactly one DSSE signature")
    if body.signatures[0].content != envelope.signatures[0].sig:
        raise fail(20, "the log entry records a different DSSE signature")
    if not _same_v2_signer(body.signatures[0].verifier, leaf, key):
        raise fail(20, "the log entry records a different certificate or key")


def _verifies(key: PublicKey, signature: bytes, message: bytes) -> bool:
    if isinstance(key, rsa.RSAPublicKey):
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True
    try:
        verify_signature(key, signature, message)
    except VerificationError:
        return False
    return True
