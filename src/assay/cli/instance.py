"""`assay init` and `assay up`: create a data directory, serve the all-in-one instance."""

from __future__ import annotations

from pathlib import Path

import click
import uvicorn

from assay.instance.app import accepted_issuers, create_instance_app
from assay.instance.layout import DataDir
from assay.instance.setup import ensure_admin_token, initialize
from assay.settings import load_settings

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
def up_command(
    data: Path | None,
    host: str | None,
    port: int | None,
    ci_emulation: bool,
    uplinks: Path | None,
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
    settings = load_settings(**overrides)
    data_dir = DataDir(settings.data_dir)
    if not data_dir.exists():
        info = initialize(data_dir)
        click.echo(f"initialized {settings.data_dir} (log tree id {info.tree_id})")
    token = ensure_admin_token(settings)
    app = create_instance_app(settings)
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
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
