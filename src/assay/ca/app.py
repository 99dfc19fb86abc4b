"""The Fulcio v2 HTTP API (the JSON form of fulcio.proto's ``CA`` service; sigstore.md §1.1).

Routes, relative to the mount point (the all-in-one instance mounts this at ``/-/ca``)::

    POST /api/v2/signingCert    CreateSigningCertificate → signedCertificateEmbeddedSct
    GET  /api/v2/trustBundle    GetTrustBundle
    GET  /api/v2/configuration  GetConfiguration

Errors have grpc-gateway's shape, ``{"code": <gRPC status code>, "message": "…"}``, with the
HTTP status grpc-gateway would use for that code (sigstore-python shows ``message``). The
mapping from each kind of :class:`assay.ca.CAError` to its HTTP status and gRPC code lives here,
once.

Handlers are thin: bounded read → :meth:`SigningRequest.from_json` → the authority → PEM.
"""

from __future__ import annotations

from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.ca import (
    CAError,
    CAFault,
    CAPermissionDenied,
    CARequestTooLarge,
    CAUnauthenticated,
)
from assay.ca.authority import (
    CertificateAuthority,
    SigningRequest,
    TokenVerifier,
    create_signing_certificate,
)
from assay.errors import AssayError
from assay.request_body import BodyTooLarge, read_bounded

MAX_BODY_BYTES = 64 * 1024  # a CSR or key request is ~1 KiB, a JWT a few KiB

# HTTP status → gRPC status code (google.golang.org/grpc/codes), as grpc-gateway pairs them.
_GRPC_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    405: 12,  # UNIMPLEMENTED
    413: 8,  # RESOURCE_EXHAUSTED (what gRPC reports for an oversized message)
    500: 13,  # INTERNAL
}


# Each kind of refusal and its HTTP status; the most specific class wins.
_STATUSES: Final[tuple[tuple[type[CAError], int], ...]] = (
    (CAUnauthenticated, 401),
    (CAPermissionDenied, 403),
    (CARequestTooLarge, 413),
    (CAFault, 500),
)


def http_status(error: CAError) -> int:
    """The HTTP status the CA answers ``error`` with (400 for a plain refusal)."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 400


def error_response(status: int, message: str) -> JSONResponse:
    """Fulcio's error body for ``status``."""
    return JSONResponse({"code": _GRPC_CODES.get(status, 2), "message": message}, status)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes before parsing it."""
    try:
        return await read_bounded(request.stream(), request.headers.get("content-length"), limit)
    except BodyTooLarge as exc:
        raise CARequestTooLarge(exc.message) from exc


def create_app(
    authority: CertificateAuthority,
    verify_token: TokenVerifier,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The CA service for ``authority``; ``verify_token`` authenticates identity tokens."""
    app = FastAPI(title="Assay CA (Fulcio v2 API)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(CAError)
    async def ca_error(_: Request, exc: CAError) -> JSONResponse:
        return error_response(http_status(exc), exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.post("/api/v2/signingCert")
    async def signing_cert(request: Request) -> JSONResponse:
        body = await _read_body(request, max_body_bytes)
        signing_request = SigningRequest.from_json(body)
        try:
            chain = await run_in_threadpool(
                create_signing_certificate,
                authority,
                verify_token,
                signing_request,
                _bearer(request),
            )
        except CAError:
            raise
        except AssayError as exc:
            raise CAFault(exc.message) from exc
        return JSONResponse(
            {
                "signedCertificateEmbeddedSct": {
                    "chain": {"certificates": [_pem(certificate) for certificate in chain]}
                }
            }
        )

    @app.get("/api/v2/trustBundle")
    def trust_bundle() -> dict[str, Any]:
        return {
            "chains": [
                {"certificates": [_pem(certificate) for certificate in chain]}
                for chain in authority.trust_bundle()
            ]
        }

    @app.get("/api/v2/configuration")
    def configuration() -> dict[str, Any]:
        return {
            "issuers": [
                {
                    "issuerUrl": profile.issuer_url,
                    "audience": "sigstore",
                    "challengeClaim": profile.challenge_claim,
                    "issuerType": profile.fulcio_type,
                }
                for profile in authority.profiles
            ]
        }

    return app
