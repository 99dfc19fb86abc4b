"""The one settings object.

This module is the only reader of ``os.environ`` for configuration (prefix ``ASSAY_``) besides
:mod:`assay.directories`, which reads ``ASSAY_TRUST_DIR`` for the offline verifier without the
cost of pydantic. Settings are read once, at the edge (the CLI), and passed explicitly to what
needs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from assay import limits
from assay.directories import default_trust_dir, default_trust_pin_dir


class Settings(BaseSettings):
    """Configuration for every Assay service and command. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_", frozen=True, extra="forbid")

    data_dir: Path = Field(
        default=Path("data"), description="where keys, the database and blobs live"
    )
    host: str = Field(default="127.0.0.1", description="address the all-in-one instance binds")
    port: int = Field(
        default=4873, ge=0, le=65535, description="port the all-in-one instance binds"
    )
    public_url: str | None = Field(
        default=None, description="the origin clients use; defaults to http://host:port"
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes sharing the port (`assay up --workers N`; docs/deploy.md)",
    )

    # Limits on npm tarballs (assay.npm.tarball); see TarballLimits for what each means.
    tarball_max_entries: int = Field(default=10_000, gt=0)
    tarball_max_unpacked_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    tarball_max_ratio: int = Field(default=200, gt=0)

    @property
    def origin(self) -> str:
        """The public origin of the instance, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    # --- registry (assay.registry) and its storage ---------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (postgresql+psycopg://…); default SQLite <data_dir>/assay.db",
    )
    blob_store: Literal["file", "s3"] = Field(
        default="file", description="where tarballs live: <data_dir>/blobs or an S3 bucket"
    )
    s3_bucket: str | None = Field(default=None, description="bucket for blob_store=s3")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (SeaweedFS, MinIO, …); None means AWS"
    )
    s3_region: str = Field(default="us-east-1")
    s3_access_key_id: str | None = Field(default=None)
    s3_secret_access_key: str | None = Field(default=None, repr=False)
    s3_prefix: str = Field(default="", description="key prefix inside the bucket")
    registry_scope_policy: Literal["open", "user"] = Field(
        default="user",
        description="who may publish a new @scope/…: 'user' = @<own username>/… and the scopes "
        "an administrator assigned (`assay scope grant`), as npmjs.org; 'open' = also, the first "
        "publisher into any other scope claims it",
    )
    registry_allow_signup: bool = Field(
        default=True, description="whether `npm adduser` may create accounts (as npmjs.org)"
    )
    registry_max_body_bytes: int = Field(
        default=150 * 1024 * 1024, gt=0, description="largest publish request body"
    )
    registry_max_tarball_bytes: int = Field(
        default=100 * 1024 * 1024, gt=0, description="largest package tarball (compressed)"
    )
    registry_max_packument_bytes: int = Field(
        default=limits.MAX_PACKUMENT_BYTES,
        gt=0,
        description="largest package document: a publish that would make the sum of the "
        "package's version manifests (and its README) larger is refused (422)",
    )
    registry_packument_cache_bytes: int = Field(
        default=limits.PACKUMENT_CACHE_BYTES,
        ge=0,
        description="memory for cached packuments, counted in serialized bytes (0: no cache)",
    )
    registry_tarball_cache_bytes: int = Field(
        default=limits.TARBALL_CACHE_BYTES,
        ge=0,
        description="memory for hot tarballs, counted in bytes (0: no cache)",
    )
    registry_tarball_cache_entry_bytes: int = Field(
        default=limits.TARBALL_CACHE_ENTRY_BYTES,
        ge=0,
        description="largest tarball kept in the tarball cache (larger ones are read each time)",
    )
    mirror_cache_bytes: int = Field(
        default=limits.MIRROR_CACHE_BYTES,
        ge=0,
        description="memory for upstream packages the mirror holds (0: read from the "
        "database at every request that is not fresh in memory)",
    )

    # --- rate limits (assay.limits; per process, see docs/operations.md) ------------------------
    login_failures_per_client: int = Field(
        default=limits.LOGIN_FAILURES_PER_CLIENT,
        gt=0,
        description="failed password checks per client address per window",
    )
    login_failures_per_user: int = Field(
        default=limits.LOGIN_FAILURES_PER_USER,
        gt=0,
        description="failed password checks per user name per window",
    )
    login_window_seconds: float = Field(
        default=limits.LOGIN_WINDOW_SECONDS,
        gt=0,
        description="the window over which failed logins are refilled",
    )
    tlog_appends_per_minute: int = Field(
        default=limits.LOG_APPENDS_PER_MINUTE,
        ge=0,
        description="log appends per client per minute (0: unlimited)",
    )
    tlog_append_burst: int = Field(
        default=limits.LOG_APPEND_BURST, gt=0, description="log appends a client may make at once"
    )
    tlog_writer_secret: str | None = Field(
        default=None,
        repr=False,
        description="a bearer secret (Authorization: Bearer <it>) that exempts a trusted HTTP "
        "writer (another registry node, a mirror) from the log's append limit",
    )
    token_exchanges_per_minute: int = Field(
        default=limits.TOKEN_EXCHANGES_PER_MINUTE,
        ge=0,
        description="OIDC token exchanges per client per minute (0: unlimited)",
    )
    token_exchange_burst: int = Field(
        default=limits.TOKEN_EXCHANGE_BURST,
        gt=0,
        description="OIDC token exchanges a client may make at once",
    )
    trusted_publisher_pending_days: int = Field(
        default=7,
        gt=0,
        le=90,
        description="how long a pending trusted publisher (registered for a package name that "
        "does not exist yet) reserves the name for its creator (docs/trusted-publishing.md)",
    )

    # --- provenance at publish time (assay.registry.provenance) ----------------------------------
    provenance_trusted_roots: tuple[Literal["instance", "public-good"], ...] = Field(
        default=("instance", "public-good"),
        description="whose certificates and logs a provenance bundle may come from: this "
        "instance's CA and log, the Sigstore public-good instance (bundled snapshot), or both",
    )
    publish_attestation_tlog_url: str | None = Field(
        default=None,
        description="the Rekor v1 log the registry enters its publish attestations in; "
        "default: this instance's own log, <origin>/-/tlog",
    )
    provenance_allow_self_hosted_runners: bool = Field(
        default=False,
        description="accept provenance built on self-hosted CI runners (npmjs.org refuses it)",
    )
    provenance_issuers: tuple[str, ...] = Field(
        default=("https://token.actions.githubusercontent.com", "https://gitlab.com"),
        description="the OIDC issuers whose certificates the registry accepts provenance from "
        "(ASSAY_PROVENANCE_ISSUERS='[\"https://token.actions.githubusercontent.com\"]'): by "
        "default GitHub Actions and GitLab.com; the instance's own issuer is added only when "
        "ci_emulation is on",
    )
    ci_emulation: bool = Field(
        default=False,
        description="emulate CI jobs (`assay ci-job`, POST /-/oidc/ci/jobs) through the "
        "instance's own OIDC issuer, and accept provenance it signed (labelled 'emulated CI of "
        "this instance'); ASSAY_CI_EMULATION=1 or `assay up --ci-emulation`. For demos and tests",
    )
    source_check: Literal["off", "warn", "require"] = Field(
        default="off",
        description="at publish, confirm over git smart HTTP that the source commit named in the "
        "provenance certificate exists: 'warn' records the result, 'require' refuses a version "
        "whose commit is missing (422) or cannot be checked now (503, retryable)",
    )
    source_check_timeout: float = Field(
        default=20.0, gt=0, description="seconds each git command of the source check may take"
    )

    trust_dir: Path = Field(
        default_factory=default_trust_dir,
        description="where `assay trust update` keeps the public-good trust material it fetched "
        "(used instead of the bundled snapshot once there)",
    )

    trust_pin_dir: Path = Field(
        default_factory=default_trust_pin_dir,
        description="where `assay audit signatures` and `assay verify` pin the trusted root and "
        "keys a registry other than registry.npmjs.org serves, on first use (assay.audit.pins); "
        "default $XDG_CONFIG_HOME/assay/trust, i.e. ~/.config/assay/trust",
    )

    # --- mirror (assay.mirror; docs/mirror.md) ------------------------------------------------
    uplink_url: str | None = Field(
        default=None,
        description="an upstream registry every name that is not local comes from "
        "(ASSAY_UPLINK_URL=https://registry.npmjs.org/); its versions are verified before "
        "they are served. For several upstreams and package rules, use uplinks_file",
    )
    uplink_token: str | None = Field(
        default=None, repr=False, description="bearer token sent to uplink_url (optional)"
    )
    uplinks_file: Path | None = Field(
        default=None,
        description="a TOML file of upstream registries and package rules, in the shape of "
        "Verdaccio's uplinks/packages (`assay up --uplinks FILE`; docs/mirror.md)",
    )

    # --- trust services (assay.oidc, assay.ca) -------------------------------------------------
    oidc_trusted_issuers: tuple[Literal["github-actions", "gitlab.com"], ...] = Field(
        default=(),
        description="public CI issuers whose tokens the CA accepts besides the instance's own "
        '(ASSAY_OIDC_TRUSTED_ISSUERS=\'["github-actions","gitlab.com"]\'); their keys are '
        "fetched from the issuer's JWKS over the network",
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]


# How a server hands its settings to the worker processes it starts (uvicorn spawns each worker
# afresh and builds the app from an import string): the whole object, as JSON, in one variable,
# so a worker serves exactly what its parent resolved from flags, a config file and the
# environment.
WORKER_SETTINGS_VARIABLE = "ASSAY_WORKER_SETTINGS"


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment entry that carries ``settings`` to worker processes."""
    return {WORKER_SETTINGS_VARIABLE: settings.model_dump_json()}


def load_worker_settings() -> Settings:
    """In a worker process: the settings its parent resolved (else the environment's)."""
    raw = os.environ.get(WORKER_SETTINGS_VARIABLE)
    return Settings.model_validate_json(raw) if raw else load_settings()
