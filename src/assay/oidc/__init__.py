"""The OIDC issuer for CI jobs, and identity-token validation (DESIGN.md, ``oidc/``).

* :mod:`~assay.oidc.claims` — :class:`CIJob`: a GitHub Actions or GitLab CI job's token claims
  and the environment variables the job sees, derived from the same values;
* :mod:`~assay.oidc.providers` — each provider's claim names, defaults and checks;
* :mod:`~assay.oidc.issuer` — :class:`OIDCIssuer`: discovery, JWKS, ES256 tokens, CI request
  tokens traded for identity tokens;
* :mod:`~assay.oidc.jobs` — where job registrations live (:class:`JobStore`);
* :mod:`~assay.oidc.validation` — :class:`TokenValidator`: the signature and claim checks the
  CA and trusted publishing make, failing only with :class:`TokenError`;
* :mod:`~assay.oidc.app` — the HTTP routes (imports FastAPI; import it explicitly).
"""

from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer
from assay.oidc.jobs import (
    FileJobStore,
    JobRecord,
    JobStore,
    MemoryJobStore,
    ensure_registration_secret,
    read_registration_secret,
)
from assay.oidc.providers import Provider
from assay.oidc.validation import (
    GITHUB_ACTIONS,
    GITLAB_COM,
    KeysUnavailableError,
    TokenError,
    TokenValidator,
    TrustedIssuer,
)

__all__ = [
    "GITHUB_ACTIONS",
    "GITLAB_COM",
    "CIJob",
    "FileJobStore",
    "JobRecord",
    "JobStore",
    "KeysUnavailableError",
    "MemoryJobStore",
    "OIDCIssuer",
    "Provider",
    "TokenError",
    "TokenValidator",
    "TrustedIssuer",
    "ensure_registration_secret",
    "read_registration_secret",
]
