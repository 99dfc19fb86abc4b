"""Signed `hashedrekord` requests for the log, as sigstore-python builds them (sigstore.md §3.2):
an ECDSA signature over the artifact's SHA-256 digest and a self-signed certificate."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from assay.keys import generate_ec


class RekordSigner:
    """One key and its certificate, signing any number of artifacts."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or generate_ec()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
            .sign(self.key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        self._pem_b64 = base64.b64encode(pem).decode()

    def hashedrekord(self, artifact: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(artifact).digest()
        signature = self.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": self._pem_b64},
                },
            },
        }


def hashedrekord(artifact: bytes) -> dict[str, Any]:
    """A request signed by a fresh key."""
    return RekordSigner().hashedrekord(artifact)
