"""HTTP routes of the registry (the npm protocol); all logic is in registry/service.py
(packages) and registry/accounts.py (users, tokens).

::

    GET  /-/ping                                   {} (the all-in-one instance answers first)
    GET  /-/whoami                                 npm whoami
    PUT  /-/user/org.couchdb.user:<name>           npm adduser / npm login --auth-type=legacy
    GET  /-/user/org.couchdb.user:<name>           npm owner add (looks the user up)
    DELETE /-/user/token/<token>                   npm logout
    GET  /-/user/<name>/package                    npm access list packages <user>
    GET|POST /-/npm/v1/tokens, DELETE …/token/<k>  npm token list / create / revoke
    GET /-/npm/v1/keys                             the keys of dist.signatures (npm audit)
    POST /-/npm/v1/oidc/token/exchange/package/<n> trusted publishing: OIDC token → 201 token
    GET /-/npm/v1/attestations/<name>@<version>    provenance and publish attestations
    GET  /-/package/<name>/dist-tags               npm dist-tag ls
    PUT|DELETE /-/package/<name>/dist-tags/<tag>   npm dist-tag add / rm
    GET  /-/package/<name>/visibility|collaborators, POST …/access     npm access
    GET|POST /-/package/<name>/trust               npm trust list / github|gitlab|circleci
    DELETE /-/package/<name>/trust/<id>            npm trust revoke
    GET|POST /-/package/<name>/policy              assay package policy (publish rules)
    GET  /-/package/<name>/audit                   assay package audit-log (maintainers)
    GET  /-/v1/search                              npm search
    GET|HEAD /<name>, /@scope%2f<name>             packument (full, or abbreviated by Accept)
    GET  /<name>/<version|tag>                     one version
    PUT  /<name>[/-rev/<rev>]                      publish; deprecate, unpublish <v>, owners
    DELETE /<name>/-rev/<rev>                      unpublish everything
    GET|HEAD /<name>/-/<file>.tgz                  tarball
    DELETE /<name>/-/<file>.tgz/-rev/<rev>         last step of npm unpublish <v>

``POST /-/v1/login`` (npm's web login) is deliberately absent: npm-profile treats the 404 as
"web login not supported" and falls back to the user name/password flow above.
Errors are JSON ``{"error": "…"}`` with the status npm reacts to (registry/errors.py).

Bounded work (assay.limits, docs/operations.md "Limits"): every write route authenticates from
the headers *before* it reads a byte of the body, and every body is read with a cap chosen by
the route (:data:`~assay.limits.SMALL_BODY_BYTES` for the small JSON routes, the configured
``registry_max_body_bytes`` for a publish); a 429 carries ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from assay import limits
from assay.errors import AssayError, FormatError, ManifestError
from assay.limits import RateLimit, RateLimited, RateLimiter
from assay.npm.names import PackageName, parse_package_path
from assay.registry.accounts import Caller
from assay.registry.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RegistryError,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from assay.registry.package_policy import PackagePolicies
from assay.registry.packuments import CORGI_TYPE, Packument, accepts_gzip
from assay.registry.search import SearchQuery
from assay.registry.service import RegistryService, Tarball, TarballStream
from assay.registry.staging import StagedPublishes, StagePage
from assay.registry.trust_settings import MAX_BODY_BYTES as TRUST_BODY_BYTES
from assay.registry.trust_settings import TrustSettings
from assay.registry.trusted_publishing import MAX_BODY_BYTES
from assay.request_body import BodyTooLarge, read_bounded
from assay.settings import Settings
from assay.storage.blobs import BlobPieces

log = logging.getLogger(__name__)

# The one place registry errors become HTTP statuses.
STATUS: dict[type[RegistryError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unprocessable: 422,
    Unavailable: 503,
}
_JSON = "application/json"
# Tokens are credentials: never cached by anything between us and the job (RFC 6749 §5.1).
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def create_app(service: RegistryService, settings: Settings) -> FastAPI:
    """The registry as an ASGI app, to serve alone or mount at ``/`` of the instance."""
    app = FastAPI(title="Assay registry", docs_url=None, redoc_url=None, openapi_url=None)
    max_body = settings.registry_max_body_bytes
    accounts = service.accounts
    staging = StagedPublishes(service)
    trust_settings = TrustSettings(service.store, service.trust_store, settings)
    policies = PackagePolicies(service.store, service.trust_store)

    @app.exception_handler(RegistryError)
    async def registry_error(_request: Request, exc: RegistryError) -> Response:
        return error_response(exc)

    @app.exception_handler(ManifestError)
    async def npm_rule_error(_request: Request, exc: ManifestError) -> Response:
        # A name, version or path that breaks npm's rules (assay.npm) is the client's mistake.
        return error_response(BadRequest(exc.message))

    @app.exception_handler(RateLimited)
    async def rate_limited(_request: Request, exc: RateLimited) -> Response:
        return JSONResponse(
            {"error": exc.message}, status_code=429, headers=limits.retry_after_header(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"error": f"Bad request: {exc.errors()}"}, status_code=400)

    @app.exception_handler(AssayError)
    async def assay_error(_request: Request, exc: AssayError) -> Response:
        log.error("registry failure: %s", exc.diagnostics())
        return JSONResponse({"error": "Internal error: " + exc.message}, status_code=500)

    def principal(request: Request) -> Caller | None:
        client = request.client.host if request.client else None
        return accounts.authenticate(request.headers.get("authorization"), client)

    async def call(function: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(function, *args)

    async def authed(request: Request) -> Caller | None:
        who: Caller | None = await call(principal, request)
        return who

    async def signed_in(request: Request, action: str) -> Caller:
        """Whoever the headers authenticate; 401 for nobody, before any body is read."""
        who = await authed(request)
        if who is None:
            raise Unauthorized(f"You must be logged in to {action}. Run `npm login` first.")
        return who

    def throttle(limiter: RateLimiter, request: Request) -> None:
        """Spend one of the client's requests on ``limiter``, or 429 with ``Retry-After``."""
        limiter.acquire(limits.client_key(request.client.host if request.client else None))

    # The OIDC token exchange of trusted publishing is limited per client, before it reads the
    # body or checks the token (an anonymous route that verifies signatures).
    # Kept on app.state so that it is reachable (and visible) before that route exists.
    token_exchanges = RateLimiter(
        RateLimit.per_minute(settings.token_exchanges_per_minute, settings.token_exchange_burst),
        "token exchanges from this address",
    )
    app.state.token_exchanges = token_exchanges

    async def read_json(request: Request, limit: int) -> Any:
        """The body as JSON, read only up to ``limit`` bytes (413 beyond): each route names its
        cap (assay.limits), so no route reads more than it can use."""
        try:
            body = await read_bounded(
                request.stream(), request.headers.get("content-length"), limit
            )
        except BodyTooLarge as exc:
            raise PayloadTooLarge(
                f"Request body is larger than the limit of {limit} bytes"
            ) from exc
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"Malformed JSON body: {exc}") from exc

    async def read_object(request: Request, limit: int) -> dict[str, Any]:
        body = await read_json(request, limit)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object")
        return body

    # --- /-/ routes ------------------------------------------------------------------------------

    @app.get("/-/ping")
    async def ping() -> dict[str, Any]:
        return {}

    @app.get("/-/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return accounts.whoami(await authed(request))

    @app.put("/-/user/org.couchdb.user:{name}", status_code=201)
    async def couch_user(name: str, request: Request) -> dict[str, Any]:
        body = await read_object(request, limits.SMALL_BODY_BYTES)
        client = request.client.host if request.client else None
        result: dict[str, Any] = await call(accounts.couch_login, name, body, client)
        return result

    @app.get("/-/user/org.couchdb.user:{name}")
    async def couch_user_profile(name: str, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = await call(accounts.user_profile, name, await authed(request))
        return result

    @app.delete("/-/user/token/{token}")
    async def logout(token: str) -> dict[str, Any]:
        await call(accounts.logout, token)
        return {"ok": True}

    @app.get("/-/user/{name}/package")
    async def user_packages(name: str) -> dict[str, str]:
        result: dict[str, str] = await call(service.user_packages, name)
        return result

    @app.get("/-/npm/v1/keys")
    async def registry_keys() -> dict[str, Any]:
        result: dict[str, Any] = await call(service.npm_keys)  # with the uplinks' (mirror)
        return result

    @app.get("/-/npm/v1/attestations/{spec:path}")
    async def attestations(spec: str) -> dict[str, Any]:
        # `<name>@<version>`; a scoped name arrives as `@scope%2fname` (decoded to a slash).
        name, at, version = spec.rpartition("@")
        if not at or not name or not version:
            raise NotFound("Not found")
        result: dict[str, Any] = await call(service.attestations, PackageName.parse(name), version)
        return result

    @app.post("/-/npm/v1/oidc/token/exchange/package/{name:path}")
    async def oidc_exchange(name: str, request: Request) -> Response:
        # Trusted publishing (registry/trusted_publishing.py). npm logs `body.message` of a
        # refusal (lib/utils/oidc.js), other clients read `error`: both are sent.
        throttle(token_exchanges, request)
        try:
            package = PackageName.parse(name)
            try:
                await read_bounded(
                    request.stream(), request.headers.get("content-length"), MAX_BODY_BYTES
                )
            except BodyTooLarge as exc:
                raise PayloadTooLarge(
                    f"The exchange takes no body (at most {MAX_BODY_BYTES} bytes)"
                ) from exc
            authorization = request.headers.get("authorization")
            result: dict[str, Any] = await call(service.exchange.exchange, package, authorization)
        except ManifestError as exc:
            return error_response(BadRequest(exc.message), message=True)
        except RegistryError as exc:
            return error_response(exc, message=True)
        return JSONResponse(result, status_code=201, headers=_NO_STORE)

    @app.get("/-/npm/v1/tokens")
    async def list_tokens(request: Request) -> dict[str, Any]:
        result: dict[str, Any] = await call(accounts.list_tokens, await authed(request))
        return result

    @app.post("/-/npm/v1/tokens")
    async def create_token(request: Request) -> dict[str, Any]:
        who = await signed_in(request, "create tokens")
        body = await read_json(request, limits.SMALL_BODY_BYTES)
        client = request.client.host if request.client else None
        result: dict[str, Any] = await call(accounts.create_token, body, who, client)
        return result

    @app.delete("/-/npm/v1/tokens/token/{key}", status_code=204)
    async def delete_token(key: str, request: Request) -> Response:
        await call(accounts.delete_token, key, await authed(request))
        return Response(status_code=204)

    @app.get("/-/package/{name:path}/dist-tags")
    async def dist_tags(name: str) -> dict[str, str]:
        result: dict[str, str] = await call(service.dist_tags, PackageName.parse(name))
        return result

    @app.put("/-/package/{name:path}/dist-tags/{tag}")
    @app.post("/-/package/{name:path}/dist-tags/{tag}")
    async def set_dist_tag(name: str, tag: str, request: Request) -> dict[str, Any]:
        package = PackageName.parse(name)
        who = await signed_in(request, "change dist-tags")
        version = await read_json(request, limits.SMALL_BODY_BYTES)
        result: dict[str, Any] = await call(service.set_dist_tag, package, tag, version, who)
        return result

    @app.delete("/-/package/{name:path}/dist-tags/{tag}")
    async def delete_dist_tag(name: str, tag: str, request: Request) -> dict[str, Any]:
        package = PackageName.parse(name)
        await call(service.delete_dist_tag, package, tag, await authed(request))
        return {"ok": True}

    @app.get("/-/package/{name:path}/visibility")
    async def visibility(name: str) -> dict[str, Any]:
        result: dict[str, Any] = await call(service.visibility, PackageName.parse(name))
        return result

    @app.get("/-/package/{name:path}/collaborators")
    async def collaborators(name: str) -> dict[str, str]:
        result: dict[str, str] = await call(service.collaborators, PackageName.parse(name))
        return result

    @app.post("/-/package/{name:path}/access")
    async def set_access(name: str, request: Request) -> dict[str, Any]:
        package = PackageName.parse(name)
        who = await signed_in(request, "change package access")
        body = await read_json(request, limits.SMALL_BODY_BYTES)
        result: dict[str, Any] = await call(service.set_access, package, body, who)
        return result

    # --- staged publishes (registry/staging.py; npm lib/commands/stage/*.js) ------------------

    @app.post("/-/stage/package/{name:path}", status_code=201)
    async def stage_publish(name: str, request: Request) -> dict[str, Any]:
        package = PackageName.parse(name)
        who = await signed_in(request, "stage packages")
        body = await read_object(request, max_body)
        result: dict[str, Any] = await call(staging.stage, package, body, who)
        return result

    @app.get("/-/stage")
    async def stage_list(request: Request) -> dict[str, Any]:
        params = request.query_params
        page = StagePage.parse(params.get("page"), params.get("perPage"))
        who = await authed(request)
        result: dict[str, Any] = await call(staging.list, who, page, params.get("package"))
        return result

    @app.get("/-/stage/{stage_id}")
    async def stage_view(stage_id: str, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = await call(staging.view, stage_id, await authed(request))
        return result

    @app.get("/-/stage/{stage_id}/tarball")
    async def stage_tarball(stage_id: str, request: Request) -> Response:
        data = await call(staging.tarball, stage_id, await authed(request))
        return Response(data, media_type="application/octet-stream")

    @app.post("/-/stage/{stage_id}/approve", status_code=201)
    async def stage_approve(stage_id: str, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = await call(staging.approve, stage_id, await authed(request))
        return result

    @app.delete("/-/stage/{stage_id}", status_code=204)
    async def stage_reject(stage_id: str, request: Request) -> Response:
        await call(staging.reject, stage_id, await authed(request))
        return Response(status_code=204)

    # --- trusted publishing: publishers, pending publishers, policy, audit trail
    # (registry/trust_settings.py, registry/package_policy.py; docs/trusted-publishing.md) ---------

    @app.get("/-/package/{name:path}/trust")
    async def list_trust(name: str, request: Request) -> JSONResponse:
        package = PackageName.parse(name)
        result = await call(trust_settings.list_publishers, package, await authed(request))
        return JSONResponse(result)

    @app.post("/-/package/{name:path}/trust")
    async def add_trust(name: str, request: Request) -> JSONResponse:
        package = PackageName.parse(name)
        who = await signed_in(request, "change trusted publishers")
        body = await read_json(request, TRUST_BODY_BYTES)
        result = await call(trust_settings.add_publishers, package, body, who)
        return JSONResponse(result, status_code=201)

    @app.delete("/-/package/{name:path}/trust/{publisher_id}", status_code=204)
    async def revoke_trust(name: str, publisher_id: str, request: Request) -> Response:
        package = PackageName.parse(name)
        await call(trust_settings.revoke_publisher, package, publisher_id, await authed(request))
        return Response(status_code=204)

    @app.get("/-/package/{name:path}/policy")
    async def get_policy(name: str) -> dict[str, Any]:
        result: dict[str, Any] = await call(policies.get, PackageName.parse(name))
        return result

    @app.post("/-/package/{name:path}/policy")
    async def set_policy(name: str, request: Request) -> dict[str, Any]:
        package = PackageName.parse(name)
        who = await signed_in(request, "change the package policy")
        body = await read_json(request, TRUST_BODY_BYTES)
        result: dict[str, Any] = await call(policies.set, package, body, who)
        return result

    @app.get("/-/package/{name:path}/audit")
    async def audit_trail(name: str, request: Request) -> dict[str, Any]:
        package = PackageName.parse(name)
        try:
            raw = request.query_params.get("limit", "100")
            limit = limits.parse_int(raw, "limit", maximum=1000)
        except FormatError as exc:
            raise BadRequest(exc.message) from exc
        who = await authed(request)
        result: dict[str, Any] = await call(trust_settings.audit_log, package, who, limit)
        return result

    @app.get("/-/v1/search")
    async def search(request: Request) -> dict[str, Any]:
        params = request.query_params
        query = SearchQuery.parse(params.get("text"), params.get("size"), params.get("from"))
        result: dict[str, Any] = await call(service.search, query)
        return result

    # --- package paths: a plain Starlette route, so the packument hot path does no more than
    # parse the path, look in the cache and write bytes -----------------------------------------

    async def package_route(request: Request) -> Response:
        path = request.url.path.lstrip("/")
        if path == "-" or path.startswith("-/"):
            raise NotFound("Not found")
        method = request.method
        if method in {"GET", "HEAD"}:
            cached = None
            write = request.query_params.get("write") == "true"
            if "/" not in path or (path.startswith("@") and path.count("/") == 1):
                cached = service.cached_packument(path)
            if cached is not None:
                return packument_response(request, cached, write)
        target = parse_package_path(path)
        name = target.name
        if method in {"GET", "HEAD"}:
            if target.kind == "doc":
                packument = await call(service.packument, name)
                return packument_response(request, packument, write)
            if target.kind == "version":
                manifest = await call(service.version_manifest, name, target.version)
                return JSONResponse(manifest)
            if target.kind == "tarball" and target.rev is None and target.filename:
                # A hot tarball is answered here, on the event loop; a cold one (or one whose
                # package must be re-checked in the database) through the thread pool.
                filename = target.filename
                tarball = service.cached_tarball(name.name, filename) or await call(
                    service.tarball, name, filename
                )
                if isinstance(tarball, TarballStream) and _sends_body(request, tarball):
                    chunks = await call(tarball.open)  # a file open or an S3 GET
                    if chunks is None:
                        raise NotFound("Not found")
                    return tarball_response(request, tarball, chunks)
                return tarball_response(request, tarball)
        elif method == "PUT" and target.kind == "doc":
            writer = await signed_in(request, "publish or change packages")
            body = await read_object(request, max_body)
            result = await call(service.put_package, name, body, target.rev, writer)
            return JSONResponse(result, status_code=201)
        elif method == "DELETE" and target.kind == "doc" and target.rev is not None:
            await call(service.delete_package, name, target.rev, await authed(request))
            return JSONResponse({"ok": True})
        elif method == "DELETE" and target.kind == "tarball":
            who = await authed(request)
            result = await call(service.delete_tarball, name, target.filename, who)
            return JSONResponse(result)
        raise BadRequest(f"{method} is not supported on /{path}")

    app.router.add_route(
        "/{path:path}",
        package_route,
        methods=["GET", "HEAD", "PUT", "POST", "DELETE"],
        name="package",
    )
    return app


def packument_response(request: Request, packument: Packument, write: bool) -> Response:
    """The full or abbreviated document (by ``Accept``), gzip-compressed when the request's
    ``Accept-Encoding`` allows it (npm sends ``gzip``). Each of the four representations has its
    own strong ETag; an ``If-None-Match`` naming either coding of the selected document is
    answered 304 with the tag the client holds (its copy is current, whichever coding it keeps)."""
    headers = request.headers
    corgi = not write and CORGI_TYPE in headers.get("accept", "")
    document = packument.corgi if corgi else packument.full
    packed = accepts_gzip(headers.get("accept-encoding"))
    etag = document.gzip_etag if packed else document.etag
    response_headers = {
        "ETag": etag,
        "Last-Modified": packument.last_modified,
        "Cache-Control": "public, max-age=0, must-revalidate",
        "Vary": "Accept, Accept-Encoding",
        **dict(packument.headers),  # the mirror's X-Assay-Mirror
    }
    if_none_match = headers.get("if-none-match")
    if if_none_match:
        for held in (etag, document.etag if packed else document.gzip_etag):
            if _matches(if_none_match, held):
                response_headers["ETag"] = held
                return Response(status_code=304, headers=response_headers)
    if packed:
        response_headers["Content-Encoding"] = "gzip"
    return Response(
        document.gzip if packed else document.body,
        media_type=CORGI_TYPE if corgi else _JSON,
        headers=response_headers,
    )


class HotReads:
    """The read hot path, in front of every router: a GET or HEAD of a packument or a tarball
    that the registry can answer from memory (:meth:`RegistryService.cached_packument`,
    :meth:`RegistryService.cached_tarball`: fresh within ``CROSS_PROCESS_STALENESS``, no I/O) is
    answered here, on the event loop, with the very response the route below would send; any
    other request goes to ``app`` untouched. The instance's routing (a dozen mounts, then the
    registry's fifty routes, each tried in turn) and FastAPI's request handling otherwise cost
    more than the answer itself.

    ``browser(path, accept)``: whether a browser's request is redirected to a web page instead
    (:class:`assay.web.app.BrowserFront`); those are left to ``app``. No request body is read
    (GET and HEAD only), so the body limits of the routes are unaffected.
    """

    def __init__(
        self,
        app: ASGIApp,
        service: RegistryService,
        browser: Callable[[str, str | None], bool] = lambda _path, _accept: False,
    ) -> None:
        self.app = app
        self.service = service
        self.browser = browser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            response = self._answer(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> Response | None:
        path: str = scope["path"]
        if path.startswith("/-") or scope.get("root_path"):
            return None  # the instance's own services, or mounted below a prefix
        text = path[1:]
        request = Request(scope)
        if self.browser(path, request.headers.get("accept")):
            return None
        head, dash, filename = text.partition("/-/")
        if not dash:
            if "/" in text and not (text.startswith("@") and text.count("/") == 1):
                return None
            packument = self.service.cached_packument(text)
            if packument is None:
                return None
            return packument_response(
                request, packument, request.query_params.get("write") == "true"
            )
        if "/" in filename:
            return None  # `/-rev/…` and the like
        # Only a name and filename the route below has served are cached, so a hit is valid.
        tarball = self.service.cached_tarball(head, filename)
        return None if tarball is None else tarball_response(request, tarball)


def _sends_body(request: Request, tarball: Tarball | TarballStream) -> bool:
    """Whether the answer to `request` carries the tarball's bytes (not a HEAD, not a 304)."""
    etag = f'"{tarball.shasum}"'
    return request.method == "GET" and not _matches(request.headers.get("if-none-match"), etag)


def tarball_response(
    request: Request, tarball: Tarball | TarballStream, chunks: BlobPieces | None = None
) -> Response:
    """The answer to a tarball request. A streamed tarball is opened by the caller, and only
    when the answer has a body (:func:`_sends_body`): a HEAD or a 304 costs no file or S3 read."""
    etag = f'"{tarball.shasum}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if isinstance(tarball, TarballStream):
        headers["Content-Length"] = str(tarball.size)
        if request.method == "HEAD":  # the length, and nothing read
            return Response(b"", media_type="application/octet-stream", headers=headers)
        if chunks is None:
            raise ValueError("a streamed tarball's body needs its opened chunks")
        return _ClosingStream(chunks, headers)
    return Response(tarball.data, media_type="application/octet-stream", headers=headers)


class _ClosingStream(StreamingResponse):
    """A streamed tarball whose file or S3 body is released when the response ends, however it
    ends: sent in full, or the client gone half-way (Starlette stops iterating then and leaves
    the iterator to the garbage collector)."""

    def __init__(self, chunks: BlobPieces, headers: dict[str, str]) -> None:
        super().__init__(chunks, media_type="application/octet-stream", headers=headers)
        self._pieces = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._pieces.close()


def error_response(exc: RegistryError, *, message: bool = False) -> Response:
    """The error as npm reads it: ``{"error": …}``; with `message`, also ``{"message": …}``
    (what npm's OIDC exchange logs)."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    headers = {}
    if isinstance(exc, Unauthorized) and exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    if isinstance(exc, Unavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    body = {"message": exc.message, "error": exc.message} if message else {"error": exc.message}
    return JSONResponse(body, status_code=status, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")
