"""What keyless signing raises (one root under :class:`assay.errors.AssayError`)."""

from __future__ import annotations

from assay.errors import AssayError

__all__ = ["SigningError", "TokenError"]


class SigningError(AssayError):
    """Keyless signing failed: a service refused, answered oddly, or could not be reached."""


class TokenError(SigningError):
    """No usable OIDC identity token."""
