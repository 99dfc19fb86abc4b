"""The registry's web pages: server-rendered HTML that works without JavaScript.

Routes, relative to the mount point (the all-in-one instance mounts this at ``/-/web``, a path
no package name can take: npm owns every ``/<name>…`` path)::

    GET /                                         home: search box, recently published packages
    GET /search?q=&from=                          search results
    GET /package/<name>                           a package at its latest version
    GET /package/<name>/v/<version>               a package at one version (or dist-tag)
    GET /package/<name>/v/<version>/provenance    the provenance in full: statement, certificate,
                                                  log entry and inclusion proof
    GET /package/<name>/v/<version>/provenance.sigstore.json   the provenance bundle, raw
    GET /log                                      the log's checkpoint and latest entries
    GET /log/entries/<index | uuid>               one entry and its inclusion proof
    GET /log/lookup?entry=, /log/package?name=    the log page's forms (redirects)
    GET /log/package/<name>?page=N                the log entries of a package's attestations,
                                                  a page of versions at a time (one query)
    GET /static/…                                 the stylesheet and the SVG favicon

:class:`BrowserFront` sits in front of the registry at the origin and sends a browser (a
request whose ``Accept`` prefers HTML to JSON) from ``/`` and ``/<name>[/<version>]`` to these
pages; npm always asks for JSON, so its responses are untouched.

Every page is built by :mod:`assay.web.pages` from what the services already serve: packuments
and search results from the :class:`~assay.registry.service.RegistryService`, attestations
responses as the registry serves them at ``/-/npm/v1/attestations`` (read in process), entries
and checkpoints from the :class:`~assay.tlog.service.LogService`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from assay import limits
from assay.errors import AssayError, FormatError, ManifestError
from assay.npm.names import PackageName, parse_package_path
from assay.registry.errors import BadRequest, RegistryError
from assay.registry.errors import NotFound as RegistryNotFound
from assay.registry.search import MAX_SIZE, SearchQuery
from assay.registry.service import RegistryService
from assay.registry.source_check import SourceCheckResult
from assay.registry.trust_settings import current_publishers
from assay.tlog.service import LogService
from assay.tlog.service import NotFound as LogNotFound
from assay.verify.facts import VerifiedFacts
from assay.web import pages
from assay.web.mirror_view import MirrorVerdicts, ingest_facts, mirror_panel
from assay.web.provenance_view import (
    Link,
    attestations_view,
    bundle_facts,
    provenance_bundle,
)

HERE: Final = Path(__file__).parent
PREFIX: Final = "/-/web"
RECENT: Final = 12
LOG_RECENT: Final = 20
OIDC_PATH: Final = "/-/oidc"
# No script runs on these pages; styles and images come from this origin only. The sanitizer
# (web/markdown.py) is the first line of defence against a hostile README, this the second.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

AttestationSource = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]
"""``(name, version) → attestations response`` (``{"attestations": [...]}``), or None."""


def registry_attestations(registry: RegistryService) -> AttestationSource:
    """The registry's attestations responses, read in process (what npm reads over HTTP)."""

    async def fetch(name: str, version: str) -> Mapping[str, Any] | None:
        try:
            result: dict[str, Any] = await run_in_threadpool(
                registry.attestations, PackageName(name), version
            )
        except RegistryNotFound:
            return None
        return result

    return fetch


# --- what the pages state about a version's origin --------------------------------------------


def version_origin(
    registry: RegistryService,
    name: str,
    version: str,
    attestations: Mapping[str, Any] | None,
    *,
    instance_issuer: str | None,
) -> tuple[VerifiedFacts | None, SourceCheckResult | None]:
    """THE one place the pages obtain a version's verified facts and source check (issue 10).

    The record the registry stored when it verified the version's provenance at publish
    (:meth:`RegistryService.version_facts`: the certificate's facts, never the statement's, and
    the source check, None when the instance did not check), read once per page.
    A version published before records were kept falls back to the leaf certificate of its
    stored provenance bundle (``attestations``), which passed :mod:`assay.verify` before the
    registry stored it — the same derivation the record was made with. No facts: no
    provenance, or a certificate that cannot be read (the panel says so).
    """
    try:
        record = registry.version_facts(PackageName(name), version)
    except (AssayError, ValueError):
        record = None
    if record is not None:
        return record.facts, record.source
    bundle = provenance_bundle(attestations)
    if bundle is None:
        return None, None
    try:
        return bundle_facts(bundle, instance_issuer=instance_issuer), None
    except AssayError:
        return None, None


def trusted_identity(
    registry: RegistryService, name: PackageName, version: str
) -> pages.TrustedPublishView | None:
    """How a version came through trusted publishing: the OIDC identity the registry verified
    at the exchange (never what the publish body said), or None for a token publish."""
    try:
        identity = registry.version_trusted_publisher(name, version)
    except (AssayError, ValueError):
        return None
    return None if identity is None else pages.trusted_publish_view(identity)


# --- templates ---------------------------------------------------------------------------------


def trust_views(
    registry: RegistryService, name: str
) -> tuple[list[pages.PublisherView], pages.PolicyView]:
    """The package's trusted publishers (settled and live pending) and its publish rules."""
    publishers = [
        pages.publisher_view(p.provider, p.claims, p.permissions, pending=p.pending)
        for p in current_publishers(registry.trust_store, name)
    ]
    stored = registry.trust_store.policy(name)
    policy = pages.PolicyView(
        require_trusted_publishing=stored.require_trusted_publishing,
        require_provenance=stored.require_provenance,
        allow_provenance_downgrade=stored.allow_provenance_downgrade,
    )
    return publishers, policy


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _datetime(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pathquote(value: str) -> str:
    return quote(value, safe="@/")


def templates(base: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["date"] = _date
    environment.filters["datetime"] = _datetime
    environment.filters["pathquote"] = _pathquote

    def package_url(name: str, version: str | None = None, suffix: str = "") -> str:
        url = f"{base}/package/{_pathquote(name)}"
        if version is not None:
            url += f"/v/{quote(version, safe='')}"
        return url + suffix

    environment.globals.update(base=base, origin="", package_url=package_url)
    return environment


# --- the app -------------------------------------------------------------------------------


def create_app(
    registry: RegistryService,
    log: LogService,
    attestations: AttestationSource,
    *,
    base: str = PREFIX,
    instance_issuer: str | None = None,
    mirror: MirrorVerdicts | None = None,
) -> FastAPI:
    """The pages, to mount at ``base``; links in them are absolute paths under it.

    ``mirror``: the instance's mirror (assay.mirror), whose verdicts the page of a mirrored
    package shows, with the provenance facts it verified on ingest (web/mirror_view.py).

    ``instance_issuer``: this instance's OIDC issuer, whose (emulated CI) certificates are
    labelled "emulated CI of this instance"; default ``<registry origin>/-/oidc``, where the
    all-in-one instance serves it.
    """
    app = FastAPI(title="Assay pages", docs_url=None, redoc_url=None, openapi_url=None)
    issuer = instance_issuer or f"{registry.origin.rstrip('/')}{OIDC_PATH}"
    env = templates(base)
    own_log = log.identity.log_id.hex()

    def ledger(log_id: str, index: int) -> Link | None:
        if log_id != own_log:
            return None
        return Link(f"this registry's log, entry {index}", f"{base}/log/entries/{index}")

    def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status, headers=dict(SECURITY_HEADERS))

    def error_page(status: int, title: str, message: str) -> HTMLResponse:
        return render("error.html", status, title=title, message=message)

    @app.exception_handler(AssayError)
    async def assay_error(_request: Request, exc: AssayError) -> Response:
        if isinstance(exc, pages.PageNotFound | RegistryNotFound | LogNotFound):
            return error_page(404, "Not found", exc.message)
        if isinstance(exc, BadRequest | FormatError):
            return error_page(400, "Bad request", exc.message)
        if isinstance(exc, RegistryError):
            return error_page(400, "Cannot show this", exc.message)
        return error_page(500, "Something went wrong", "The page could not be built.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(404, "Not found", "There is no page at this address.")
        return error_page(exc.status_code, "Cannot show this", str(exc.detail))

    async def origin_facts(
        name: str, version: str, response: Mapping[str, Any] | None
    ) -> tuple[VerifiedFacts | None, SourceCheckResult | None]:
        return await run_in_threadpool(
            version_origin, registry, name, version, response, instance_issuer=issuer
        )

    # --- packages --------------------------------------------------------------------------

    @app.get("/")
    async def home() -> HTMLResponse:
        result = await run_in_threadpool(registry.search, SearchQuery((), MAX_SIZE, 0))
        recent = pages.recently_published(pages.summaries(result), RECENT)
        return render("home.html", page=pages.HomePage(tuple(recent)), registry=registry.origin)

    @app.get("/search")
    async def search(request: Request) -> HTMLResponse:
        params = request.query_params
        text = params.get("q", "").strip()
        size = 20
        query = SearchQuery.parse(text, str(size), params.get("from"))
        if not query.words:
            page = pages.search_page("", {"objects": [], "total": 0}, 0, size)
        else:
            result = await run_in_threadpool(registry.search, query)
            page = pages.search_page(text, result, query.offset, size)
        return render("search.html", page=page, query=text)

    @app.get("/package/{path:path}")
    async def package(path: str) -> Response:
        name, version, view = _package_target(path)
        packument = await run_in_threadpool(registry.packument, name)
        data = packument.data
        resolved = pages.resolve_version(data, version)
        response = await attestations(name.name, resolved)
        if view == "bundle":
            bundle = provenance_bundle(response)
            if bundle is None:
                raise pages.PageNotFound(f"{name.name}@{resolved} has no provenance")
            filename = f"{name.bare}-{resolved}.sigstore.json"
            return JSONResponse(
                bundle,
                media_type="application/json",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        read = None if response is None else attestations_view(response, ledger)
        panel = None
        if packument.mirrored and mirror is not None:
            # A mirrored version: the facts the mirror verified on ingest (there is no local
            # publish record to read, and the upstream's claims are never shown).
            mirrored = await run_in_threadpool(mirror.versions, name)
            facts, source_check = ingest_facts(mirrored, resolved), None
            uplink = mirrored[-1].uplink if mirrored else ""
            panel = mirror_panel(mirrored, resolved, mirror.uplink_url(uplink))
        else:
            facts, source_check = await origin_facts(name.name, resolved, response)
        if view == "page":
            publishers, policy = await run_in_threadpool(trust_views, registry, name.name)
            published_by = await run_in_threadpool(trusted_identity, registry, name, resolved)
            page = pages.package_page(
                data, resolved, read, registry=registry.origin, facts=facts,
                source_check=source_check, publishers=publishers, policy=policy,
                trusted_publish=published_by,
            )  # fmt: skip
            return render("package.html", page=page, mirror=panel)
        details = pages.provenance_page(
            name.name, resolved, read, facts, source_check=source_check,
            attestations_url=f"/-/npm/v1/attestations/{_pathquote(name.name)}@"
            f"{quote(resolved, safe='')}",
        )  # fmt: skip
        return render("provenance.html", page=details, mirror=panel)

    # --- the log ---------------------------------------------------------------------------

    @app.get("/log")
    async def log_home() -> HTMLResponse:
        def build() -> pages.LogPage:
            head = log.head()
            start = max(0, head.tree_size - LOG_RECENT)
            return pages.log_page(head, log.store.entries_range(start, head.tree_size))

        return render("log.html", page=await run_in_threadpool(build))

    @app.get("/log/lookup")
    async def log_lookup(request: Request) -> Response:
        entry = request.query_params.get("entry", "").strip()
        if not entry:
            return RedirectResponse(f"{base}/log", status_code=303)
        return RedirectResponse(f"{base}/log/entries/{quote(entry, safe='')}", status_code=303)

    @app.get("/log/entries/{ident}")
    async def log_entry(ident: str) -> HTMLResponse:
        def build() -> pages.LogEntryPage:
            text = ident.strip()
            if text.isdigit():
                stored = log.by_index(limits.parse_int(text, "A log index"))
            else:
                stored = log.by_uuid(text)
            return pages.log_entry_page(stored, log.entry(stored), log.entry_id(stored.uuid))

        return render("log_entry.html", page=await run_in_threadpool(build))

    @app.get("/log/package")
    async def log_package_form(request: Request) -> Response:
        name = request.query_params.get("name", "").strip()
        target = f"{base}/log/package/{_pathquote(name)}" if name else f"{base}/log"
        return RedirectResponse(target, status_code=303)

    @app.get("/log/package/{name:path}")
    async def log_package(name: str, request: Request) -> HTMLResponse:
        # A page of versions at a time, their attestations read in one indexed query (a
        # package of hundreds of versions costs what one of LOG_PAGE_ROWS does).
        package_name = PackageName.parse(name)
        raw = request.query_params.get("page")
        number = 1 if raw is None else limits.parse_int(raw, "page", minimum=1)
        packument = await run_in_threadpool(registry.packument, package_name)
        rows = pages.version_rows(packument.data)
        count = max(1, -(-len(rows) // limits.LOG_PAGE_ROWS))
        if number > count:
            raise pages.PageNotFound(f"{package_name.name} has {count} pages of versions")
        shown = [row.version for row in rows][
            (number - 1) * limits.LOG_PAGE_ROWS : number * limits.LOG_PAGE_ROWS
        ]
        stored = await run_in_threadpool(registry.attestations_of, package_name, shown)
        by_version = [
            (v, attestations_view(stored[v], ledger) if v in stored else None) for v in shown
        ]
        page = pages.package_entries_page(package_name.name, by_version, page=number, pages=count)
        return render("log_package.html", page=page)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def _package_target(path: str) -> tuple[PackageName, str | None, str]:
    """``<name>[/v/<version>[/provenance[.sigstore.json]]]`` → (name, version, which view)."""
    parts = path.strip("/").split("/")
    count = 2 if parts[0].startswith("@") else 1
    if len(parts) < count:
        raise pages.PageNotFound("There is no page at this address.")
    name = PackageName.parse("/".join(parts[:count]))
    rest = parts[count:]
    if not rest:
        return name, None, "page"
    if rest[0] == "v" and len(rest) >= 2 and rest[1]:
        if len(rest) == 2:
            return name, rest[1], "page"
        if len(rest) == 3 and rest[2] == "provenance":
            return name, rest[1], "provenance"
        if len(rest) == 3 and rest[2] == "provenance.sigstore.json":
            return name, rest[1], "bundle"
    raise pages.PageNotFound("There is no page at this address.")


# --- browsers at the origin ----------------------------------------------------------------


def _accept_quality(accept: str) -> tuple[float, float, int, int]:
    """(quality of HTML, quality of JSON, position of HTML, position of JSON) in ``accept``.

    Only explicit media types count: ``*/*`` says nothing about a preference, and npm sends
    ``application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*``.
    """
    html = json_q = 0.0
    html_at = json_at = 1_000
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml") and quality > html:
            html, html_at = quality, min(html_at, position)
        elif (media == "application/json" or media.endswith("+json")) and quality > json_q:
            json_q, json_at = quality, min(json_at, position)
    return html, json_q, html_at, json_at


def prefers_html(accept: str | None) -> bool:
    """A browser's ``Accept``: HTML named, and preferred to JSON (by quality, then order)."""
    if not accept:
        return False
    html, json_q, html_at, json_at = _accept_quality(accept)
    return html > 0 and (html > json_q or (html == json_q and html_at < json_at))


def browser_target(path: str, accept: str | None, base: str = PREFIX) -> str | None:
    """Where a browser asking for ``path`` at the origin should go instead (None: nowhere)."""
    if path == "/favicon.ico":
        return f"{base}/static/favicon.svg"
    if path == base:
        return f"{base}/"
    if not prefers_html(accept):
        return None
    if path in ("", "/"):
        return f"{base}/"
    text = path.lstrip("/")
    if text.startswith("-"):
        return None
    try:
        target = parse_package_path(text)
    except ManifestError:
        return None
    if target.rev is not None:
        return None
    if target.kind == "doc":
        return f"{base}/package/{_pathquote(target.name.name)}"
    if target.kind == "version" and target.version is not None:
        return f"{base}/package/{_pathquote(target.name.name)}/v/{quote(target.version, safe='')}"
    return None


class BrowserFront:
    """Wraps the registry app: browsers asking for ``/`` or a package get the page instead."""

    def __init__(self, app: ASGIApp, base: str = PREFIX) -> None:
        self.app = app
        self.base = base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            accept = None
            for key, value in scope.get("headers", []):
                if key == b"accept":
                    accept = value.decode("latin-1")
                    break
            target = browser_target(scope["path"], accept, self.base)
            if target is not None:
                response = RedirectResponse(target, status_code=302, headers={"Vary": "Accept"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
