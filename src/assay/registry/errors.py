"""Errors the registry answers with, one class per HTTP status npm reacts to.

The npm CLI shows ``body.error`` after the status line ("403 Forbidden - PUT <url> - <error>",
npm-registry-fetch ``lib/errors.js``), so every message is written for the person at the
terminal. 401s carry a ``WWW-Authenticate`` challenge because npm chooses its advice from it
(npm ``lib/utils/error-message.js``): ``Bearer`` → "your authentication token seems to be
invalid … npm login"; ``Basic`` → "Incorrect or missing password"; ``ipaddress`` → "Login is not
allowed from your IP address". The status of each class is mapped in one place, registry/app.py.
"""

from __future__ import annotations

from assay.errors import AssayError


class RegistryError(AssayError):
    """Root of the errors the registry reports to clients."""


class BadRequest(RegistryError):
    """400: the request is malformed (JSON, attachments, names, versions)."""


class Unauthorized(RegistryError):
    """401: no usable credentials. `challenge` is the WWW-Authenticate value, if any."""

    def __init__(self, message: str, *, challenge: str | None = None) -> None:
        super().__init__(message, challenge=challenge)
        self.challenge = challenge


class Forbidden(RegistryError):
    """403: authenticated, but not allowed (not an owner, read-only token, immutable version)."""


class NotFound(RegistryError):
    """404."""


class Conflict(RegistryError):
    """409: a stale revision or a concurrent change."""


class PayloadTooLarge(RegistryError):
    """413."""


class Unprocessable(RegistryError):
    """422: well-formed but refused content (a provenance bundle that does not verify)."""


class Unavailable(RegistryError):
    """503: a service the request needs (the transparency log, a forge) did not answer; retry
    later. ``retry_after``: seconds, sent as ``Retry-After`` (RFC 9110 §10.2.3)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
