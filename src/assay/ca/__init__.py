"""The certificate authority: a Fulcio-compatible CA for keyless signing.

Modules (sigstore.md §1–§2; fulcio pkg/ca, pkg/certificate, pkg/server):

* :mod:`assay.ca.chain` — the root and intermediate CA certificates (§1.5).
* :mod:`assay.ca.extensions` — OIDC claims → SAN and Sigstore OID extensions (§1.4), per
  issuer profile; the OIDs and their encodings are :mod:`assay.provenance.fulcio`'s.
* :mod:`assay.ca.sct` — the embedded SCT the CA signs with its CT key (§2.1, RFC 6962 §3.2); the
  signed struct and its verification are :mod:`assay.transparency.sct`'s.
* :mod:`assay.ca.authority` — proof of possession and leaf issuance (§1.1, §1.3).
* :mod:`assay.ca.app` — the Fulcio v2 HTTP API (the only module that imports FastAPI).

Every error the CA raises on purpose is a :class:`CAError` carrying the HTTP status it maps to,
so the HTTP layer never parses messages.
"""

from __future__ import annotations

from typing import Any

from assay.errors import AssayError


class CAError(AssayError):
    """A signing-certificate request the CA refuses; ``details["http_status"]`` says how.

    400 malformed request, bad CSR/key/proof or unusable claims; 401 missing or invalid token,
    or an issuer the CA does not serve; 403 a valid token whose identity may not be certified;
    413 a request body over the limit; 500 a fault of the CA itself.
    """

    def __init__(self, message: str, *, http_status: int = 400, **details: Any) -> None:
        super().__init__(message, http_status=http_status, **details)

    @property
    def http_status(self) -> int:
        status: int = self.details["http_status"]
        return status
