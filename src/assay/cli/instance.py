"""`assay init`, `assay up` and `assay serve`: create a data directory, serve the instance on
one machine (one process or several workers) or as one node of a cluster (docs/deploy.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pydantic
import uvicorn
from starlette.types import ASGIApp

from assay.errors import ConfigError
from assay.instance.app import accepted_issuers, create_instance_app
from assay.instance.layout import DataDir
from assay.instance.node import node_overrides
from assay.instance.setup import ensure_admin_token, initialize
from assay.settings import Settings, load_settings, worker_environment

# The worker processes' app: uvicorn starts each worker afresh and builds it from this name.
WORKER_APP = "assay.instance.app:create_worker_app"

DATA_OPTION = click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $ASSAY_DATA_DIR or ./data).",
)


@click.command("init")
@DATA_OPTION
@click.option("--organization", default="assay", show_default=True, help="Name in the CA chain.")
def init_command(data: Path | None, organization: str) -> None:
    """Create a data directory: CA root and intermediate, CT, log, OIDC and registry keys."""
    settings = load_settings(**({"data_dir": data} if data else {}))
    info = initialize(DataDir(settings.data_dir), organization=organization)
    click.echo(f"initialized {settings.data_dir} (log tree id {info.tree_id})")


@click.command("up")
@DATA_OPTION
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default 4873).")
@click.option(
    "--ci-emulation",
    is_flag=True,
    default=False,
    help="Emulate CI jobs (`assay ci-job`) through the instance's own OIDC issuer and accept the "
    "provenance they sign, labelled 'emulated CI of this instance' (default: "
    "$ASSAY_CI_EMULATION, off). For demos and tests.",
)
@click.option(
    "--uplinks",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of upstream registries and package rules (docs/mirror.md); names not "
    "published here come from them, verified first (default: $ASSAY_UPLINKS_FILE; or "
    "$ASSAY_UPLINK_URL for one upstream).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes sharing the port (default: $ASSAY_WORKERS or 1).",
)
def up_command(
    *,
    data: Path | None,
    host: str | None,
    port: int | None,
    ci_emulation: bool,
    uplinks: Path | None,
    workers: int | None,
) -> None:
    """Serve the all-in-one instance (trust services and registry) on one port.

    Runs `init` first when the data directory is new.
    """
    overrides: dict[str, object] = {}
    if ci_emulation:
        overrides["ci_emulation"] = True
    if data:
        overrides["data_dir"] = data
    if host:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if uplinks is not None:
        overrides["uplinks_file"] = uplinks
    if workers is not None:
        overrides["workers"] = workers
    settings = _settings(overrides)
    data_dir = DataDir(settings.data_dir)
    if not data_dir.exists():
        info = initialize(data_dir)
        click.echo(f"initialized {settings.data_dir} (log tree id {info.tree_id})")
    token = ensure_admin_token(settings)
    app = create_instance_app(settings)
    _announce(settings, data_dir, token)
    _serve(settings, app)


@click.command("serve")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The node's TOML file: server, database, blob store, key directory (docs/deploy.md).",
)
@click.option(
    "--prepare",
    is_flag=True,
    default=False,
    help="Prepare the shared state once, then exit: create the key directory if it is new, "
    "migrate the database, create the admin user, sign the TUF repository. Copy the key "
    "directory to every node afterwards.",
)
def serve_command(config: Path, prepare: bool) -> None:
    """Serve one node of an instance over shared PostgreSQL and S3 (or prepare them).

    Every node runs the same file: one node, or many behind a load balancer.
    """
    settings = _settings(node_overrides(config))
    data_dir = DataDir(settings.data_dir)
    if prepare:
        if not data_dir.exists():
            info = initialize(data_dir)
            click.echo(f"initialized {settings.data_dir} (log tree id {info.tree_id})")
        token = ensure_admin_token(settings)
        create_instance_app(settings)  # migrates, signs the TUF repository for the origin
        click.echo(f"prepared {settings.data_dir} for {settings.origin}")
        if token is not None:
            click.echo(f"  admin token (shown once, also in {data_dir.admin_token}): {token}")
        click.echo("  give every node a copy of this directory (a secret, mode 0700)")
        return
    if not data_dir.exists():
        raise ConfigError(
            f"{settings.data_dir} holds no key material; run `assay serve --config "
            f"{config} --prepare` once and copy the directory to every node",
            path=str(settings.data_dir),
        )
    # The TUF repository is served as prepared: every node signs nothing of its own, so all of
    # them serve the same metadata (a node re-signing would fork the repository's versions).
    app = None if settings.workers > 1 else create_instance_app(settings, publish_tuf=False)
    click.echo(f"Assay node serving {settings.origin} on {settings.host}:{settings.port}")
    _serve(settings, app)


def _settings(overrides: dict[str, object]) -> Settings:
    try:
        return load_settings(**overrides)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


def _serve(settings: Settings, app: ASGIApp | None) -> None:
    """Run the server: ``app`` in this process, or ``settings.workers`` worker processes that
    share the port, each building the app from :data:`WORKER_APP` with these settings."""
    if settings.workers == 1 and app is not None:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
        return
    os.environ.update(worker_environment(settings))  # inherited by every worker process
    uvicorn.run(
        WORKER_APP,
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level="warning",
    )


def _announce(settings: Settings, data_dir: DataDir, token: str | None) -> None:
    host_path = settings.origin.split("://", 1)[-1]
    click.echo(f"Assay is serving {settings.origin}")
    click.echo("  .npmrc for the admin user:")
    click.echo(f"    registry={settings.origin}/")
    if token is not None:  # created just now: shown this once, kept in admin.token (0600)
        click.echo(f"    //{host_path}/:_authToken={token}")
    else:
        click.echo(f"    //{host_path}/:_authToken=<the token in {data_dir.admin_token}>")
    click.echo(f"  sigstore --trust-config: {settings.origin}/-/trust/client_trust_config.json")
    if settings.ci_emulation:
        click.echo("  CI emulation is on: `assay ci-job` registers jobs; their provenance is")
        click.echo("    accepted and labelled 'emulated CI of this instance'")
    click.echo(f"  provenance accepted from: {', '.join(accepted_issuers(settings))}")
    if settings.source_check != "off":
        click.echo(f"  source commits checked at publish: {settings.source_check}")
    if settings.uplinks_file is not None or settings.uplink_url is not None:
        source = settings.uplinks_file or settings.uplink_url
        click.echo(f"  mirror: names not published here come from the uplinks of {source}")
    if settings.workers > 1:
        click.echo(f"  {settings.workers} worker processes share the port")
