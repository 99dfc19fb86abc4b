"""Validating OIDC identity tokens: the check the CA (Fulcio's role) and trusted publishing make.

sigstore-python and sigstore-js never verify a token's signature; only Fulcio does
(sigstore.md §1.2). So this is where an identity is proven. :meth:`TokenValidator.validate`
runs numbered steps and every failure is a :class:`TokenError` with a reason a person can act
on ("token expired", "audience 'x' is not 'sigstore'", "issuer 'x' is not trusted"). No other
exception escapes, whatever the input string.

The steps follow RFC 7519 §7.2 (validating a JWT) and RFC 7515 §5.2 (validating a JWS), with
the hardening the JWT BCP (RFC 8725) asks for:

* an algorithm allow-list, ES256 and RS256 only (§3.1: never ``none``; never an HMAC algorithm
  with a public key as the secret — §2.1's "algorithm confusion");
* the key chosen by the token's issuer and ``kid``, the algorithm tied to the key's type;
* ``iss`` compared exactly, ``aud`` required to contain the expected audience (§3.9);
* ``exp``, ``nbf`` and ``iat`` checked against an injected clock with a leeway, ``sub``
  required (OpenID Connect Core §2 requires ``iss, sub, aud, exp, iat``);
* strict parsing: base64url alphabet only, JSON objects without duplicate names, no
  ``NaN``/``Infinity``, a size limit, no ``crit`` extensions we do not understand.

Keys come from a :class:`TrustedIssuer`: static JWKs (how our own instance trusts its issuer
without HTTP) or a ``jwks_uri`` fetched with httpx and cached for a TTL, refreshed early when a
token names a ``kid`` we have not seen (issuers rotate keys), but at most every 30 seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from assay.errors import AssayError, ConfigError

Clock = Callable[[], datetime]

ALLOWED_ALGORITHMS = frozenset({"ES256", "RS256"})
MAX_TOKEN_LENGTH = 16 * 1024
DEFAULT_LEEWAY = timedelta(seconds=60)
JWKS_TTL = timedelta(minutes=10)
JWKS_MIN_REFRESH = timedelta(seconds=30)
MIN_RSA_BITS = 2048

GITHUB_ACTIONS_ISSUER_URL = "https://token.actions.githubusercontent.com"
GITLAB_COM_ISSUER_URL = "https://gitlab.com"

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_MAX_NUMERIC_DATE = 2**53  # far beyond year 9999, still exact as a float


def utc_now() -> datetime:
    """The system clock, in UTC: the default :data:`Clock`."""
    return datetime.now(UTC)


class TokenError(AssayError):
    """An identity token (or a CI request token) that is malformed, untrusted or not valid now.

    ``details["reason"]`` names the failure for HTTP mapping and metrics (``expired``,
    ``audience``, ``untrusted-issuer``, …); the message says it for people.
    """


class KeysUnavailableError(TokenError):
    """The keys of a trusted issuer could not be fetched: the token may be fine; retry later."""


def _fail(message: str, reason: str, **details: Any) -> TokenError:
    return TokenError(message, reason=reason, **details)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key of an issuer, with the one JWS algorithm it may verify."""

    algorithm: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    kid: str | None = None

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> VerificationKey | None:
        """The key in ``jwk`` if it is a signing key we accept (P-256 or RSA ≥ 2048), else None.

        Keys marked for encryption (``use: enc``), of other types or curves, or with an ``alg``
        other than the one their type implies, are skipped rather than refused: a JWKS may
        carry keys for other purposes (RFC 7517 §4.2, §4.4).
        """
        kid = jwk.get("kid")
        if jwk.get("use", "sig") != "sig" or not isinstance(kid, str | None):
            return None
        key: object
        try:
            if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                algorithm, key = "ES256", ECAlgorithm.from_jwk(dict(jwk))
            elif jwk.get("kty") == "RSA":
                algorithm, key = "RS256", RSAAlgorithm.from_jwk(dict(jwk))
            else:
                return None
        except (PyJWTError, ValueError, TypeError, KeyError, binascii.Error):
            return None
        if jwk.get("alg", algorithm) != algorithm:
            return None
        if isinstance(key, ec.EllipticCurvePublicKey):
            return cls(algorithm, key, kid)
        if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            return cls(algorithm, key, kid)
        return None  # a private key in a JWKS, or a short RSA key

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return ECAlgorithm(ECAlgorithm.SHA256).verify(signing_input, self.key, signature)
        return RSAAlgorithm(RSAAlgorithm.SHA256).verify(signing_input, self.key, signature)


def parse_jwks(document: object) -> tuple[VerificationKey, ...]:
    """The usable keys of a JWK Set (RFC 7517 §5); a document that is not one gives none."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        return ()
    parsed = (VerificationKey.from_jwk(jwk) for jwk in keys if isinstance(jwk, dict))
    return tuple(key for key in parsed if key is not None)


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An issuer whose tokens we accept, and where its keys come from.

    Exactly one source: static ``jwks`` (a JWK Set document or its list of keys), a
    ``jwks_uri``, or neither — then the keys are found through OpenID discovery at
    ``<issuer>/.well-known/openid-configuration`` (OIDC Discovery §4), for GitHub Enterprise
    Server and self-managed GitLab.
    """

    issuer: str
    jwks: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    jwks_uri: str | None = None
    keys: tuple[VerificationKey, ...] = field(init=False, default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigError("a trusted issuer needs its issuer URL")
        if self.jwks is not None and self.jwks_uri is not None:
            raise ConfigError(f"issuer {self.issuer}: give static JWKs or a jwks_uri, not both")
        if self.jwks is not None:
            if isinstance(self.jwks, Mapping):
                keys = parse_jwks(dict(self.jwks))
            else:
                keys = parse_jwks({"keys": [dict(jwk) for jwk in self.jwks]})
            if not keys:
                raise ConfigError(f"issuer {self.issuer}: no usable ES256/RS256 key in its JWKs")
            object.__setattr__(self, "keys", keys)

    @property
    def is_static(self) -> bool:
        return self.jwks is not None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


# The public CI issuers, by configuration (their discovery documents name these jwks_uris).
GITHUB_ACTIONS = TrustedIssuer(
    GITHUB_ACTIONS_ISSUER_URL, jwks_uri=f"{GITHUB_ACTIONS_ISSUER_URL}/.well-known/jwks"
)
GITLAB_COM = TrustedIssuer(
    GITLAB_COM_ISSUER_URL, jwks_uri="https://gitlab.com/oauth/discovery/keys"
)


@dataclass(frozen=True, slots=True)
class _CachedKeys:
    keys: tuple[VerificationKey, ...]
    fetched_at: datetime


def _b64url(segment: str, what: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise _fail(f"token {what} is not base64url", "malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"token {what} is not base64url", "malformed") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")  # RFC 7519 §4: reject, not guess
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise _fail(f"token {what} is not a JSON object: {exc}", "malformed") from exc
    if not isinstance(value, dict):
        raise _fail(f"token {what} is not a JSON object", "malformed")
    return value


def _optional_time(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2): a finite JSON number of seconds, if present."""
    if claims.get(name) is None:
        return None
    return _time(claims, name)


def _time(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise _fail(f"token has no {name!r} claim", "missing-claim", claim=name)
    # In range before any arithmetic: a 400-digit integer would overflow a float, and a
    # comparison with NaN is always false (json.loads never gives NaN here; be sure anyway).
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -_MAX_NUMERIC_DATE < value < _MAX_NUMERIC_DATE
    ):
        raise _fail(f"token claim {name!r} is not a NumericDate", "malformed", claim=name)
    return float(value)


def _when(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return repr(timestamp)


class TokenValidator:
    """Validates identity tokens from a fixed set of trusted issuers.

    Thread-safe: the JWKS cache is guarded by a lock, so one validator can serve a threaded
    web server.
    """

    def __init__(
        self,
        trusted: Sequence[TrustedIssuer],
        clock: Clock = utc_now,
        leeway: timedelta = DEFAULT_LEEWAY,
        *,
        http: httpx.Client | None = None,
        jwks_ttl: timedelta = JWKS_TTL,
    ) -> None:
        issuers: dict[str, TrustedIssuer] = {}
        for trusted_issuer in trusted:
            if trusted_issuer.issuer in issuers:
                raise ConfigError(f"issuer {trusted_issuer.issuer} is configured twice")
            issuers[trusted_issuer.issuer] = trusted_issuer
        self._issuers = issuers
        self._clock = clock
        self._leeway = leeway.total_seconds()
        self._http = http
        self._ttl = jwks_ttl
        self._cache: dict[str, _CachedKeys] = {}
        self._lock = threading.Lock()

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._issuers)

    def validate(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of ``token`` if it is valid now for ``audience``; else raise TokenError."""
        # 1. Shape: a compact JWS of three base64url segments, not absurdly large.
        if not isinstance(token, str):
            raise _fail("token is not a string", "malformed")
        if len(token) > MAX_TOKEN_LENGTH:
            raise _fail(f"token is longer than {MAX_TOKEN_LENGTH} characters", "malformed")
        segments = token.split(".")
        if len(segments) != 3:
            raise _fail("token is not a JWT (three dot-separated segments)", "malformed")
        header = _json_object(_b64url(segments[0], "header"), "header")
        payload = _b64url(segments[1], "payload")
        signature = _b64url(segments[2], "signature")
        claims = _json_object(payload, "payload")

        # 2. Header: an allowed algorithm (never none, never HMAC), no unknown critical ones.
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise _fail(
                f"algorithm {algorithm!r} is not allowed (only ES256, RS256)",
                "algorithm",
                algorithm=str(algorithm),
            )
        if "crit" in header:
            raise _fail("token has critical header parameters we do not support", "malformed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _fail("token header kid is not a string", "malformed")

        # 3. Issuer: chosen by the (still unverified) iss, compared exactly.
        issuer = claims.get("iss")
        if not isinstance(issuer, str):
            raise _fail("token has no 'iss' claim", "missing-claim", claim="iss")
        trusted = self._issuers.get(issuer)
        if trusted is None:
            raise _fail(f"issuer {issuer!r} is not trusted", "untrusted-issuer", issuer=issuer)

        # 4. Signature, with that issuer's key of that kid and that algorithm.
        candidates = [
            key
            for key in self._keys(trusted, kid)
            if key.algorithm == algorithm and (kid is None or key.kid == kid)
        ]
        if not candidates:
            raise _fail(
                f"issuer {issuer!r} has no {algorithm} key with kid {kid!r}",
                "unknown-key",
                issuer=issuer,
                kid=str(kid),
            )
        signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
        if not any(key.verify(signing_input, signature) for key in candidates):
            raise _fail("token signature does not verify", "signature", issuer=issuer)

        # 5. Claims: subject, audience, and the validity window against our clock.
        self._check_claims(claims, audience)
        return claims

    def _check_claims(self, claims: Mapping[str, Any], audience: str) -> None:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _fail("token has no 'sub' claim", "missing-claim", claim="sub")
        aud = claims.get("aud")
        if isinstance(aud, str):
            if aud != audience:
                raise _fail(f"audience {aud!r} is not {audience!r}", "audience", audience=aud)
        elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
            if audience not in aud:
                raise _fail(
                    f"audience {aud!r} does not include {audience!r}", "audience", audience=aud
                )
        else:
            raise _fail("token has no 'aud' claim", "missing-claim", claim="aud")

        now = self._clock().timestamp()
        expires, issued = _time(claims, "exp"), _time(claims, "iat")
        not_before = _optional_time(claims, "nbf")
        if now > expires + self._leeway:
            raise _fail("token expired", "expired", expired_at=_when(expires))
        if not_before is not None and now + self._leeway < not_before:
            raise _fail(
                f"token is not valid before {_when(not_before)}",
                "not-yet-valid",
                not_before=_when(not_before),
            )
        if now + self._leeway < issued:
            raise _fail(
                f"token was issued in the future ({_when(issued)})",
                "issued-in-future",
                issued_at=_when(issued),
            )

    # -- keys -------------------------------------------------------------------------------------

    def _keys(self, trusted: TrustedIssuer, kid: str | None) -> tuple[VerificationKey, ...]:
        if trusted.is_static:
            return trusted.keys
        with self._lock:
            now = self._clock()
            cached = self._cache.get(trusted.issuer)
            if cached is not None:
                age = now - cached.fetched_at
                known = kid is None or any(key.kid == kid for key in cached.keys)
                # Fresh and complete, or fetched so recently that refetching would only let a
                # stream of unknown kids hammer the issuer.
                if (age < self._ttl and known) or age < JWKS_MIN_REFRESH:
                    return cached.keys
            keys = self._fetch(trusted)
            self._cache[trusted.issuer] = _CachedKeys(keys, now)
            return keys

    def _get_json(self, url: str, issuer: str) -> object:
        try:
            if self._http is not None:
                response = self._http.get(url)
            else:
                response = httpx.get(url, timeout=10.0)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise KeysUnavailableError(
                f"cannot fetch the keys of issuer {issuer!r} from {url}: {exc}",
                reason="keys-unavailable",
                issuer=issuer,
                url=url,
            ) from exc

    def _fetch(self, trusted: TrustedIssuer) -> tuple[VerificationKey, ...]:
        jwks_uri = trusted.jwks_uri
        if jwks_uri is None:
            document = self._get_json(trusted.discovery_url, trusted.issuer)
            found = document.get("jwks_uri") if isinstance(document, dict) else None
            named = document.get("issuer") if isinstance(document, dict) else None
            # OIDC Discovery §4.3: the document must name exactly the issuer we asked.
            if named != trusted.issuer or not isinstance(found, str):
                raise KeysUnavailableError(
                    f"the discovery document of {trusted.issuer!r} does not name it"
                    " and its jwks_uri",
                    reason="keys-unavailable",
                    issuer=trusted.issuer,
                )
            jwks_uri = found
        return parse_jwks(self._get_json(jwks_uri, trusted.issuer))


__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "GITHUB_ACTIONS",
    "GITHUB_ACTIONS_ISSUER_URL",
    "GITLAB_COM",
    "GITLAB_COM_ISSUER_URL",
    "Clock",
    "KeysUnavailableError",
    "TokenError",
    "TokenValidator",
    "TrustedIssuer",
    "VerificationKey",
    "parse_jwks",
    "utc_now",
]
