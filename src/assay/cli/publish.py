"""`assay publish` and `assay provenance`: npm publish [--provenance], in Python.

Where the trust services are (npm has no setting for this; npm-registry.md §1.7):
``--instance URL`` reads ``<URL>/-/trust/signing_config.json``; ``--trust-config FILE`` reads a
signing_config.json v0.2 or a client trust config (what ``sigstore --trust-config`` takes);
otherwise the registry's own origin is asked for ``/-/trust/signing_config.json``, which is
where an Assay registry serves it.

This module is the only reader of ``os.environ`` on this path: it hands the environment to the
library as a plain mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from assay.npmrc import NpmConfig
from assay.provenance.bundle import Bundle
from assay.provenance.ci import detect
from assay.publish.body import Package, PublishError, check_publishable, load_package, publish_body
from assay.publish.client import RegistryClient
from assay.publish.pack import tarball_filename
from assay.publish.provenance import ensure_provenance_environment, generate_provenance
from assay.sign.config import SigningConfig
from assay.sign.errors import SigningError
from assay.sign.http import DEFAULT_TIMEOUT

__all__ = ["provenance_command", "publish_command"]

_ACCESS = {"public": "public", "restricted": "restricted", "private": "restricted"}


def _notice(message: str) -> None:
    # npm logs these as `npm notice publish <message>`.
    click.echo(f"assay notice publish {message}", err=True)


def signing_config(
    *, instance: str | None, trust_config: Path | None, registry: str, client: httpx.Client
) -> SigningConfig:
    """The trust services to sign with: --instance, else --trust-config, else the registry's."""
    if instance:
        return SigningConfig.fetch(instance, client=client)
    if trust_config is not None:
        return SigningConfig.from_file(trust_config)
    parts = urlsplit(registry)
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        return SigningConfig.fetch(origin, client=client)
    except SigningError as exc:
        raise SigningError(
            f"{exc.message}; the registry {registry} does not say where to sign: "
            "name the trust services with --instance URL or --trust-config FILE",
            **exc.details,
        ) from exc


def _sign(
    package: Package,
    env: Mapping[str, str],
    config: SigningConfig,
    client: httpx.Client,
    rekor_version: int,
) -> Bundle:
    bundle = generate_provenance(package, env, config, client=client, rekor_version=rekor_version)
    provider = detect(env)
    source = provider.value if provider else "CI"
    _notice(f"Signed provenance statement with source and build information from {source}")
    entry = bundle.verification_material.tlog_entries[0]
    if rekor_version == 1:
        url = f"{config.tlog_url}/api/v1/log/entries?logIndex={entry.log_index}"
    else:  # a Rekor v2 log has no entry lookup: name the log and the index
        url = f"{config.log_for(rekor_version)} (Rekor v2), index {entry.log_index}"
    _notice(f"Provenance statement published to transparency log: {url}")
    return bundle


def _publish_config(package: Package, given: Mapping[str, str | None]) -> dict[str, str]:
    """``publishConfig`` settings, minus those given on the command line (npm publish.js)."""
    raw = package.manifest.get("publishConfig")
    if not isinstance(raw, dict):
        return {}
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in raw.items()
        if given.get(key) is None and isinstance(value, str | bool)
    }


trust_options = [
    click.option(
        "--rekor-version",
        type=click.IntRange(1, 2),
        default=1,
        show_default=True,
        help="The log API to sign through: 1 (Rekor v1, as npm does) or 2 (Rekor v2, with an "
        "RFC 3161 timestamp from the signing config's TSA).",
    ),
    click.option(
        "--instance",
        metavar="URL",
        help="An Assay instance whose /-/trust/signing_config.json names the CA and log.",
    ),
    click.option(
        "--trust-config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A signing_config.json (v0.2) or client trust config naming the CA and log.",
    ),
]


def _with_trust_options(function: Any) -> Any:
    for option in reversed(trust_options):
        function = option(function)
    return function


@click.command("publish")
@click.argument("source", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--provenance", is_flag=True, help="Sign and attach a provenance statement (CI).")
@click.option("--registry", metavar="URL", help="The registry (default: from .npmrc).")
@click.option("--token", metavar="TOKEN", help="Bearer token (default: from .npmrc).")
@click.option("--tag", help="The dist-tag to set (default: latest).")
@click.option(
    "--access",
    type=click.Choice(sorted(_ACCESS)),
    help="public or restricted (scoped packages only); default: the registry's default.",
)
@click.option("--force", is_flag=True, help="Skip the check for an existing version.")
@click.option("--dry-run", is_flag=True, help="Do everything except send the request.")
@_with_trust_options
def publish_command(
    *,
    source: Path,
    provenance: bool,
    registry: str | None,
    token: str | None,
    tag: str | None,
    access: str | None,
    force: bool,
    dry_run: bool,
    instance: str | None,
    trust_config: Path | None,
    rekor_version: int,
) -> None:
    """Publish SOURCE (a package directory, default ., or a .tgz) as `npm publish` does.

    With --provenance, in GitHub Actions or GitLab CI, sign npm's SLSA provenance statement
    keylessly (CA and log from --instance, --trust-config, or the registry's own origin) and
    attach the Sigstore bundle.
    """
    env = dict(os.environ)
    cwd = Path.cwd()
    package = load_package(source, cwd=cwd, warn=lambda m: click.echo(f"assay warn {m}", err=True))
    given = {"registry": registry, "tag": tag, "access": access}
    config = NpmConfig.load(env, cwd)
    config = config.with_overrides(_publish_config(package, given))
    config = config.with_overrides({k: v for k, v in given.items() if v is not None})
    target = config.registry_for(package.name)
    credentials = config.credentials_for(target)
    authorization = f"Bearer {token}" if token else credentials.authorization
    level = _ACCESS.get(config.get("access") or "")
    dist_tag = config.get("tag") or "latest"
    wants_provenance = provenance or config.get("provenance") == "true"

    # npm publish.js: a tag that is a semver range, or a prerelease under the default tag.
    if re.match(r"^\s*$|^\s*[v=^~<>*xX]?\s*\d", dist_tag):
        raise PublishError(f"Tag name must not be a valid SemVer range: {dist_tag.strip()}")
    if not force and config.get("tag") is None and "-" in package.version.split("+")[0]:
        raise PublishError(
            "You must specify a tag using --tag when publishing a prerelease version."
        )
    with (
        httpx.Client(timeout=DEFAULT_TIMEOUT) as http,
        RegistryClient(target, authorization, client=http) as registry_client,
    ):
        if not dry_run:
            registry_client.require_auth()
            if not force:
                registry_client.check_version(
                    package.name, package.version, default_tag=config.get("tag") is None
                )
        check_publishable(package, level)
        bundle = None
        if wants_provenance and not dry_run:
            # libnpmpublish ensureProvenanceGeneration: the CI checks, then visibility.
            ensure_provenance_environment(env)
            if level != "public" and not registry_client.is_public(package.name):
                raise PublishError(
                    "Can't generate provenance for new or private package, "
                    "you must set `access` to public.",
                    code="EUSAGE",
                )
            services = signing_config(
                instance=instance, trust_config=trust_config, registry=target, client=http
            )
            bundle = _sign(package, env, services, http, rekor_version)
        body = publish_body(package, target, tag=dist_tag, access=level, provenance=bundle)
        if not dry_run:
            registry_client.publish(package.name, body)
    click.echo(f"+ {package.name}@{package.version}")


@click.command("provenance")
@click.argument("source", required=False, default=".", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the bundle (default: <name>-<version>.sigstore).",
)
@click.option("--registry", metavar="URL", help="Registry whose origin serves the trust config.")
@_with_trust_options
def provenance_command(
    *,
    source: Path,
    output: Path | None,
    registry: str | None,
    instance: str | None,
    trust_config: Path | None,
    rekor_version: int,
) -> None:
    """Sign npm's provenance statement for SOURCE and write the Sigstore bundle; publish nothing.

    The bundle is exactly what `assay publish --provenance` would attach as
    `<name>-<version>.sigstore`.
    """
    env = dict(os.environ)
    cwd = Path.cwd()
    package = load_package(source, cwd=cwd, warn=lambda m: click.echo(f"assay warn {m}", err=True))
    ensure_provenance_environment(env)
    config = NpmConfig.load(env, cwd)
    if registry:
        config = config.with_overrides({"registry": registry})
    with httpx.Client(timeout=DEFAULT_TIMEOUT) as http:
        services = signing_config(
            instance=instance,
            trust_config=trust_config,
            registry=config.registry_for(package.name),
            client=http,
        )
        bundle = _sign(package, env, services, http, rekor_version)
    target = output or cwd / tarball_filename(package.name, package.version).replace(
        ".tgz", ".sigstore"
    )
    target.write_text(bundle.to_json(), encoding="utf-8")
    click.echo(str(target))
