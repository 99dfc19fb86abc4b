"""Keys: generation, storage on disk, loading, and the public forms clients need.

This is the only module that reads or writes private keys. Files are created with mode 0600
and exclusive-create (never overwritten), and loading refuses a key file that other users can
read: a leaked signing key would let anyone forge certificates, log entries or registry
signatures, so we fail closed rather than warn.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from assay.errors import ConfigError, VerificationError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
Curve = Literal["P-256", "P-384"]

_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
# The hash each curve signs with (Sigstore keyDetails PKIX_ECDSA_P256_SHA_256 / P384_SHA_384).
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
# Sigstore trust-root keyDetails names (protobuf-specs sigstore_common.proto PublicKeyDetails).
_KEY_DETAILS = {
    "secp256r1": "PKIX_ECDSA_P256_SHA_256",
    "secp384r1": "PKIX_ECDSA_P384_SHA_384",
    "secp521r1": "PKIX_ECDSA_P521_SHA_512",
}


def generate_ec(curve: Curve = "P-256") -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA key on ``curve``."""
    return ec.generate_private_key(_CURVES[curve])


def generate_ed25519() -> ed25519.Ed25519PrivateKey:
    """A fresh Ed25519 key."""
    return ed25519.Ed25519PrivateKey.generate()


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM, mode 0600, refusing to overwrite anything."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"refusing to overwrite key file {path}", path=str(path)) from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def load_private_key(path: Path) -> PrivateKey:
    """Load a key written by :func:`write_private_key`; refuse group/world-readable files."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}", path=str(path)) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"key file {path} is accessible by other users (mode {stat.S_IMODE(mode):04o});"
            " run `chmod 600` on it",
            path=str(path),
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"key file {path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigError(f"key file {path} holds an unsupported key type")
    return key


def public_of(key: PublicKey | PrivateKey) -> PublicKey:
    """The public half of ``key`` (itself if it is public already)."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    return key


# spki_der of public keys, memoized by object identity: the verifier asks for the SPKI of the
# same trusted keys (log and CT keys loaded once with the trusted root) on every bundle, for
# checkpoint key IDs and SCT log IDs. Key objects are immutable, and each entry holds its key so
# that the key's id() cannot be reused while the entry exists. Bounded: cleared when full.
_SPKI_MEMO: dict[int, tuple[PublicKey, bytes]] = {}
_SPKI_MEMO_SIZE = 256


def spki_der(key: PublicKey | PrivateKey) -> bytes:
    """DER SubjectPublicKeyInfo of the (public half of the) key."""
    memo = _SPKI_MEMO.get(id(key))
    if memo is not None and memo[0] is key:
        return memo[1]
    public = public_of(key)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public is key:
        if len(_SPKI_MEMO) >= _SPKI_MEMO_SIZE:
            _SPKI_MEMO.clear()
        _SPKI_MEMO[id(key)] = (public, der)
    return der


def spki_pem(key: PublicKey | PrivateKey) -> str:
    """PEM SubjectPublicKeyInfo (``-----BEGIN PUBLIC KEY-----``)."""
    public = public_of(key)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(key: PublicKey | PrivateKey) -> bytes:
    """SHA-256 of the DER SPKI: Rekor's log ID, a CT log's ID, sigstore trust-root keyIds."""
    return hashlib.sha256(spki_der(key)).digest()


def key_details(key: PublicKey | PrivateKey) -> str:
    """The Sigstore ``keyDetails`` name for the key (``PKIX_ECDSA_P256_SHA_256``, …)."""
    public = public_of(key)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    return _KEY_DETAILS[public.curve.name]


def npm_key_id(key: PublicKey | PrivateKey) -> str:
    """npm's registry key id: ``SHA256:`` + unpadded base64 of the OpenSSH key blob's SHA-256.

    The blob is ``string("ecdsa-sha2-nistp256") || string("nistp256") || string(Q)`` with
    uint32 big-endian length prefixes and Q the uncompressed point (RFC 5656 §3.1; npm-registry
    spec §3.2).
    """
    public = public_of(key)
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise ConfigError("npm registry keys are ECDSA P-256")
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )

    def string(value: bytes) -> bytes:
        return len(value).to_bytes(4, "big") + value

    blob = string(b"ecdsa-sha2-nistp256") + string(b"nistp256") + string(point)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs with one private key the way Sigstore services do.

    ECDSA: the curve's hash over the message, DER signature. Ed25519: pure Ed25519.
    """

    key: PrivateKey

    def sign(self, message: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(message)
        return self.key.sign(message, ec.ECDSA(_HASHES[self.key.curve.name]()))

    @property
    def public_key(self) -> PublicKey:
        return self.key.public_key()


def verify_signature(public: PublicKey, signature: bytes, message: bytes) -> None:
    """Verify a signature made by :class:`Signer`; raise VerificationError if it is not valid."""
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            public.verify(signature, message, ec.ECDSA(_HASHES[public.curve.name]()))
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("signature does not verify") from exc
