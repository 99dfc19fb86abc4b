"""The OIDC issuer: discovery, keys, and identity tokens for the CI jobs it knows.

What a token consumer needs of an issuer (sigstore.md §1.2, OpenID Connect Discovery 1.0 §3):
``/.well-known/openid-configuration`` naming the ``issuer`` and its ``jwks_uri``, and a JWK Set
with the signing key. Tokens are ES256 JWTs (RFC 7515/7519) signed with the instance's P-256
OIDC key (``keys/oidc.key``), carrying a ``kid`` header that is the key's RFC 7638 thumbprint,
so a consumer can pick the key and we can rotate keys later.

Under the all-in-one instance the issuer is mounted at ``/-/oidc``, so its URL — the ``iss`` of
every token — is ``<origin>/-/oidc`` (DESIGN.md, one origin). GitHub's issuer serves its keys
at ``/.well-known/jwks``; ours does too.

CI jobs: :meth:`OIDCIssuer.register_job` stores a job and returns its request token;
:meth:`OIDCIssuer.job_token` trades a request token for a token with that job's claims, as
GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL`` does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm

from assay.errors import ConfigError
from assay.keys import Signer
from assay.oidc.claims import CIJob
from assay.oidc.jobs import (
    JOB_LIFETIME,
    JobRecord,
    JobStore,
    MemoryJobStore,
    find_job,
    register_job,
)
from assay.oidc.providers import GITHUB_CLAIMS, GITLAB_CLAIMS, REGISTERED_CLAIMS
from assay.oidc.validation import Clock, TrustedIssuer, utc_now

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks"
CI_TOKEN_PATH = "/ci/token"  # noqa: S105 - a URL path, not a secret
CI_JOBS_PATH = "/ci/jobs"
# The query every request URL carries, as GitHub's does: clients append `&audience=…` to it
# with plain string concatenation (npm's trusted publishing, npm-registry.md §5), with
# URLSearchParams (sigstore-js) or by re-encoding the query (sigstore-python's `id`).
CI_TOKEN_QUERY = "api-version=2.0"  # noqa: S105 - a query string, not a secret

TOKEN_LIFETIME = timedelta(minutes=5)
MAX_AUDIENCE_LENGTH = 1024
ALGORITHM = "ES256"

_STANDARD_CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint: SHA-256 over the key's required members, sorted, no whitespace."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    kty = jwk.get("kty")
    if kty not in required:
        raise ConfigError(f"no thumbprint for key type {kty!r}")
    members = {name: jwk[name] for name in required[str(kty)]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


class OIDCIssuer:
    """An OIDC identity provider for CI jobs, signing with one ECDSA P-256 key."""

    def __init__(
        self,
        issuer_url: str,
        signing_key: ec.EllipticCurvePrivateKey,
        clock: Clock = utc_now,
        *,
        jobs: JobStore | None = None,
        job_lifetime: timedelta = JOB_LIFETIME,
    ) -> None:
        if not isinstance(signing_key, ec.EllipticCurvePrivateKey) or not isinstance(
            signing_key.curve, ec.SECP256R1
        ):
            raise ConfigError("the OIDC issuer signs ES256 and needs an ECDSA P-256 key")
        if not issuer_url.startswith(("https://", "http://")):
            raise ConfigError(f"issuer URL {issuer_url!r} is not an http(s) URL")
        self.issuer_url = issuer_url.rstrip("/")
        self.jobs: JobStore = jobs if jobs is not None else MemoryJobStore()
        self._signer = Signer(signing_key)
        self._clock = clock
        self._job_lifetime = job_lifetime
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
        self.kid = jwk_thumbprint(jwk)
        self._jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    # -- what consumers read -------------------------------------------------------------------

    @property
    def jwks_uri(self) -> str:
        return self.issuer_url + JWKS_PATH

    @property
    def request_url(self) -> str:
        """The ``ACTIONS_ID_TOKEN_REQUEST_URL`` given to jobs: already carries a query string."""
        return f"{self.issuer_url}{CI_TOKEN_PATH}?{CI_TOKEN_QUERY}"

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider Metadata document (OIDC Discovery §3)."""
        claims = dict.fromkeys((*_STANDARD_CLAIMS, *GITHUB_CLAIMS, *GITLAB_CLAIMS, "environment"))
        return {
            "issuer": self.issuer_url,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "scopes_supported": ["openid"],
            "claims_supported": list(claims),
        }

    def jwks(self) -> dict[str, Any]:
        """The JWK Set (RFC 7517 §5) with the signing key."""
        return {"keys": [dict(self._jwk)]}

    def trusted_issuer(self) -> TrustedIssuer:
        """How this instance's own services trust this issuer: its static keys, no HTTP."""
        return TrustedIssuer(self.issuer_url, jwks=self.jwks())

    # -- tokens ----------------------------------------------------------------------------------

    def mint(
        self, claims: Mapping[str, Any], audience: str, lifetime: timedelta = TOKEN_LIFETIME
    ) -> str:
        """A signed JWT with ``claims``, for ``audience``, valid from now for ``lifetime``.

        The registered claims (``iss``, ``aud``, ``iat``, ``nbf``, ``exp``, ``jti``) are the
        issuer's to set; passing any of them in ``claims`` is an error.
        """
        reserved = sorted(REGISTERED_CLAIMS & set(claims))
        if reserved:
            raise ConfigError(f"claims {', '.join(reserved)} are set by the issuer")
        if not audience or len(audience) > MAX_AUDIENCE_LENGTH:
            raise ConfigError("a token needs an audience of at most 1024 characters")
        if lifetime <= timedelta(0):
            raise ConfigError("a token's lifetime must be positive")
        issued = int(self._clock().timestamp())
        payload = {
            **claims,
            "iss": self.issuer_url,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(lifetime.total_seconds()),
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_b64url(_json(header))}.{_b64url(_json(payload))}"
        # JWS ES256 signatures are R || S, each 32 bytes big-endian (RFC 7518 §3.4), not DER.
        r, s = decode_dss_signature(self._signer.sign(signing_input.encode("ascii")))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    # -- CI jobs ---------------------------------------------------------------------------------

    def register_job(self, job: CIJob) -> str:
        """Remember ``job`` and return its request token (``ACTIONS_ID_TOKEN_REQUEST_TOKEN``)."""
        return self.register_job_record(job)[0]

    def register_job_record(self, job: CIJob) -> tuple[str, JobRecord]:
        """:meth:`register_job`, also returning the stored record (for its expiry)."""
        return register_job(self.jobs, job, self._clock(), self._job_lifetime)

    def find_job(self, request_token: str) -> CIJob:
        """The job behind ``request_token``; TokenError if it is unknown or expired."""
        return find_job(self.jobs, request_token, self._clock())

    def job_token(self, request_token: str, audience: str | None = None) -> str:
        """A token for the job behind ``request_token``, for ``audience`` or the job's default.

        The default is GitHub's: the URL of the repository owner (see
        :attr:`CIJob.default_audience`). Raises TokenError for an unknown or expired request
        token.
        """
        job = self.find_job(request_token)
        return self.mint(job.token_claims(), audience or job.default_audience, job.token_lifetime)


__all__ = [
    "CI_JOBS_PATH",
    "CI_TOKEN_PATH",
    "CI_TOKEN_QUERY",
    "DISCOVERY_PATH",
    "JWKS_PATH",
    "TOKEN_LIFETIME",
    "OIDCIssuer",
    "jwk_thumbprint",
]
