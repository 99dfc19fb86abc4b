"""The all-in-one instance: every service under one origin (DESIGN.md, "One origin").

::

    /-/ping                         200 once the instance is ready (what `npm ping` asks)
    /-/openapi.json                 the OpenAPI document of every route below
                                    (assay.instance.openapi)
    /-/trust/trusted_root.json      Sigstore trust files for this instance (assay.instance.trust)
    /-/trust/signing_config.json
    /-/trust/client_trust_config.json
    /-/trust/tuf/<file>             the instance's TUF repository (assay.instance.tuf_repo):
                                    what npm's TUF client trusts it through
    /-/oidc/…                       OIDC issuer: discovery, JWKS, the CI token endpoint
    /-/ca/api/v2/…                  certificate authority (Fulcio v2)
    /api/v2/signingCert, /api/v2/trustBundle, /api/v2/configuration
                                    the same CA at the origin: sigstore-python joins Fulcio's
                                    paths with urljoin, which drops any base path, so the
                                    signing config names the origin as the CA URL. npm never
                                    uses a three-segment path, so these cannot shadow a package.
    /-/tlog/…                       transparency log (Rekor v1 and v2 APIs, checkpoint, tiles);
                                    its two append routes (POST) are handed to the log's own
                                    handler before the router (``_Dispatch``): the log's hot
                                    path, answered as the log's routes answer it
    /-/tsa/api/v1/timestamp[/certchain]
                                    timestamp authority (Sigstore timestamp-authority's API)
    /-/web/…                        the web pages (assay.web.app); a browser's GET of / or of a
                                    package's path is redirected there
    everything else                 the npm registry (assay.registry.app)
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from assay.ca.app import create_app as create_ca_app
from assay.ca.authority import CertificateAuthority
from assay.ca.extensions import IssuerProfile
from assay.instance import openapi
from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.setup import ADMIN_USER, ensure_tsa_material
from assay.instance.trust import (
    client_trust_config,
    signing_config,
    trusted_root,
    with_uplinks,
)
from assay.instance.tuf_repo import TufRepository, instance_targets
from assay.keys import Signer
from assay.limits import RateLimit, RateLimiter
from assay.mirror.app import create_mirror_admin_app
from assay.mirror.service import open_mirror
from assay.oidc.app import create_app as create_oidc_app
from assay.oidc.issuer import OIDCIssuer
from assay.oidc.jobs import FileJobStore, ensure_registration_secret
from assay.oidc.validation import GITHUB_ACTIONS, GITLAB_COM, TokenValidator, TrustedIssuer
from assay.registry.app import HotReads
from assay.registry.app import create_app as create_registry_app
from assay.registry.provenance import ProvenanceGate
from assay.registry.service import RegistryService
from assay.registry.signing import RegistryKeys
from assay.registry.source_check import SourceChecker, SourceCheckMode
from assay.registry.trusted_publishing import LEEWAY as EXCHANGE_LEEWAY
from assay.settings import Settings, load_worker_settings
from assay.sign.log import InProcessLog
from assay.storage.database import database_url, migrate, open_engine
from assay.storage.mirror_store import MirrorStore
from assay.storage.tlog_store import TlogStore
from assay.tlog.app import APPEND_PATHS, LogAppends
from assay.tlog.app import create_app as create_tlog_app
from assay.tlog.sequencer import LogIdentity, Sequencer
from assay.tlog.service import LogService
from assay.tsa.app import create_app as create_tsa_app
from assay.tsa.authority import TimestampAuthority
from assay.verify.trust import TrustedRoot
from assay.verify.verifier import Verifier
from assay.web.app import BrowserFront, browser_target, registry_attestations
from assay.web.app import create_app as create_web_app

SIGSTORE_AUDIENCE = "sigstore"
# Real CI issuers an operator may trust besides our own (settings.oidc_trusted_issuers).
PUBLIC_ISSUERS: dict[str, tuple[TrustedIssuer, IssuerProfile]] = {
    "github-actions": (GITHUB_ACTIONS, IssuerProfile(GITHUB_ACTIONS.issuer, "github")),
    "gitlab.com": (GITLAB_COM, IssuerProfile(GITLAB_COM.issuer, "gitlab")),
}
CA_PATHS_AT_ORIGIN = frozenset(
    {"/api/v2/signingCert", "/api/v2/trustBundle", "/api/v2/configuration"}
)
LOG_MOUNT = "/-/tlog"
LOG_APPEND_PATHS = frozenset(LOG_MOUNT + path for path in APPEND_PATHS)


def create_worker_app() -> ASGIApp:
    """The app of one worker process (uvicorn's factory, ``assay up --workers N`` and
    ``assay serve``): the settings its parent resolved, the TUF repository as the parent left
    it (the parent published it once, before starting the workers)."""
    return create_instance_app(load_worker_settings(), publish_tuf=False)


def create_instance_app(settings: Settings, *, publish_tuf: bool = True) -> ASGIApp:
    """Load the data directory named by ``settings`` and compose every service.

    ``publish_tuf``: (re)sign the TUF repository for the current keys and origin first. A
    worker or a cluster node leaves it to whoever prepared the data directory, so every process
    serves the same signed metadata (docs/deploy.md)."""
    data_dir = DataDir(settings.data_dir)
    ensure_tsa_material(data_dir)  # a directory from before the TSA gets its keys once
    material = InstanceMaterial.load(data_dir)
    origin = settings.origin
    engine = open_engine(database_url(settings.database_url, settings.data_dir))
    migrate(engine)

    # Transparency log. Its checkpoint key name is the origin's host[:port]: sigstore-js only
    # accepts a checkpoint signature whose name is a substring of the log's baseUrl.
    store = TlogStore(engine)
    identity = LogIdentity(
        name=urlsplit(origin).netloc,
        tree_id=material.info.tree_id,
        signer=Signer(material.tlog_key),
    )
    log_service = LogService(store, identity, Sequencer(store, identity))

    # OIDC issuer, and the validator the CA trusts it through (static keys: no HTTP to itself).
    issuer = OIDCIssuer(
        instance_issuer(settings), material.oidc_key, jobs=FileJobStore(data_dir.oidc / "jobs")
    )
    public = [PUBLIC_ISSUERS[name] for name in settings.oidc_trusted_issuers]
    # The instance's own issuer mints tokens only for emulated CI jobs, so the CA certifies its
    # identities only while emulation is on: with it off, nothing the instance signed for itself
    # can become a signing certificate (issue 10 §3).
    own = [(issuer.trusted_issuer(), IssuerProfile(issuer.issuer_url, "ci"))]
    certified = [*own, *public] if settings.ci_emulation else public
    validator = TokenValidator([trusted for trusted, _ in certified])

    def verify_token(token: str) -> dict[str, Any]:
        return validator.validate(token, SIGSTORE_AUDIENCE)

    authority = CertificateAuthority(
        root=material.ca_root,
        intermediate=material.ca_intermediate,
        intermediate_key=material.ca_intermediate_key,
        ct_key=material.ct_key,
        profiles=[profile for _, profile in certified],
    )
    ca_app = create_ca_app(authority, verify_token)

    # The registry (below) and, with uplinks, its mirror (assay.mirror), whose uplinks' keys
    # and trusted roots are published beside the instance's own.
    attestation_log = None if settings.publish_attestation_tlog_url else InProcessLog(log_service)
    registry = RegistryService.open(
        settings,
        engine,
        provenance_gate(settings, material),
        log=attestation_log,
        oidc=exchange_validator(settings, issuer.trusted_issuer()),
        instance_issuer=issuer.issuer_url,
    )
    mirror = registry.mirror = open_mirror(settings, MirrorStore(engine), registry.blobs)
    uplink_keys, uplink_roots = mirror.trust_material() if mirror else ([], [])

    trust_files: dict[str, dict[str, Any]] = {
        "trusted_root.json": with_uplinks(trusted_root(material, origin), uplink_roots),
        "signing_config.json": signing_config(material, origin),
        "client_trust_config.json": client_trust_config(material, origin),
    }

    # TUF: (re)sign the repository for the current keys and origin at every start.
    tuf_repository = TufRepository.open(data_dir)
    if publish_tuf:
        tuf_repository.publish(
            instance_targets(
                material,
                origin,
                RegistryKeys.load_or_create(data_dir.keys),
                uplink_keys=uplink_keys,
                uplink_roots=uplink_roots,
            )
        )

    # The one OpenAPI document, written for every service (assay.instance.openapi), replaces
    # FastAPI's, which would take /openapi.json from a package of that name.
    app = FastAPI(title="Assay", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None)
    openapi_document = openapi.document(origin, mirror=mirror is not None)

    @app.exception_handler(StarletteHTTPException)
    async def unrouted(request: Request, exc: StarletteHTTPException) -> Response:
        # A path no service's route matches reaches the instance's router: a control character
        # in it (a decoded %0A) defeats Starlette's `{path:path}` patterns, so not even the
        # registry's catch-all takes it. Answer in the shape of the service the path names.
        return error_in_shape(request.url.path, exc.status_code, str(exc.detail))

    # A node that stops gives the log's lease up at once, so another takes over without waiting
    # for it to expire (a node that dies is replaced when it does: assay.tlog.sequencer).
    app.router.add_event_handler("shutdown", log_service.sequencer.stop)

    @app.get("/-/ping")
    def ping() -> dict[str, str]:
        return {}

    @app.get(openapi.OPENAPI_PATH)
    def openapi_json() -> dict[str, Any]:
        return openapi_document

    @app.get("/-/trust/tuf/{path:path}")
    def tuf_file(path: str) -> Response:
        data = tuf_repository.read(path)
        if data is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        media = "application/json" if path.endswith(".json") else "application/octet-stream"
        return Response(data, media_type=media, headers={"Cache-Control": "no-store"})

    @app.get("/-/trust/{name}")
    def trust_file(name: str) -> JSONResponse:
        body = trust_files.get(name)
        if body is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(body)

    app.mount(
        "/-/oidc",
        create_oidc_app(
            issuer,
            registration_secret=ensure_registration_secret(data_dir.oidc),
            ci_emulation=settings.ci_emulation,
        ),
    )
    app.mount("/-/ca", ca_app)
    log_appends = LogAppends(
        log_service,
        appends=RateLimiter(
            RateLimit.per_minute(settings.tlog_appends_per_minute, settings.tlog_append_burst),
            "log appends from this address",
        ),
        writer_secret=settings.tlog_writer_secret,
    )
    app.mount(LOG_MOUNT, create_tlog_app(log_service, appender=log_appends))
    app.mount("/-/tsa", create_tsa_app(TimestampAuthority(material.tsa_key, material.tsa_chain)))
    # The registry takes every other path: packages live at the root (npm's protocol).
    # It logs its publish attestations in the log above, in process: no HTTP request to itself
    # (unless the operator named another log, which it reaches over HTTP).
    # The web pages, under /-/web so that no page can take a package's path (assay.web.app).
    app.mount(
        "/-/web",
        create_web_app(registry, log_service, registry_attestations(registry), mirror=mirror),
    )
    if mirror is not None:  # the operator's routes (assay mirror status/report/evict)
        app.mount("/-/mirror", create_mirror_admin_app(mirror, registry.accounts, ADMIN_USER))
    # A browser asking for / or a package's path is sent to its page; npm gets JSON as ever.
    app.mount("/", BrowserFront(create_registry_app(registry, settings)))

    # The CA's routes once more at the origin (see the module docstring), the log's appends
    # straight to the log's handler, and packuments and tarballs the registry holds in memory
    # answered before any routing (HotReads).
    def browser(path: str, accept: str | None) -> bool:
        return browser_target(path, accept) is not None

    return _Dispatch(HotReads(app, registry, browser), ca_app, log_appends)


def provenance_gate(settings: Settings, material: InstanceMaterial) -> ProvenanceGate | None:
    """The registry's provenance check over the trusted roots the operator chose."""
    roots = {
        "instance": lambda: TrustedRoot.from_dict(trusted_root(material, settings.origin)),
        "public-good": lambda: TrustedRoot.public_good(settings.trust_dir),
    }
    verifiers = [Verifier(roots[name]()) for name in settings.provenance_trusted_roots]
    if not verifiers:
        return None
    return ProvenanceGate(
        verifiers,
        settings.provenance_allow_self_hosted_runners,
        issuers=accepted_issuers(settings),
        instance_issuer=instance_issuer(settings),
        source_checker=SourceChecker(
            SourceCheckMode(settings.source_check), timeout=settings.source_check_timeout
        ),
    )


def instance_issuer(settings: Settings) -> str:
    """The URL of this instance's own OIDC issuer (its CI emulation signs through it)."""
    return f"{settings.origin}/-/oidc"


def accepted_issuers(settings: Settings) -> tuple[str, ...]:
    """The OIDC issuers whose provenance the registry accepts: ``provenance_issuers``, plus
    the instance's own when CI emulation is on (issue 10 §3)."""
    issuers = tuple(settings.provenance_issuers)
    if settings.ci_emulation:
        issuers += (instance_issuer(settings),)
    return tuple(dict.fromkeys(issuers))


def exchange_validator(settings: Settings, own: TrustedIssuer) -> TokenValidator:
    """The validator of trusted publishing's OIDC exchange: the same issuers as provenance
    (:func:`accepted_issuers`, the one rule: the instance's own only with CI emulation on),
    each with its keys — ours static, GitHub's and gitlab.com's from their JWKS, any other
    (GitHub Enterprise Server, a self-managed GitLab, a CircleCI organisation) through OpenID
    discovery — and the exchange's small leeway."""
    known = {GITHUB_ACTIONS.issuer: GITHUB_ACTIONS, GITLAB_COM.issuer: GITLAB_COM}
    trusted = [
        own if issuer == own.issuer else known.get(issuer) or TrustedIssuer(issuer)
        for issuer in accepted_issuers(settings)
    ]
    return TokenValidator(trusted, leeway=EXCHANGE_LEEWAY)


def error_in_shape(path: str, status: int, message: str) -> Response:
    """An error of the instance itself, in the shape of the service at ``path``: Rekor's and
    Fulcio's ``{"code", "message"}`` (Fulcio's code is gRPC's: NOT_FOUND 5, UNIMPLEMENTED 12),
    a small HTML page for the web pages, npm's ``{"error"}`` everywhere else."""
    if path.startswith("/-/tlog/"):
        return JSONResponse({"code": status, "message": message}, status_code=status)
    if path.startswith(("/-/ca/", "/api/v2/")):
        code = {404: 5, 405: 12}.get(status, 2)
        return JSONResponse({"code": code, "message": message}, status_code=status)
    if path.startswith("/-/web/"):
        text = html.escape(message)
        return HTMLResponse(f"<!doctype html><title>{text}</title><h1>{text}</h1>", status)
    return JSONResponse({"error": message}, status_code=status)


class _Dispatch:
    """Sends the CA's own paths at the origin to the CA app, a log append (``POST
    /-/tlog/api/v1/log/entries`` or ``…/v2/…``) straight to the log's :class:`LogAppends`,
    everything else to the instance.

    The appends skip the instance's and the log app's routers and middleware stacks: the
    handler is the one the log's routes use (tlog/app.py), and it answers every error in
    Rekor's shape itself, so the answer is the same, for less work on the log's hot path."""

    def __init__(self, app: ASGIApp, ca_app: ASGIApp, log_appends: LogAppends) -> None:
        self.app = app
        self.ca_app = ca_app
        self.log_appends = log_appends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path in CA_PATHS_AT_ORIGIN:
                await self.ca_app(scope, receive, send)
                return
            if scope["method"] == "POST" and path in LOG_APPEND_PATHS:
                root_path = scope.get("root_path", "") + LOG_MOUNT
                await self.log_appends(
                    {**scope, "root_path": root_path, "path": root_path + path[len(LOG_MOUNT) :]},
                    receive,
                    send,
                )
                return
        await self.app(scope, receive, send)
