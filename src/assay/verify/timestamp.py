"""RFC 3161 signed timestamps: step 8 of sigstore.md §6, verified times from a trusted TSA.

A bundle's ``verificationMaterial.timestampVerificationData.rfc3161Timestamps`` are DER
``TimeStampResp`` messages (RFC 3161 §2.4.2) whose token is a CMS ``SignedData`` (RFC 5652)
over a ``TSTInfo``. One counts as a verified time when, for some timestamp authority of the
trusted root (``timestampAuthorities``):

* the response's status is ``granted`` and it parses;
* the CMS signature verifies with the TSA's signing certificate (``certChain[0]`` of the trusted
  root entry; an embedded certificate must be that same one), over signed attributes whose
  ``messageDigest`` is the digest of the ``TSTInfo``;
* that certificate chains to the entry's root (through its intermediates) at ``genTime``, so an
  expired TSA chain still vouches for times inside its validity;
* the certificate's EKU extension is critical and names ``id-kp-timeStamping`` (RFC 3161 §2.3);
* the message imprint is the hash (SHA-256/384/512, as the imprint names) of the bundle's
  signature bytes — the DSSE signature or the message signature, nonce-free;
* ``genTime`` lies inside the trusted root entry's ``validFor``, inclusive at both ends
  (``TimeRange`` is a closed interval: conformance ``trust-root-tsa-validity-end-inclusive``).

Every timestamp in a bundle must verify (sigstore-js ``verifyRFC3161Timestamp`` throws on the
first that does not; sigstore-python drops it silently; we take the stricter rule), there may be
at most 32 of them and no duplicates (sigstore-go / sigstore-python ``MAX_ALLOWED_TIMESTAMP``),
and a trusted root without timestamp authorities cannot vouch for any.

Why ``rfc3161-client`` and not our own DER: the token is a CMS ``SignedData`` whose signature
covers the DER re-encoding of the signed attributes and whose signer is named by issuer and
serial number; getting every corner of that right (SET OF ordering, implicit tags, signer
matching, chain building at ``genTime``) is exactly the code that should be shared with the
reference client rather than rewritten. ``rfc3161-client`` (Trail of Bits, Apache-2.0, abi3
wheels) is what sigstore-python verifies timestamps with, so malformed or hostile tokens get the
same verdict from both; ``cryptography`` alone has no CMS verification API. Its import costs
about 1.5 ms on top of ``cryptography``; the verifiers are built on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from rfc3161_client import TimeStampResponse, Verifier, VerifierBuilder, decode_timestamp_response
from rfc3161_client import VerificationError as TimestampError

from assay.verify.steps import fail
from assay.verify.trust import CertificateAuthority

__all__ = ["MAX_TIMESTAMPS", "TimestampAuthorities"]

MAX_TIMESTAMPS: Final = 32


@dataclass(frozen=True, slots=True)
class _Authority:
    authority: CertificateAuthority
    verifier: Verifier


class TimestampAuthorities:
    """The trusted root's TSAs, each with a ready RFC 3161 verifier (built on first use)."""

    def __init__(self, authorities: tuple[CertificateAuthority, ...]) -> None:
        self._authorities = authorities
        self._verifiers: tuple[_Authority, ...] | None = None

    def _built(self) -> tuple[_Authority, ...]:
        if self._verifiers is None:
            built: list[_Authority] = []
            for authority in self._authorities:
                chain = authority.chain
                if len(chain) < 2:  # a signing certificate and a root, at least (sigstore-python)
                    continue
                builder = (
                    VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
                )
                for intermediate in chain[1:-1]:
                    builder = builder.add_intermediate_certificate(intermediate)
                built.append(_Authority(authority, builder.build()))
            self._verifiers = tuple(built)  # racing threads build equal tuples: harmless
        return self._verifiers

    def verify(self, signature: bytes, timestamps: Sequence[bytes]) -> list[datetime]:
        """The ``genTime`` of every timestamp, each verified over ``signature``; or step 8 fails."""
        if not timestamps:
            return []
        if not self._authorities:
            raise fail(
                8, "the bundle carries RFC 3161 timestamps, but the trusted root lists no TSA"
            )
        if len(timestamps) > MAX_TIMESTAMPS:
            raise fail(8, f"too many RFC 3161 timestamps: {len(timestamps)} > {MAX_TIMESTAMPS}")
        if len(set(timestamps)) != len(timestamps):
            raise fail(8, "the bundle carries the same RFC 3161 timestamp twice")
        return [self._verify_one(index, der, signature) for index, der in enumerate(timestamps)]

    def _verify_one(self, index: int, der: bytes, signature: bytes) -> datetime:
        try:
            response: TimeStampResponse = decode_timestamp_response(der)
            moment = response.tst_info.gen_time
        except ValueError as exc:
            raise fail(8, f"timestamp {index} is not an RFC 3161 TimeStampResp: {exc}") from None
        if moment.tzinfo is None:  # GeneralizedTime is UTC (RFC 3161 §2.4.2)
            moment = moment.replace(tzinfo=UTC)
        reasons: list[str] = []
        for entry in self._built():
            try:
                entry.verifier.verify_message(response, signature)
            except (TimestampError, ValueError) as exc:
                reasons.append(f"{entry.authority.uri or 'TSA'}: {exc}")
                continue
            if not entry.authority.valid_for.contains(moment):
                reasons.append(
                    f"{entry.authority.uri or 'TSA'}: genTime {moment.isoformat()} is outside "
                    "the authority's validity in the trusted root"
                )
                continue
            return moment
        raise fail(
            8,
            f"timestamp {index} does not verify with a timestamp authority of the trusted root"
            + (": " + "; ".join(reasons) if reasons else ""),
        )
