"""Test helpers: a clock that tests move, and hand-made JWTs (any header, any payload).

Tokens are built here with ``cryptography`` directly, not with our issuer, so the validator is
tested against tokens it did not help make, including ones no well-behaved issuer would make.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class MovableClock:
    """A clock that stands still until a test moves it."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return b64url(raw)


def sign(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | bytes | None,
    header: dict[str, Any],
    payload: object,
) -> str:
    """A compact JWS: ES256 or RS256 with a private key, HS256 with bytes, unsigned with None."""
    signing_input = f"{encode(header)}.{encode(payload)}".encode("ascii")
    if key is None:
        signature = b""
    elif isinstance(key, bytes):
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def claims_at(issuer: str, when: datetime, **extra: Any) -> dict[str, Any]:
    """A valid claim set issued at ``when`` for five minutes, audience ``sigstore``."""
    issued = int(when.timestamp())
    return {
        "iss": issuer,
        "sub": "repo:acme/widget:ref:refs/heads/main",
        "aud": "sigstore",
        "iat": issued,
        "nbf": issued,
        "exp": issued + 300,
        **extra,
    }
