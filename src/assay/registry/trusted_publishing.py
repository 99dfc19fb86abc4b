"""The OIDC token exchange of trusted publishing: a CI job's identity token in, a short-lived
token that can publish (or stage) one package out (docs/trusted-publishing.md).

``POST /-/npm/v1/oidc/token/exchange/package/<escaped name>``, bearer = the CI's OIDC token,
as npm's ``lib/utils/oidc.js`` sends it. The checks, in order (each refusal says which):

1. a bearer token is present (401);
2. the token is valid (:class:`~assay.oidc.validation.TokenValidator`): signed by a key of an
   issuer the registry trusts — the same allow-list as provenance
   (``settings.provenance_issuers``, plus the instance's own issuer only with CI emulation
   on: ``assay.instance.app.accepted_issuers``) — with ``aud`` exactly ``npm:<registry
   hostname>``, and ``exp``/``nbf``/``iat`` within :data:`LEEWAY` (401);
3. the package has trusted publishers: its ordinary ones if it exists, its *pending* ones
   (unexpired) if it does not (404);
4. one of them matches the token's claims (:mod:`assay.registry.publisher_claims`: repository,
   workflow, environment, reusable workflow, event, pinned ids; 403 naming the failed claim of
   the closest publisher and the token's value, never the configuration);
5. the publisher's immutable ids are pinned on first use (a concurrent first use re-checked);
6. the lifetime: :data:`LIFETIME_MS` (15 minutes) but never past the OIDC token's own ``exp``
   — the registry token never outlives the identity that bought it; an OIDC token with less
   than :data:`MIN_LIFETIME_MS` left is refused (401): fetch a fresh one;
7. a registry token is minted — ``assay_…`` like a user's, stored as its SHA-256 in
   ``registry_oidc_tokens`` with the publisher's permissions on this one package — in the
   same transaction that claims the token's ``(iss, jti)``, remembered :data:`JTI_MEMORY_MS`
   past its ``exp``: a token is exchanged at most once, across processes (401 on a replay).

The answer is 201 ``{"token_type": "oidc", "token", "created", "expires"}``; errors are
``{"message", "error"}`` (npm logs ``body.message``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from assay.npm.hosted import repository_key
from assay.npm.names import PackageName
from assay.oidc.validation import KeysUnavailableError, TokenError
from assay.registry.accounts import BEARER, CREATE_PACKAGE, TrustedPrincipal, new_token
from assay.registry.errors import Forbidden, NotFound, Unauthorized, Unavailable
from assay.registry.packuments import iso
from assay.registry.provenance import refuse
from assay.registry.publisher_claims import Match, Mismatch, match, npm_user
from assay.storage.account_store import now_ms
from assay.storage.registry_store import RegistryStore
from assay.storage.trust_store import (
    AuditEvent,
    StoredOidcToken,
    StoredPublisher,
    TrustStore,
    audit_event,
)
from assay.verify.facts import VerifiedFacts

LIFETIME_MS: Final = 15 * 60 * 1000
MIN_LIFETIME_MS: Final = 30 * 1000
LEEWAY: Final = timedelta(seconds=30)
"""Clock skew tolerated on ``exp``/``nbf``/``iat`` (the exchange's validator is built with it)."""
JTI_MEMORY_MS: Final = 24 * 60 * 60 * 1000
"""How long past a token's ``exp`` its ``jti`` is remembered: far beyond any leeway or clock
step, so a token can never be exchanged twice."""
MAX_BODY_BYTES: Final = 4096
"""npm sends no body; anything larger than this is refused unread."""
RETRY_AFTER: Final = 30


class IdentityValidator(Protocol):
    """Validates an OIDC identity token for an audience (assay.oidc.validation.TokenValidator)."""

    def validate(self, token: str, audience: str) -> dict[str, Any]: ...


def exchange_audience(origin: str) -> str:
    """``npm:<registry hostname>``: what npm asks GitHub for (``lib/utils/oidc.js``)."""
    return f"npm:{urlsplit(origin).hostname}"


class TokenExchange:
    """Trades verified CI identity tokens for package-scoped registry tokens."""

    def __init__(
        self,
        store: RegistryStore,
        trust: TrustStore,
        validator: IdentityValidator | None,
        audience: str,
        *,
        instance_issuer: str | None = None,
    ) -> None:
        self.store = store
        self.trust = trust
        self.validator = validator
        self.audience = audience
        # The instance's own issuer; its tokens are only valid here if the validator trusts it
        # (CI emulation on). Its jobs stand in for the forge they claim (publisher_claims).
        self.instance_issuer = instance_issuer

    def exchange(self, name: PackageName, authorization: str | None) -> dict[str, Any]:
        if self.validator is None:
            raise NotFound("Trusted publishing is not enabled on this registry")
        # 1. The bearer: the CI's OIDC token.
        token = _bearer(authorization)
        # 2. Signature, issuer, audience, times.
        try:
            claims = self.validator.validate(token, self.audience)
        except KeysUnavailableError as exc:
            raise Unavailable(
                f"Cannot check the OIDC token now: {exc.message}", retry_after=RETRY_AFTER
            ) from exc
        except TokenError as exc:
            raise Unauthorized(f"OIDC token refused: {exc.message}", challenge=BEARER) from exc
        audience = claims.get("aud")
        if audience not in (self.audience, [self.audience]):
            raise Unauthorized(
                f"OIDC token refused: its audience must be exactly {self.audience!r}",
                challenge=BEARER,
            )
        issuer = str(claims["iss"])
        emulated = self.instance_issuer is not None and issuer == self.instance_issuer
        # 3. The package's publishers: ordinary ones of an existing package, pending ones
        # (reserving the name) of a package that does not exist yet.
        now = now_ms()
        exists = self.store.package_rev(name.name) is not None
        candidates = [
            p
            for p in self.trust.publishers(name.name)
            if (not p.pending if exists else (p.pending_until_ms or 0) > now)
        ]
        if not candidates:
            raise NotFound(f"No trusted publisher is configured for {name.name}")
        # 4. Match.
        publisher, matched = self._match(name, candidates, claims, emulated)
        if not publisher.permissions:
            raise Forbidden(f"The trusted publisher of {name.name} is allowed nothing")
        # 5. Pin the immutable ids on first use (a concurrent first use: re-read, re-match).
        if (
            publisher.pins is None
            and matched.pins
            and not self.trust.pin_publisher(publisher.id, matched.pins)
        ):
            fresh = self.trust.publisher(publisher.id)
            if fresh is None:
                raise NotFound(f"No trusted publisher is configured for {name.name}")
            publisher, matched = self._match(name, [fresh], claims, emulated)
        # 6. The lifetime: 15 minutes, never past the OIDC token's own exp.
        expires_at = int(float(claims["exp"]) * 1000)
        expires = min(now + LIFETIME_MS, expires_at)
        if expires - now < MIN_LIFETIME_MS:
            raise Unauthorized(
                "OIDC token refused: it expires in less than "
                f"{MIN_LIFETIME_MS // 1000} seconds; fetch a fresh one",
                challenge=BEARER,
            )
        # 7. One exchange per token: the jti is claimed in the transaction that stores the
        # minted token, so a token is spent exactly when it bought one.
        jti = claims.get("jti")
        key = jti if isinstance(jti, str) and jti else "sha256:" + _digest(token)
        forget = max(expires_at, now) + int(LEEWAY.total_seconds() * 1000) + JTI_MEMORY_MS
        fresh_token = new_token()
        stored = StoredOidcToken(
            key=fresh_token.key,
            token_hash=fresh_token.token_hash,
            package=name.name,
            publisher_id=publisher.id,
            permissions=tuple(publisher.permissions),
            identity=dict(matched.identity),
            preview=fresh_token.preview,
            created_ms=now,
            expires_ms=expires,
        )
        event = audit_event(
            name.name,
            f"trusted-publisher:{publisher.id}",
            "oidc.exchange",
            token=stored.key,
            expires=iso(expires),
            identity=_summary(matched.identity),
        )
        if not self.trust.add_oidc_token_once(stored, issuer, key[:256], forget, [event]):
            raise Unauthorized(
                "OIDC token refused: it was already exchanged once (jti replay); "
                "fetch a new one from the CI",
                challenge=BEARER,
            )
        return {
            "token_type": "oidc",
            "token": fresh_token.secret,
            "created": iso(now),
            "expires": iso(expires),
        }

    def _match(
        self,
        name: PackageName,
        candidates: list[StoredPublisher],
        claims: Mapping[str, Any],
        emulated: bool,
    ) -> tuple[StoredPublisher, Match]:
        closest: Mismatch | None = None
        for publisher in candidates:
            result = match(
                publisher.provider, publisher.claims, publisher.pins, claims, emulated=emulated
            )
            if isinstance(result, Match):
                return publisher, result
            if closest is None or result.depth > closest.depth:
                closest = result
        assert closest is not None  # noqa: S101 - candidates is not empty
        raise Forbidden(
            f"No trusted publisher of {name.name} matches this OIDC token "
            f"(claim {closest.claim}): {closest.reason}"
        )


def _bearer(authorization: str | None) -> str:
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        raise Unauthorized(
            "Send the CI's OIDC identity token as 'Authorization: Bearer <token>' "
            "(npm does so in GitHub Actions, GitLab CI and CircleCI)",
            challenge=BEARER,
        )
    return credentials


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _summary(identity: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("provider", "issuer", "repository", "workflow", "ref", "sha", "run", "emulated")
    return {k: identity[k] for k in keep if k in identity}


# --- the publish side ------------------------------------------------------------------------


def check_trusted_publish(who: TrustedPrincipal, package: str) -> TrustedPrincipal:
    """403 unless the exchanged token may publish `package` (``createPackage``)."""
    if who.may(CREATE_PACKAGE, package):
        return who
    if package == who.package:
        raise Forbidden(
            f"This trusted-publishing token for {package} may only stage versions "
            "(createStagedPackage): use `npm stage publish`"
        )
    raise Forbidden(
        f"This token was issued by trusted publishing for {who.package}; "
        f"it cannot publish {package}"
    )


def check_trusted_existing(who: TrustedPrincipal, package: str) -> None:
    """A pending publisher reserved a name that did not exist; if someone else created the
    package meanwhile, the reservation is void and its tokens publish nothing."""
    if who.publisher.pending:
        raise Forbidden(
            f"{package} was created by another publish after this pending trusted publisher "
            "was registered; a maintainer of the package must configure trusted publishing"
        )


def trusted_publisher_record(who: TrustedPrincipal) -> str:
    """``registry_versions.trusted_publisher``: npm's ``_npmUser`` (shown in the packument) and
    the verified identity behind it (repository, workflow, ref, sha, run, issuer)."""
    record = {
        "npmUser": npm_user(who.publisher.provider, who.publisher.id),
        "identity": dict(who.token.identity),
        "token": who.token.key,
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def publish_event(who: TrustedPrincipal, version: str) -> AuditEvent:
    return audit_event(
        who.package,
        f"trusted-publisher:{who.publisher.id}",
        "publish",
        version=version,
        token=who.token.key,
        identity=_summary(who.token.identity),
    )


def bind_provenance(facts: VerifiedFacts, identity: Mapping[str, Any]) -> None:
    """422 unless the provenance certificate names the repository and workflow the OIDC
    exchange verified (PyPI's rule; npmjs.org does not check it): a trusted publisher's token
    cannot carry provenance signed for another build."""
    repository = str(identity.get("repository_url") or "")
    source = facts.source_repository_uri
    if not source or not repository or repository_key(source) != repository_key(repository):
        raise refuse(
            f"the provenance names source repository {source!r}, but this trusted-publishing "
            f"token was issued to {repository!r}"
        )
    separator = "//" if identity.get("provider") == "gitlab" else "/"
    expected = f"{repository}{separator}{identity.get('workflow')}"
    config = (facts.build_config_uri or "").partition("@")[0]
    if config.lower() != expected.lower():
        raise refuse(
            f"the provenance names build configuration {config!r}, but this "
            f"trusted-publishing token was issued to {expected!r}"
        )


__all__ = [
    "JTI_MEMORY_MS",
    "LEEWAY",
    "LIFETIME_MS",
    "MAX_BODY_BYTES",
    "MIN_LIFETIME_MS",
    "IdentityValidator",
    "TokenExchange",
    "bind_provenance",
    "check_trusted_existing",
    "check_trusted_publish",
    "exchange_audience",
    "publish_event",
    "trusted_publisher_record",
]
