"""OIDC identity tokens: the CI job's, found as npm finds it, and read (not verified) here.

The one place Assay trades a CI system's ambient credential for a token: ``assay publish
--provenance``, ``assay provenance`` and ``assay ci-job`` (which mints tokens for emulated jobs)
all come here. The CA verifies the token; we read it only to sign the right challenge and to
refuse, with a clear message, a token the CA would refuse anyway (sigstore.md §1.1–1.2).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx

from assay.sign.errors import TokenError
from assay.sign.http import http_session, reason

__all__ = ["SIGSTORE_AUDIENCE", "IdentityToken", "ci_identity_token", "github_actions_token"]

SIGSTORE_AUDIENCE: Final = "sigstore"


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass(frozen=True, slots=True)
class IdentityToken:
    """An OIDC JWT, read but not verified (the CA verifies it; sigstore.md §1.2)."""

    raw: str = field(repr=False)  # a bearer credential: never in reprs or logs
    claims: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, raw: str) -> IdentityToken:
        token = raw.strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("the identity token is not a JWT (expected three dot-separated parts)")
        try:
            claims = json.loads(_b64url(parts[1]))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise TokenError("the identity token's claims are not base64url JSON") from exc
        if not isinstance(claims, dict):
            raise TokenError("the identity token's claims are not a JSON object")
        return cls(raw=token, claims=claims)

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))

    @property
    def challenge(self) -> str:
        """What the proof of possession signs: ``email`` if present (and verified), else ``sub``.

        @sigstore/sign ``util/oidc.js extractJWTSubject``; Fulcio's CI-provider principals check
        ``sub`` and email principals check ``email`` (sigstore.md §1.1).
        """
        email = self.claims.get("email")
        if email:
            if not self.claims.get("email_verified"):
                raise TokenError("JWT email not verified by issuer")
            return str(email)
        subject = self.claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenError("JWT subject not found")
        return subject

    def check(self, *, now: float | None = None) -> None:
        """Refuse a token the CA would refuse anyway, with a clearer message.

        sigstore-python's ``IdentityToken`` checks ``aud`` and expiry (5 s leeway); so do we.
        """
        audience = self.claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if SIGSTORE_AUDIENCE not in audiences:
            raise TokenError(
                f"the identity token's audience is {audience!r}, not {SIGSTORE_AUDIENCE!r}",
                issuer=self.issuer,
            )
        expires = self.claims.get("exp")
        moment = time.time() if now is None else now
        if isinstance(expires, int | float) and expires + 5 < moment:
            raise TokenError("the identity token has expired", issuer=self.issuer)


def ci_identity_token(env: Mapping[str, str], *, client: httpx.Client | None = None) -> str:
    """The Sigstore identity token of the CI job ``env`` describes, found as npm finds it.

    @sigstore/sign ``CIContextProvider('sigstore')`` is a ``Promise.any`` of GitHub's ambient
    credential and ``SIGSTORE_ID_TOKEN`` (npm-registry.md §1.5): whichever works. Raises
    :class:`TokenError` when neither does, naming why.
    """
    problems: list[str] = []
    request_url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if request_url and request_token:
        try:
            return github_actions_token(request_url, request_token, client=client)
        except TokenError as exc:
            problems.append(exc.message)
    elif request_url:
        problems.append("ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set")
    sigstore_token = env.get("SIGSTORE_ID_TOKEN")
    if sigstore_token:
        return sigstore_token
    problems.append("SIGSTORE_ID_TOKEN is not set")
    raise TokenError("no identity token: " + "; ".join(problems))


def github_actions_token(
    request_url: str,
    request_token: str,
    *,
    audience: str = SIGSTORE_AUDIENCE,
    client: httpx.Client | None = None,
) -> str:
    """Trade GitHub's ambient credential for a token with ``audience`` (``sigstore`` for
    signing; ``assay ci-job`` mints others, e.g. npm's ``npm:<registry host>``).

    As @sigstore/sign ``identity/ci.js`` does: ``audience=…`` appended to the request URL's
    query (which already has one), ``Authorization: Bearer``, ``Accept: application/json``;
    the token is the response's ``value``.
    """
    separator = "&" if urlsplit(request_url).query else "?"
    url = f"{request_url}{separator}{urlencode({'audience': audience})}"
    with http_session(client) as http:
        try:
            response = http.get(
                url,
                headers={"Authorization": f"Bearer {request_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TokenError(f"cannot reach the GitHub Actions token endpoint: {exc}") from exc
    if response.status_code != 200:
        raise TokenError(
            f"the GitHub Actions token endpoint answered {response.status_code}: "
            f"{reason(response)}",
            audience=audience,
        )
    try:
        value = response.json().get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise TokenError("the GitHub Actions token endpoint answered without a token value")
    return value
