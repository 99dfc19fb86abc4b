"""The timestamp authority: a request in, a signed TimeStampResp out.

It signs whatever digest it is given — a TSA attests only that the digest existed at the time
it states, never what it is a digest of (RFC 3161 §2.1) — with a fresh random serial (at most
160 bits, RFC 3161 §2.4.2: unique per TSA) and the time of its own clock, in whole seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.ca.chain import serial_number
from assay.errors import AssayError
from assay.tsa import TSAError
from assay.tsa.request import TimestampRequest
from assay.tsa.token import granted_response, request_info, timestamp_token

SIGSTORE_TSA_POLICY: Final = "1.3.6.1.4.1.57264.2"
"""The policy OID Sigstore's timestamp-authority states by default (under Sigstore's arc)."""


@dataclass(frozen=True, slots=True)
class TimestampAuthority:
    """The TSA's key, its chain (leaf first, root last) and its policy."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]
    policy: str = SIGSTORE_TSA_POLICY
    clock: Callable[[], float] = field(default=time.time)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def chain_pem(self) -> str:
        """The chain as timestamp-authority's ``GET …/timestamp/certchain`` serves it."""
        return "".join(
            certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
            for certificate in self.chain
        )

    def timestamp(self, request: TimestampRequest) -> bytes:
        """The DER TimeStampResp granting ``request``."""
        if request.policy is not None and request.policy != self.policy:
            raise TSAError(
                "unaccepted policy: requested TSA policy is not supported by the TSA",
                policy=request.policy,
            )
        now = datetime.fromtimestamp(int(self.clock()), UTC)
        certificate = self.certificate
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise AssayError("the TSA's certificate is not valid now; it cannot timestamp")
        info = request_info(request, self.policy, serial_number(), now)
        token = timestamp_token(info, self.key, certificate, include_certificate=request.cert_req)
        return granted_response(token)
