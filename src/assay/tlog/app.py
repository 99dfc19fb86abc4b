"""The transparency log's HTTP API: Rekor v1 (sigstore.md §3.1), Rekor v2 (§3.3), C2SP tlog-tiles.

Routes, relative to the mount point (the all-in-one instance mounts this at ``/-/tlog``)::

    POST /api/v1/log/entries              append a verified entry → 201 {entryID: LogEntry}
    GET  /api/v1/log/entries?logIndex=N   an entry by index
    GET  /api/v1/log/entries/{uuid}       an entry by UUID (64 hex) or entry ID (80 hex)
    POST /api/v1/log/entries/retrieve     several, by entryUUIDs, logIndexes or entries
    GET  /api/v1/log                      size, root, signed tree head
    GET  /api/v1/log/proof                consistency proof (firstSize, lastSize)
    GET  /api/v1/log/publicKey            the log's key, PEM
    GET  /checkpoint                      the signed checkpoint (tlog-tiles)
    GET  /tile/<L>/<N>[.p/<W>]            hash tiles; /tile/entries/<N>[.p/<W>] entry bundles
    POST /api/v2/log/entries              Rekor v2: a verified CreateEntryRequest → 200
                                          TransparencyLogEntry (proto3 JSON), once committed
    GET  /api/v2/checkpoint, /api/v2/tile/…   the same checkpoint and tiles, where rekor-tiles
                                          serves them

Both write APIs append to the same tree: a v2 entry (``hashedrekord``/``dsse`` 0.0.2) is proven
by the same checkpoints as a v1 entry. v2 has no signed entry timestamp; its answer carries
``integratedTime`` 0 and the client gets its time from a TSA.

Errors have Rekor's shape, ``{"code": <HTTP status>, "message": "…"}``. A duplicate is 409
with a ``Location`` header naming the existing entry (sigstore-js follows it to fetch the entry).
Nothing is appended unless the entry's signatures verified (``ProposedEntry.from_json``).

Appends are rate-limited per client (``appends``: a :class:`~assay.limits.RateLimiter`, 429 with
``Retry-After`` before the body is read) unless the request carries ``Authorization: Bearer
<writer secret>`` (``Settings.tlog_writer_secret``: other nodes, mirrors); a wrong secret is
401. The registry of the all-in-one instance logs in process, not over HTTP, so it is never
limited. Integer parameters are bounded (assay.limits.parse_int): 400, never an overflow.

The two append routes are also a bare ASGI app, :class:`LogAppends`, which the instance calls
before its router (assay.instance.app): an append is the log's hot path, and it answers the
same way through either door (one ``respond``), without two framework stacks per request.

Mounted sub-applications get no lifespan events in Starlette, so the owner of the log service
starts and stops its sequencer (the instance app's lifespan does).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from assay import limits
from assay.errors import AssayError, FormatError, VerificationError
from assay.limits import RateLimited, RateLimiter
from assay.request_body import BodyTooLarge, read_bounded
from assay.tlog.sequencer import DuplicateEntry, LogOverloaded
from assay.tlog.service import LogService, NotFound
from assay.tlog.tiles import Tile, parse_path
from assay.transparency.rekor import MAX_ENTRY_BYTES


class _Unauthorized(AssayError):
    """A bearer credential on an append that is not the writer secret (401)."""


MAX_RETRIEVE = 256  # Rekor caps retrieve requests (searchLogQuery maxItems 10/…); ours is looser


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    return await read_bounded(request.stream(), request.headers.get("content-length"), limit)


def _int_param(request: Request, name: str, required: bool = True) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        if required:
            raise FormatError(f"query parameter {name} is required")
        return None
    return limits.parse_int(raw, f"query parameter {name}")


def _error_response(service: LogService, exc: AssayError, root_path: str) -> Response:
    """The Rekor-shaped answer to an error of the log (every route, either door)."""
    if isinstance(exc, DuplicateEntry):
        entry_id = service.entry_id(exc.existing.uuid)
        location = f"{root_path}/api/v1/log/entries/{entry_id}"
        return _error(
            409,
            f"an equivalent entry already exists in the transparency log with UUID {entry_id}",
            {"Location": location, "ETag": entry_id},
        )
    if isinstance(exc, NotFound):
        return _error(404, exc.message)
    if isinstance(exc, RateLimited):
        return _error(429, exc.message, limits.retry_after_header(exc))
    if isinstance(exc, _Unauthorized):
        return _error(401, exc.message, {"WWW-Authenticate": 'Bearer realm="tlog"'})
    if isinstance(exc, BodyTooLarge):
        return _error(413, exc.message)
    if isinstance(exc, LogOverloaded):
        return _error(503, exc.message, {"Retry-After": "1"})
    if isinstance(exc, FormatError | VerificationError):
        return _error(400, exc.message)
    return _error(500, "internal error")


class _Disconnected(Exception):
    """The client went away before its body was read."""


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


APPEND_PATHS = {"/api/v1/log/entries": 1, "/api/v2/log/entries": 2}
"""The append routes, relative to the log's mount point, and the Rekor API version of each."""


class LogAppends:
    """``POST /api/v1/log/entries`` and ``POST /api/v2/log/entries``: admission (the per-client
    limit, the writer secret), the bounded body, the append, the answer or the error.

    ``appends``: the per-client limit on appends (None: unlimited); ``writer_secret``: the
    bearer secret that exempts a trusted writer from it. Called as a bare ASGI app for exactly
    those two paths (POST, relative to the scope's ``root_path``), and by the FastAPI routes of
    :func:`create_app`.
    """

    def __init__(
        self,
        service: LogService,
        *,
        appends: RateLimiter | None = None,
        writer_secret: str | None = None,
    ) -> None:
        self.service = service
        self._appends = appends
        self._writer_secret = writer_secret

    def _admit(self, authorization: str, client_host: str | None) -> None:
        """Before an append reads its body: a trusted writer passes, a wrong secret is 401,
        anyone else spends one of their appends (429 once spent)."""
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            secret = self._writer_secret
            if secret is not None and hmac.compare_digest(credential.encode(), secret.encode()):
                return
            raise _Unauthorized("the bearer credential is not this log's writer secret")
        if self._appends is not None and not self._appends.unlimited:
            self._appends.acquire(limits.client_key(client_host))

    async def respond(
        self,
        version: int,
        headers: Mapping[str, str],
        client_host: str | None,
        chunks: AsyncIterator[bytes],
        root_path: str,
    ) -> Response:
        """The answer to one append (``headers``: lower-case names)."""
        try:
            self._admit(headers.get("authorization", ""), client_host)
            body = await read_bounded(chunks, headers.get("content-length"), MAX_ENTRY_BYTES)
            if version == 2:
                return JSONResponse(await self.service.create_v2(body))
            entry_id, entry = await self.service.create(body)
        except AssayError as exc:
            return _error_response(self.service, exc, root_path)
        location = f"{root_path}/api/v1/log/entries/{entry_id}"
        return JSONResponse(
            {entry_id: entry}, 201, headers={"Location": location, "ETag": entry_id}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        version = APPEND_PATHS.get(path[len(root_path) :] if path.startswith(root_path) else "")
        response: Response
        if scope["type"] != "http" or scope["method"] != "POST" or version is None:
            response = _error(404, "Not Found")
        else:
            headers = {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in scope["headers"]
                if name in (b"authorization", b"content-length")
            }
            client = scope.get("client")
            try:
                response = await self.respond(
                    version,
                    headers,
                    client[0] if client else None,
                    _body_chunks(receive),
                    root_path,
                )
            except _Disconnected:
                return
            except Exception:
                await _error(500, "internal error")(scope, receive, send)
                raise  # the server logs it, as for any route
        await response(scope, receive, send)


def create_app(
    service: LogService,
    *,
    appends: RateLimiter | None = None,
    writer_secret: str | None = None,
    appender: LogAppends | None = None,
) -> FastAPI:
    """The log's routes. ``appends``: the per-client limit on appends (None: unlimited);
    ``writer_secret``: the bearer secret that exempts a trusted writer from it; ``appender``:
    the :class:`LogAppends` to answer appends with, when the caller also calls it directly
    (then it carries the limit and the secret)."""
    appender = appender or LogAppends(service, appends=appends, writer_secret=writer_secret)

    app = FastAPI(title="Assay transparency log", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(AssayError)
    async def assay_error(request: Request, exc: AssayError) -> Response:
        return _error_response(service, exc, request.scope.get("root_path", ""))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    async def append(request: Request, version: int) -> Response:
        return await appender.respond(
            version,
            request.headers,
            request.client.host if request.client else None,
            request.stream(),
            request.scope.get("root_path", ""),
        )

    @app.post("/api/v1/log/entries")
    async def create_entry(request: Request) -> Response:
        return await append(request, 1)

    @app.post("/api/v2/log/entries")
    async def create_entry_v2(request: Request) -> Response:
        return await append(request, 2)  # the same per-client limit as the v1 route

    @app.get("/api/v1/log/entries")
    async def entry_by_index(request: Request) -> Response:
        index = _int_param(request, "logIndex")
        assert index is not None  # noqa: S101 - required=True
        stored = await run_in_threadpool(service.by_index, index)
        entry = await run_in_threadpool(service.entry, stored)
        return JSONResponse({service.entry_id(stored.uuid): entry})

    @app.get("/api/v1/log/entries/{uuid}")
    async def entry_by_uuid(uuid: str) -> Response:
        stored = await run_in_threadpool(service.by_uuid, uuid)
        entry = await run_in_threadpool(service.entry, stored)
        return JSONResponse({service.entry_id(stored.uuid): entry})

    @app.post("/api/v1/log/entries/retrieve")
    async def retrieve(request: Request) -> Response:
        body = await _read_body(request, 4 * MAX_ENTRY_BYTES)
        try:
            query: Any = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise FormatError("search query is not valid JSON") from exc
        if not isinstance(query, dict):
            raise FormatError("search query must be a JSON object")
        results: list[dict[str, Any]] = []

        def add(stored: Any) -> None:
            results.append({service.entry_id(stored.uuid): service.entry(stored)})

        def run() -> None:
            for key in ("entryUUIDs", "logIndexes", "entries"):
                items = query.get(key, [])
                if not isinstance(items, list) or len(items) > MAX_RETRIEVE:
                    raise FormatError(f"{key} must be a list of at most {MAX_RETRIEVE} items")
                for item in items:
                    try:
                        if key == "entryUUIDs" and isinstance(item, str):
                            add(service.by_uuid(item))
                        elif key == "logIndexes" and isinstance(item, int):
                            if not 0 <= item <= limits.MAX_INTEGER:
                                continue  # no such entry, and no query that could overflow
                            add(service.by_index(item))
                        elif key == "entries" and isinstance(item, dict):
                            add(service.by_body(json.dumps(item).encode()))
                        else:
                            raise FormatError(f"malformed item in {key}")
                    except NotFound:
                        continue  # Rekor returns what it found

        await run_in_threadpool(run)
        return JSONResponse(results)

    @app.get("/api/v1/log")
    async def log_info() -> Response:
        return JSONResponse(await run_in_threadpool(service.log_info))

    @app.get("/api/v1/log/proof")
    async def proof(request: Request) -> Response:
        first = _int_param(request, "firstSize")
        last = _int_param(request, "lastSize", required=False)
        assert first is not None  # noqa: S101 - required=True
        return JSONResponse(await run_in_threadpool(service.consistency, first, last))

    @app.get("/api/v1/log/publicKey")
    async def public_key() -> Response:
        return PlainTextResponse(service.public_key_pem, media_type="application/x-pem-file")

    @app.get("/checkpoint")
    @app.get("/api/v2/checkpoint")
    async def checkpoint() -> Response:
        head = await run_in_threadpool(service.head)
        return PlainTextResponse(
            head.note, headers={"Cache-Control": "no-cache"}, media_type="text/plain"
        )

    @app.get("/tile/{path:path}")
    @app.get("/api/v2/tile/{path:path}")
    async def tile(path: str) -> Response:
        try:
            parsed = parse_path(f"tile/{path}")
        except FormatError:
            return _error(404, "no such tile")
        if isinstance(parsed, Tile):
            data = await run_in_threadpool(service.tile, parsed)
        else:
            data = await run_in_threadpool(service.entry_bundle, parsed)
        # Full tiles never change (tlog-tiles: immutable); partial ones do as the log grows.
        cache = "no-cache" if parsed.partial else "public, max-age=31536000, immutable"
        return Response(
            data, media_type="application/octet-stream", headers={"Cache-Control": cache}
        )

    return app
