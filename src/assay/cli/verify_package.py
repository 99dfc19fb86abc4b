"""`assay verify NAME@VERSION [--registry URL]`: fetch a version's packument and attestations
and verify both (:func:`assay.verify.package.verify_package`, as ``assay audit signatures``
does, with the same default trust: the registry's own trusted root and keys, or the public-good
material for registry.npmjs.org), with an optional provenance policy (repository, workflow,
ref). What a registry other than registry.npmjs.org serves is pinned on first use
(:mod:`assay.audit.pins`).

A module of its own, loaded by :mod:`assay.cli.verify` only when this command runs, so that the
offline ``assay verify attestations`` does not import the network stack.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from assay.audit.fetch import packument_url
from assay.audit.pins import TrustPins
from assay.cli.pinning import PIN_OPTIONS, report_pins
from assay.cli.verify import NPMJS, report_attestations, split_spec
from assay.errors import ConfigError, VerificationError
from assay.provenance.subject import Digest
from assay.settings import load_settings
from assay.verify import NpmProvenancePolicy, RegistryKeys, TrustedRoot, Verifier
from assay.verify.package import (
    PackageVersion,
    Served,
    attestations_url,
    registry_trust,
    trust_plan,
    verify_package,
)


def _failed(message: str) -> VerificationError:
    """A failure the CLI reports as ``error: …`` with exit status 1 (cli.main)."""
    return VerificationError(message)


def _served(client: httpx.Client, url: str | None) -> Served | None:
    if url is None:
        return None
    response = client.get(url, headers={"Accept": "application/json"})
    return Served(url, response.status_code, response.content)


def _get_json(client: httpx.Client, url: str) -> Any:
    response = client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    return response.json()


@click.command("package", hidden=True)
@click.argument("spec", metavar="NAME@VERSION")
@click.option("--registry", default=NPMJS, show_default=True, help="Registry base URL.")
@click.option("--repository", help="Required source repository (e.g. github.com/o/r).")
@click.option("--workflow", help="Required workflow file (e.g. .github/workflows/release.yml).")
@click.option("--ref", help="Required source ref, a glob (e.g. refs/tags/v*).")
@click.option(
    "--trusted-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sigstore trusted_root.json (default: the registry's own /-/trust/trusted_root.json, "
    "the bundled public-good root for registry.npmjs.org or a registry that serves none).",
)
@click.option(
    "--registry-keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Registry keys, /-/npm/v1/keys or TUF keys.json shape (default: the registry's own "
    "/-/npm/v1/keys; npmjs.org's bundled keys for registry.npmjs.org).",
)
@PIN_OPTIONS[0]
@PIN_OPTIONS[1]
@PIN_OPTIONS[2]
def package_command(
    *,
    spec: str,
    registry: str,
    repository: str | None,
    workflow: str | None,
    ref: str | None,
    trusted_root: Path | None,
    registry_keys: Path | None,
    pin_dir: Path | None,
    require_pinned_root: bool,
    repin: bool,
) -> None:
    """Fetch NAME@VERSION's packument and attestations and verify both, with the registry's
    default trust (assay.verify.package: the same rule as `assay audit signatures`; what a
    registry other than registry.npmjs.org serves is pinned on first use, assay.audit.pins)."""
    name, version = split_spec(spec)
    registry = registry.rstrip("/")
    try:
        settings = load_settings()
        given_root = TrustedRoot.from_file(trusted_root) if trusted_root else None
        given_keys = RegistryKeys.from_file(registry_keys) if registry_keys else None
        pins = TrustPins(
            pin_dir or settings.trust_pin_dir, require=require_pinned_root, repin=repin
        )
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc  # exit status 2
    plan = trust_plan(registry, registry_keys=given_keys, trusted_root=given_root)
    try:
        with httpx.Client(timeout=30, follow_redirects=True) as client:
            served_keys = _served(client, plan.keys_url)
            served_root = _served(client, plan.trusted_root_url)
            try:
                pinned = pins.apply(registry, served_root, served_keys)
                trust = registry_trust(
                    registry,
                    served_keys=pinned.served_keys,
                    served_root=pinned.served_root,
                    registry_keys=given_keys,
                    trusted_root=given_root,
                    public_good=settings.trust_dir,
                )
            except ConfigError as exc:
                raise click.ClickException(exc.message) from exc
            report_pins([pinned], err_color=sys.stderr.isatty() and "NO_COLOR" not in os.environ)
            packument = _get_json(client, packument_url(registry, name))
            if not isinstance(packument, dict):
                raise _failed(f"the packument of {name} is not a JSON object")
            found = PackageVersion.from_packument(packument, name, version)
            response = None
            if found.attestations_path is not None:
                response = _get_json(client, attestations_url(registry, found.attestations_path))
    except httpx.HTTPError as exc:
        raise _failed(f"cannot fetch from {registry}: {exc}") from exc
    except ValueError as exc:  # json.JSONDecodeError included
        raise _failed(f"the registry sent malformed JSON: {exc}") from exc
    policy = None
    if any(v is not None for v in (repository, workflow, ref)):
        if found.integrity is None:
            raise _failed(f"{name}@{version} has no dist.integrity")
        policy = NpmProvenancePolicy(
            name,
            version,
            Digest.from_sri(found.integrity),
            repository=repository,
            workflow=workflow,
            ref=ref,
        )
    verified = verify_package(
        found,
        response,
        verifier=Verifier(trust.trusted_root),
        keys=trust.keys,
        provenance_policy=policy,
    )
    if verified.signatures == "missing":
        raise _failed(
            f"{name}@{version} has no registry signature but the registry provides signing keys"
        )
    if verified.signatures == "unchecked":
        click.echo("registry provides no signing keys: registry signature not checked")
    for key in verified.signature_keys:
        click.echo(f"verified registry signature (key {key.keyid})")
    if verified.attestations is None:
        click.echo("no attestations")
        return
    report_attestations(verified.attestations, registry)
