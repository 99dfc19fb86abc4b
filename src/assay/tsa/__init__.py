"""The timestamp authority: RFC 3161 timestamps over Sigstore timestamp-authority's HTTP API.

Rekor v2 signs no entry timestamps, so a signature's time comes from a TSA (sigstore.md §3.3,
§3.4). Modules:

* :mod:`assay.tsa.request` — a TimeStampReq (DER) or timestamp-authority's JSON request, checked.
* :mod:`assay.tsa.token` — TSTInfo, the CMS SignedData that signs it, the TimeStampResp.
* :mod:`assay.tsa.chain` — the TSA's signing certificate and its root.
* :mod:`assay.tsa.authority` — the authority: its key, chain, policy and clock.
* :mod:`assay.tsa.app` — the HTTP API (the only module that imports FastAPI).

The DER itself is :mod:`assay.provenance.der` (``cryptography`` has no RFC 3161), shared with
the signer's TSA client. Every refusal is a :class:`TSAError`; :mod:`assay.tsa.app` maps it to
timestamp-authority's error body, ``{"code": <HTTP status>, "message": "…"}``.
"""

from __future__ import annotations

from assay.errors import AssayError


class TSAError(AssayError):
    """A timestamp request the TSA refuses (HTTP 400): bad DER, an unknown or weak hash, a
    digest of the wrong length, a policy or extension it does not accept."""


class TSAUnsupportedMediaType(TSAError):
    """A request body that is neither ``application/timestamp-query`` nor JSON (HTTP 415)."""


class TSARequestTooLarge(TSAError):
    """A request body over the TSA's limit (HTTP 413)."""
