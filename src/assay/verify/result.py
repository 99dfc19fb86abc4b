"""What a verification proves: :class:`VerificationResult`, and the :class:`SignerIdentity` in it.

Its own module so that the verifier (which builds results) and the policies (which check them)
both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from assay.provenance.bundle import Bundle, TlogEntry
from assay.provenance.fulcio import SignerIdentity
from assay.provenance.statement import Statement

__all__ = ["SignerIdentity", "VerificationResult"]


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """A bundle that verified: what was signed, by whom, and where and when it was logged.

    ``signer`` is the identity the signing certificate names (:mod:`assay.provenance.fulcio`),
    None for a bundle signed with a bare key named by ``public_key_hint``.
    """

    bundle: Bundle = field(repr=False)
    kind: str
    kind_version: str
    log_entry: TlogEntry = field(repr=False)
    log_index: int
    integrated_time: datetime | None
    verified_times: tuple[datetime, ...]
    signer: SignerIdentity | None
    public_key_hint: str | None
    payload_type: str | None = None
    payload: bytes | None = field(default=None, repr=False)
    statement: Statement | None = field(default=None, repr=False)

    @property
    def keyless(self) -> bool:
        """Signed with a CA certificate (rather than a bare key named by a hint)."""
        return self.signer is not None
