"""`assay verify`: check a package version's registry signatures and attestations.

* ``assay verify attestations --package NAME@VERSION --integrity SRI FILE`` verifies one saved
  attestations response, offline, with the bundled public-good trust (or the files given).
* ``assay verify NAME@VERSION [--registry URL]`` fetches the packument and the attestations and
  verifies both (:func:`assay.verify.package.verify_package`, as ``assay audit signatures``
  does, with the same default trust: the registry's own trusted root and keys, or the
  public-good material for registry.npmjs.org), with an optional provenance policy
  (repository, workflow, ref); it lives in :mod:`assay.cli.verify_package`, imported only when
  it runs.

Both print, for a provenance signed in CI, the verified facts of its signing certificate
(:mod:`assay.audit.facts`): the CI (named by its OIDC issuer; an Assay instance's emulated CI as
such), the issuer, source repository, commit and ref, workflow and run.

Exit status (through :func:`assay.cli.main.main`): 0 when everything verifies, 1 when anything
does not or cannot be fetched (a :class:`~assay.errors.VerificationError`, printed with its
details), 2 for usage errors and unusable trust files (a ``click.ClickException``). Both call
:mod:`assay.verify`, the one verification path.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from assay.audit.facts import facts_lines, provenance_facts
from assay.directories import trust_dir
from assay.errors import ConfigError
from assay.verify import RegistryKeys, TrustedRoot, Verifier
from assay.verify.attestations import AttestationsResult, verify_attestations

NPMJS = "https://registry.npmjs.org"


def split_spec(spec: str) -> tuple[str, str]:
    """``@scope/pkg@1.0.0`` → (``@scope/pkg``, ``1.0.0``)."""
    name, sep, version = spec.rpartition("@")
    if not sep or not name or not version:
        raise click.UsageError(f"expected NAME@VERSION, got {spec!r}")
    return name, version


def _trust(trusted_root: Path | None, registry_keys: Path | None) -> tuple[Verifier, RegistryKeys]:
    try:
        public_good = trust_dir()  # Settings().trust_dir, read without pydantic
        root = (
            TrustedRoot.from_file(trusted_root)
            if trusted_root
            else TrustedRoot.public_good(public_good)
        )
        keys = (
            RegistryKeys.from_file(registry_keys)
            if registry_keys
            else RegistryKeys.npmjs(public_good)
        )
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc  # exit status 2
    return Verifier(root), keys


def report_attestations(result: AttestationsResult, registry: str | None = None) -> None:
    """What was verified; for a keyless provenance, the verified facts of its certificate (the
    CI, issuer, repository, commit, ref, workflow, run), never the statement's claims.
    ``registry``: where it came from, so that an Assay instance's emulated CI is named so."""
    for attestation in result.attestations:
        verified = attestation.result
        # A Rekor v2 entry has no integrated time: its verified time is the TSA's.
        if verified.integrated_time:
            when = verified.integrated_time.isoformat()
        elif verified.verified_times:
            when = f"timestamped {min(verified.verified_times).isoformat()}"
        else:
            when = "-"
        if verified.signer is not None:
            who = f"signed by {verified.signer.san} ({verified.signer.issuer})"
        else:
            key = attestation.registry_key
            who = f"signed by registry key {key.keyid if key else '?'}"
        click.echo(f"verified {attestation.predicate_type}")
        click.echo(f"  {who}")
        click.echo(f"  logged at index {verified.log_index}, {when}")
        facts = provenance_facts(verified, registry) if verified.signer is not None else None
        for line in facts_lines(facts) if facts is not None else []:
            click.echo(f"  {line}")


# `assay verify NAME@VERSION` lives in its own module, imported only when it runs: it needs
# httpx, the fetcher, the pins and Settings (pydantic), which cost a cold `assay verify
# attestations --offline` several times what its verification does (bench/verify.py).
# tests/integration/test_cli_imports.py keeps the offline path free of them.
_LAZY = {"package": "assay.cli.verify_package:package_command"}


class _VerifyGroup(click.Group):
    """A group whose first argument, if it is not a subcommand, is a ``NAME@VERSION``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _LAZY.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.list_commands(ctx) and not args[0].startswith("-"):
            args = ["package", *args]
        return super().parse_args(ctx, args)


@click.group("verify", cls=_VerifyGroup)
def verify_command() -> None:
    """Verify a package version (NAME@VERSION) or a saved attestations response."""


_TRUST_OPTIONS = [
    click.option(
        "--trusted-root",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Sigstore trusted_root.json (default: the bundled public-good root).",
    ),
    click.option(
        "--registry-keys",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Registry keys, /-/npm/v1/keys or TUF keys.json shape (default: npmjs.org's).",
    ),
]


@verify_command.command("attestations")
@click.option("--package", "spec", required=True, help="NAME@VERSION the attestations are for.")
@click.option("--integrity", required=True, help="dist.integrity of the tarball (sha512-…).")
@click.option("--offline", is_flag=True, help="Never use the network (this command never does).")
@_TRUST_OPTIONS[0]
@_TRUST_OPTIONS[1]
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def attestations_command(
    *,
    spec: str,
    integrity: str,
    offline: bool,
    trusted_root: Path | None,
    registry_keys: Path | None,
    file: Path,
) -> None:
    """Verify FILE, the body of GET /-/npm/v1/attestations/NAME@VERSION."""
    del offline  # verification is always offline; the flag documents the intent
    name, version = split_spec(spec)
    verifier, keys = _trust(trusted_root, registry_keys)
    result = verify_attestations(
        file.read_bytes(), name, version, integrity, verifier=verifier, registry_keys=keys
    )
    report_attestations(result)
