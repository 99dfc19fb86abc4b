"""`assay trust`: make standard clients trust an instance.

* ``assay trust npm-cache --cache DIR (--instance URL | --data DIR)`` plants the instance's TUF
  root, metadata and targets in npm's cache (``<DIR>/_tuf/tuf-repo-cdn.sigstore.dev/``) and
  prints, as ``export`` lines for ``eval``, the environment ``npm audit signatures`` needs.
* ``assay trust npm-proxy --data DIR [--port P]`` runs the proxy that answers the two requests
  npm still makes to ``https://tuf-repo-cdn.sigstore.dev`` (``<n>.root.json`` and
  ``timestamp.json``), and the ones ``npm publish --provenance`` makes to
  ``https://fulcio.sigstore.dev`` and ``https://rekor.sigstore.dev`` (forwarded to the instance's
  own CA and log), in the foreground, and prints the same environment.

Always run npm with ``--fetch-retries=0`` as well: a refused request then fails at once instead
of after about 70 s of retries (environment.md §3).
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

import click

from assay.instance.layout import DataDir
from assay.instance.npm_trust import (
    CONNECT_TARGETS,
    DEFAULT_PROXY_PORT,
    NO_PROXY,
    NpmTrustProxy,
    ProxyCA,
    SeededCache,
    npm_environment,
    seed_from_data_dir,
    seed_from_instance,
)
from assay.settings import load_settings
from assay.verify.update import NPMJS_KEYS_TARGET, PUBLIC_GOOD_MIRROR, update_public_good

DATA_HELP = "Data directory of the instance (default: $ASSAY_DATA_DIR or ./data)."


def _data_dir(data: Path | None) -> DataDir:
    return DataDir(load_settings(**({"data_dir": data} if data else {})).data_dir)


def _print_environment(environment: dict[str, str]) -> None:
    for name, value in environment.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@click.group("trust")
def trust_command() -> None:
    """Make standard clients (npm) trust this instance's signatures and attestations."""


@trust_command.command("npm-cache")
@click.option(
    "--cache",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="npm's cache directory (npm config get cache; --cache/npm_config_cache).",
)
@click.option("--instance", "instance_url", default=None, help="URL of a running instance.")
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default=None, help=DATA_HELP
)
@click.option(
    "--root",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --instance: the instance's 1.root.json obtained out of band "
    "(default: trust the one the instance serves, on first use).",
)
@click.option(
    "--proxy-port",
    type=int,
    default=DEFAULT_PROXY_PORT,
    show_default=True,
    help="Port of `assay trust npm-proxy`, for the printed https_proxy.",
)
def npm_cache_command(
    cache: Path, instance_url: str | None, data: Path | None, root: Path | None, proxy_port: int
) -> None:
    """Seed npm's TUF cache so that `npm audit signatures` trusts this instance."""
    if (instance_url is None) == (data is None):
        raise click.UsageError("give exactly one of --instance URL or --data DIR")
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    seeded: SeededCache
    if instance_url is not None:
        seeded = seed_from_instance(cache, instance_url, root.read_bytes() if root else None)
        click.echo(f"seeded {seeded.directory}: TUF root v{seeded.root_version}", err=True)
        click.echo("# NODE_EXTRA_CA_CERTS: the CA file that `assay trust npm-proxy` prints")
        _print_environment({"https_proxy": proxy_url, "no_proxy": NO_PROXY})
    else:
        data_dir = _data_dir(data)
        seeded = seed_from_data_dir(cache, data_dir)
        click.echo(f"seeded {seeded.directory}: TUF root v{seeded.root_version}", err=True)
        ca = ProxyCA.load_or_create(data_dir)
        _print_environment(npm_environment(proxy_url, ca.cert_path))
    for target in seeded.targets:
        click.echo(f"  target {target}", err=True)


@trust_command.command("npm-proxy")
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default=None, help=DATA_HELP
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=int, default=DEFAULT_PROXY_PORT, show_default=True, help="Port (0: any)."
)
def npm_proxy_command(data: Path | None, host: str, port: int) -> None:
    """Serve the instance's TUF repository to npm as tuf-repo-cdn.sigstore.dev, and its CA and
    log as fulcio.sigstore.dev and rekor.sigstore.dev, through a CONNECT proxy that forwards
    nothing else. Runs until interrupted."""
    # One line per request on stderr: what npm asked for, and what was refused.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    proxy = NpmTrustProxy.for_data_dir(_data_dir(data), host, port)
    try:
        click.echo(
            f"# Assay npm trust proxy on {proxy.url}: answers only CONNECT "
            + ", ".join(CONNECT_TARGETS)
        )
        _print_environment(proxy.environment())
        sys.stdout.flush()
        proxy.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()


@trust_command.command("update")
@click.option(
    "--mirror",
    default=PUBLIC_GOOD_MIRROR,
    show_default=True,
    help="The TUF repository to update from.",
)
@click.option(
    "--root",
    "root_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TUF root.json to start from (default: the bundled Sigstore root).",
)
@click.option(
    "--keys-target",
    default=NPMJS_KEYS_TARGET,
    show_default=True,
    help="The TUF target holding the registry keys.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep the material (default: $ASSAY_TRUST_DIR or ~/.cache/assay/trust).",
)
def update_command(
    mirror: str, root_file: Path | None, keys_target: str, directory: Path | None
) -> None:
    """Refresh the public-good trusted root and npm's registry keys through TUF.

    `assay verify` and `assay audit signatures` use what this fetched instead of the bundled
    snapshot from then on.
    """
    target = directory or load_settings().trust_dir
    root = root_file.read_bytes() if root_file is not None else None
    updated = update_public_good(target, mirror=mirror, root=root, keys_target=keys_target)
    click.echo(f"trusted root: {updated.trusted_root}")
    click.echo(f"registry keys: {updated.registry_keys}")
    click.echo(f"TUF root version {updated.root_version}, from {mirror}")
