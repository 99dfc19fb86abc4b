"""Sigstore timestamp-authority's HTTP API (its ``openapi.yaml``; sigstore.md §3.4).

Routes, relative to the mount point (the all-in-one instance mounts this at ``/-/tsa``)::

    POST /api/v1/timestamp             application/timestamp-query (DER TimeStampReq) or
                                       application/json → application/timestamp-reply
    GET  /api/v1/timestamp/certchain   the chain, PEM, leaf first

Errors have timestamp-authority's shape, ``{"code": <HTTP status>, "message": "…"}``: 400 for
a request it refuses, 413 for a body over the limit, 415 for another media type. A refused
request changes nothing; a granted one is not stored (a TSA keeps no state).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.errors import AssayError
from assay.request_body import BodyTooLarge, read_bounded
from assay.tsa import TSAError, TSARequestTooLarge, TSAUnsupportedMediaType
from assay.tsa.authority import TimestampAuthority
from assay.tsa.request import TimestampRequest

MAX_BODY_BYTES = 8 * 1024  # a TimeStampReq is ~100 bytes; a SHA-512 one with a policy < 200
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
PEM_CHAIN = "application/pem-certificate-chain"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status)


def _status(error: AssayError) -> int:
    if isinstance(error, TSARequestTooLarge):
        return 413
    if isinstance(error, TSAUnsupportedMediaType):
        return 415
    if isinstance(error, TSAError):
        return 400
    return 500


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def create_app(authority: TimestampAuthority, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(title="Assay TSA", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(AssayError)
    async def assay_error(_request: Request, exc: AssayError) -> Response:
        status = _status(exc)
        return _error(
            status, exc.message if status < 500 else "Error generating timestamp response"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    @app.post("/api/v1/timestamp")
    async def timestamp(request: Request) -> Response:
        media_type = _media_type(request)
        if media_type not in (TIMESTAMP_QUERY, "application/json"):
            raise TSAUnsupportedMediaType(
                f"content type must be {TIMESTAMP_QUERY} or application/json"
            )
        try:
            body = await read_bounded(
                request.stream(), request.headers.get("content-length"), max_body_bytes
            )
        except BodyTooLarge as exc:
            raise TSARequestTooLarge(exc.message) from exc
        if media_type == TIMESTAMP_QUERY:
            parsed = TimestampRequest.from_der(body)
        else:
            parsed = TimestampRequest.from_json(body)
        reply = await run_in_threadpool(authority.timestamp, parsed)
        return Response(reply, media_type=TIMESTAMP_REPLY)

    @app.get("/api/v1/timestamp/certchain")
    async def certchain() -> Response:
        return Response(authority.chain_pem(), media_type=PEM_CHAIN)

    return app
