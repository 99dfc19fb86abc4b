"""HTTP routes of the OIDC issuer; the all-in-one instance mounts them at ``/-/oidc``.

::

    GET  /.well-known/openid-configuration   discovery (OIDC Discovery §4)
    GET  /.well-known/jwks                   the JWK Set named by jwks_uri
    GET  /ci/token?api-version=2.0&audience=X
         Authorization: bearer <request token>
         → 200 {"value": "<JWT>", "count": 1}, as GitHub's ACTIONS_ID_TOKEN_REQUEST_URL answers
         (sigstore.md §1.2); 401 for a missing, unknown or expired request token. Without an
         audience the token gets the job's default one (GitHub: the repository owner's URL).
    POST /ci/jobs   Authorization: Bearer <registration secret>
         {"provider": "github"|"gitlab", "server_url"?, "claims"?: {…}, "variables"?: {…}}
         → 201 {"request_token", "request_url", "expires_at", "job"}

The two CI routes exist only with CI emulation on (``settings.ci_emulation``, off by default in
the all-in-one instance): otherwise they answer 404 ``{"error": "CI emulation is off …",
"reason": "ci-emulation-off"}``.

Bounded work (assay.limits): ``POST /ci/jobs`` checks the registration secret from its headers
*before* it reads a byte of the body, then reads at most :data:`~assay.limits.OIDC_BODY_BYTES`
(413 beyond; a body that does not match :class:`JobRegistration` is 422). The instance's
OpenAPI document (assay.instance.openapi) describes the body all the same.

The bearer scheme is matched case-insensitively (RFC 7235 §2.1): sigstore-python's ``id``
sends ``bearer``, sigstore-js and npm send ``Bearer``. Handlers are thin: they parse, call
:class:`~assay.oidc.issuer.OIDCIssuer`, and render; errors map to statuses in
:func:`status_for`, the one place.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from assay.errors import AssayError, ConfigError, FormatError
from assay.limits import OIDC_BODY_BYTES
from assay.oidc.claims import CIJob
from assay.oidc.issuer import CI_JOBS_PATH, CI_TOKEN_PATH, DISCOVERY_PATH, JWKS_PATH, OIDCIssuer
from assay.oidc.validation import KeysUnavailableError, TokenError
from assay.request_body import BodyTooLarge, read_bounded

# Tokens are credentials: never cached by anything between us and the job (RFC 6749 §5.1).
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class JobRegistration(BaseModel):
    """The body of ``POST /ci/jobs``: what ``assay ci-job`` sends."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["github", "gitlab"]
    server_url: str | None = None
    claims: dict[str, str | int] = Field(default_factory=dict)
    variables: dict[str, str] = Field(default_factory=dict)


def status_for(error: AssayError) -> int:
    """The HTTP status of an error raised while serving a request."""
    if isinstance(error, KeysUnavailableError):
        return 503
    if isinstance(error, BodyTooLarge):
        return 413
    if isinstance(error, TokenError):
        return 401
    if isinstance(error, ConfigError | FormatError):
        return 400
    return 500


def bearer_token(request: Request) -> str | None:
    """The credential of an ``Authorization: Bearer <t>`` header, any case of the scheme."""
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential


def _error(error: AssayError) -> JSONResponse:
    status = status_for(error)
    body: dict[str, Any] = {"error": error.message}
    reason = error.details.get("reason")
    if reason is not None:
        body["reason"] = reason
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


CI_EMULATION_OFF = (
    "CI emulation is off on this instance: it mints no CI job tokens. Start it with "
    "`assay up --ci-emulation` (or ASSAY_CI_EMULATION=1) to emulate CI jobs"
)


def create_app(
    issuer: OIDCIssuer, *, registration_secret: str | None = None, ci_emulation: bool = True
) -> FastAPI:
    """The issuer's routes. Without ``registration_secret`` jobs cannot be registered over HTTP.

    ``ci_emulation`` False (the all-in-one instance's default, ``settings.ci_emulation``):
    ``POST /ci/jobs`` and ``GET /ci/token`` answer 404 with :data:`CI_EMULATION_OFF`; discovery
    and the JWKS stay, so tokens minted earlier can still be checked.
    """
    app = FastAPI(title="Assay OIDC issuer", docs_url=None, redoc_url=None, openapi_url=None)

    def emulation_off() -> JSONResponse:
        return JSONResponse(
            {"error": CI_EMULATION_OFF, "reason": "ci-emulation-off"},
            status_code=404,
            headers=_NO_STORE,
        )

    @app.exception_handler(AssayError)
    def assay_error(_request: Request, exc: AssayError) -> JSONResponse:
        return _error(exc)

    @app.get(DISCOVERY_PATH)
    def discovery() -> dict[str, Any]:
        return issuer.discovery()

    @app.get(JWKS_PATH)
    def jwks() -> dict[str, Any]:
        return issuer.jwks()

    @app.get(CI_TOKEN_PATH)
    def ci_token(request: Request, audience: str | None = None) -> JSONResponse:
        if not ci_emulation:
            return emulation_off()
        request_token = bearer_token(request)
        if request_token is None:
            raise TokenError(
                "missing bearer request token (ACTIONS_ID_TOKEN_REQUEST_TOKEN)",
                reason="missing-request-token",
            )
        token = issuer.job_token(request_token, audience or None)
        return JSONResponse({"value": token, "count": 1}, headers=_NO_STORE)

    # The body is read by hand, after the secret is checked (a declared model would be read
    # and parsed by the framework before the handler runs).
    @app.post(CI_JOBS_PATH, status_code=201)
    async def register(request: Request) -> JSONResponse:
        if not ci_emulation:
            return emulation_off()
        if registration_secret is None:
            return JSONResponse({"error": "job registration is disabled"}, status_code=403)
        credential = bearer_token(request) or ""
        if not hmac.compare_digest(credential.encode(), registration_secret.encode()):
            raise TokenError(
                "job registration needs the instance's registration secret",
                reason="registration-secret",
            )
        raw = await read_bounded(
            request.stream(), request.headers.get("content-length"), OIDC_BODY_BYTES
        )
        try:
            body = JobRegistration.model_validate_json(raw)
        except ValidationError as exc:
            # 422, as for any body that does not match its schema (what FastAPI answers).
            return JSONResponse(
                {"error": f"malformed job registration: {exc}", "reason": "invalid-job"},
                status_code=422,
                headers=_NO_STORE,
            )
        job = CIJob.create(
            body.provider, body.claims, server_url=body.server_url, variables=body.variables
        )
        request_token, record = await run_in_threadpool(issuer.register_job_record, job)
        return JSONResponse(
            {
                "request_token": request_token,
                "request_url": issuer.request_url,
                "expires_at": record.expires_at.isoformat(),
                "job": job.to_json(),
            },
            status_code=201,
            headers=_NO_STORE,
        )

    return app


__all__ = ["CI_EMULATION_OFF", "JobRegistration", "bearer_token", "create_app", "status_for"]
