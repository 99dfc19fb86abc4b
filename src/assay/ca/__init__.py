"""The certificate authority: a Fulcio-compatible CA for keyless signing.

Modules (sigstore.md §1–§2; fulcio pkg/ca, pkg/certificate, pkg/server):

* :mod:`assay.ca.chain` — the root and intermediate CA certificates (§1.5).
* :mod:`assay.ca.extensions` — OIDC claims → SAN and Sigstore OID extensions (§1.4), per
  issuer profile; the OIDs and their encodings are :mod:`assay.provenance.fulcio`'s.
* :mod:`assay.ca.sct` — the embedded SCT the CA signs with its CT key (§2.1, RFC 6962 §3.2); the
  signed struct and its verification are :mod:`assay.transparency.sct`'s.
* :mod:`assay.ca.authority` — proof of possession and leaf issuance (§1.1, §1.3).
* :mod:`assay.ca.app` — the Fulcio v2 HTTP API (the only module that imports FastAPI).

Every error the CA raises on purpose is a :class:`CAError`; its subclass says what kind of refusal
it is, and :mod:`assay.ca.app` alone maps each kind to an HTTP status and Fulcio's gRPC code.
"""

from __future__ import annotations

from assay.errors import AssayError


class CAError(AssayError):
    """A signing-certificate request the CA refuses as malformed: a bad CSR, key, proof of
    possession or unusable claims (Fulcio's InvalidArgument)."""


class CAUnauthenticated(CAError):
    """A missing or invalid identity token, or an issuer the CA does not serve."""


class CAPermissionDenied(CAError):
    """A valid token whose identity may not be certified (an unverified e-mail, say)."""


class CARequestTooLarge(CAError):
    """A request body over the CA's limit."""


class CAFault(CAError):
    """A fault of the CA itself (its clock, its keys, a certificate it cannot build)."""
