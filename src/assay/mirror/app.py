"""The mirror's operator routes, for ``assay mirror status|report|evict`` (docs/mirror.md).

The all-in-one instance mounts this at ``/-/mirror`` (npm reserves ``/-/``: no package can
take the path)::

    GET    /-/mirror/status                  uplinks (pinged now), cache counts, held-back count
    GET    /-/mirror/held                    every cached version held back, and why
    DELETE /-/mirror/packages/<name>[@<v>]   forget a package (or one version): fetched and
                                             verified again at the next request

They talk to the running instance, not to its data directory, because the instance holds
state the tables do not: packuments in memory (an eviction must drop them), the uplinks'
health since it started, the policy as it was loaded. Only the instance's administrator may
call them — a bearer token of the ``admin`` account ``assay up`` created (``<data>/admin.token``)
— and evicting needs a token that is not read-only. Errors are npm's ``{"error": …}`` shape
with the registry's statuses (:func:`assay.registry.app.error_response`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.errors import ManifestError
from assay.mirror.service import MirrorService
from assay.npm.names import PackageName
from assay.registry.accounts import Accounts, Principal
from assay.registry.app import error_response
from assay.registry.errors import BadRequest, Forbidden, NotFound, RegistryError, Unauthorized

__all__ = ["create_mirror_admin_app", "parse_spec"]

_NO_STORE = {"Cache-Control": "no-store"}


def parse_spec(text: str) -> tuple[PackageName, str | None]:
    """``name``, ``@scope/name`` or ``@scope%2fname``, each optionally ``@<version>``. The name
    is matched exactly against what was cached (legacy names included), so only its shape is
    checked here."""
    text = unquote(text).strip()
    at = text.rfind("@")
    name, version = (text[:at], text[at + 1 :]) if at > 0 else (text, None)
    scoped = name.startswith("@")
    parts = name.removeprefix("@").split("/")
    if version == "" or len(parts) != (2 if scoped else 1) or not all(parts):
        raise BadRequest(f"not a package name or name@version: {text!r}")
    return PackageName(name), version


def create_mirror_admin_app(mirror: MirrorService, accounts: Accounts, admin: str) -> FastAPI:
    """The routes above over ``mirror``; ``admin``: the administrator's account name."""
    app = FastAPI(title="Assay mirror", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RegistryError)
    async def registry_error(_request: Request, exc: RegistryError) -> Response:
        return error_response(exc)

    @app.exception_handler(ManifestError)
    async def bad_name(_request: Request, exc: ManifestError) -> Response:
        return error_response(BadRequest(exc.message))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code)

    def administrator(request: Request, *, write: bool) -> None:
        client = request.client.host if request.client else None
        caller = accounts.authenticate(request.headers.get("authorization"), client)
        if caller is None:
            raise Unauthorized(
                "the mirror's operator routes need the administrator's token "
                "(assay mirror reads <data>/admin.token, or --token-file)",
                challenge="Bearer",
            )
        if not isinstance(caller, Principal) or caller.user.name != admin:
            raise Forbidden("only this instance's administrator may use the mirror's routes")
        if write and caller.readonly:
            raise Forbidden("this token is read-only")

    @app.get("/status")
    async def status(request: Request) -> JSONResponse:
        await run_in_threadpool(administrator, request, write=False)
        result = await run_in_threadpool(mirror.status)
        return JSONResponse(result.to_json(), headers=_NO_STORE)

    @app.get("/held")
    async def held(request: Request) -> JSONResponse:
        await run_in_threadpool(administrator, request, write=False)
        report = await run_in_threadpool(mirror.report)
        body: dict[str, Any] = {"held": [item.to_json() for item in report]}
        return JSONResponse(body, headers=_NO_STORE)

    @app.delete("/packages/{spec:path}")
    async def evict(spec: str, request: Request) -> JSONResponse:
        await run_in_threadpool(administrator, request, write=True)
        name, version = parse_spec(spec)
        removed = await run_in_threadpool(mirror.evict, name.name, version)
        what = name.name if version is None else f"{name.name}@{version}"
        if not removed:
            raise NotFound(f"the mirror has nothing cached for {what}")
        return JSONResponse({"evicted": what, "rows": removed}, headers=_NO_STORE)

    return app
