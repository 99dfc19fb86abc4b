"""`assay audit signatures`: npm's audit of the installed tree, faster, with a policy.

    assay audit signatures [--json [--include-attestations]] [--policy FILE] [--omit dev]
                           [--registry URL] [--trusted-root FILE] [--registry-keys FILE]
                           [--save-cache DIR | --offline --cache DIR] [--concurrency N]
                           [--pin-dir DIR] [--require-pinned-root | --repin] [PATH]

Exit status: 0 when every package verified and the policy holds; 1 when a package is missing a
signature, is invalid, or breaks the policy (npm sets ``process.exitCode = 1`` for the first
two); 2 for usage errors, unusable trust material or policy files, and registries that cannot
be reached.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from assay.audit.fetch import DEFAULT_CONCURRENCY, Fetcher, FetchError, ResponseCache
from assay.audit.pins import PinOutcome, TrustPins
from assay.audit.policy import AuditPolicy
from assay.audit.report import render_json, render_text
from assay.audit.tree import InstalledPackage, load_tree
from assay.audit.verify import Auditor, AuditResult, PackageResult
from assay.cli.pinning import PIN_OPTIONS, report_pins
from assay.errors import AssayError, ConfigError
from assay.npmrc import NpmConfig
from assay.settings import load_settings
from assay.verify.trust import RegistryKeys, TrustedRoot

EXIT_FINDINGS = 1
EXIT_ERROR = 2


@click.group("audit")
def audit_command() -> None:
    """Audit installed dependencies (npm audit, with provenance policy)."""


def _trusted_root(value: str | None, public_good: Path) -> TrustedRoot | None:
    if value is None:
        return None
    if value == "public-good":
        return TrustedRoot.public_good(public_good)
    return TrustedRoot.from_file(Path(value))


def _registry_keys(value: str | None, public_good: Path) -> RegistryKeys | None:
    if value is None:
        return None
    if value == "npmjs":
        return RegistryKeys.npmjs(public_good)
    return RegistryKeys.from_file(Path(value))


@audit_command.command("signatures")
@click.argument(
    "path", type=click.Path(exists=True, path_type=Path), default=Path("."), required=False
)
@click.option("--json", "as_json", is_flag=True, help="Print npm's JSON report (plus policy).")
@click.option(
    "--include-attestations",
    is_flag=True,
    help="With --json: list verified packages with their attestation bundles.",
)
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="TOML policy file (docs/policy.md).")  # fmt: skip
@click.option(
    "--omit",
    type=click.Choice(["dev", "optional", "peer"]),
    multiple=True,
    help="Skip packages of this kind (repeatable), as npm --omit.",
)
@click.option("--registry", default=None, help="The registry (overrides .npmrc `registry`).")
@click.option(
    "--trusted-root",
    default=None,
    help="Sigstore trusted_root.json for every registry, or `public-good` for the bundled one "
    "(default: the registry's /-/trust/trusted_root.json if served, else public-good).",
)
@click.option(
    "--registry-keys",
    default=None,
    help="Registry keys file (/-/npm/v1/keys or TUF keys.json shape), or `npmjs` for the "
    "bundled npmjs keys (default: <registry>/-/npm/v1/keys; bundled for registry.npmjs.org).",
)
@click.option(
    "--save-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Save every response in DIR, for a later --offline run.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --offline: the directory of saved responses.",
)
@click.option("--offline", is_flag=True, help="Never touch the network: read --cache only.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Requests in flight.",
)
@PIN_OPTIONS[0]
@PIN_OPTIONS[1]
@PIN_OPTIONS[2]
def signatures_command(
    *,
    path: Path,
    as_json: bool,
    include_attestations: bool,
    policy_file: Path | None,
    omit: tuple[str, ...],
    registry: str | None,
    trusted_root: str | None,
    registry_keys: str | None,
    save_cache: Path | None,
    cache: Path | None,
    offline: bool,
    concurrency: int,
    pin_dir: Path | None,
    require_pinned_root: bool,
    repin: bool,
) -> int:
    """Verify the registry signatures and attestations of every installed package (PATH:
    a project directory, default `.`, or a lockfile) and check the policy."""
    if include_attestations and not as_json:
        raise click.UsageError("--include-attestations needs --json (as in npm)")
    if offline and cache is None:
        raise click.UsageError("--offline needs --cache DIR (filled by a run with --save-cache)")
    if cache is not None and not offline:
        raise click.UsageError("--cache is read only with --offline")
    try:
        tree = load_tree(path).omit(frozenset(omit))
        policy = AuditPolicy.from_file(policy_file) if policy_file is not None else None
        settings = load_settings()
        public_good = settings.trust_dir
        pins = TrustPins(
            pin_dir or settings.trust_pin_dir, require=require_pinned_root, repin=repin
        )
        root = _trusted_root(trusted_root, public_good)
        keys = _registry_keys(registry_keys, public_good)
        cwd = tree.root
        config = NpmConfig.load(
            os.environ, cwd, overrides={"registry": registry} if registry else None
        )
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc  # exit 2
    if not tree.packages:
        # npm: "found no installed dependencies to audit" (EAUDITNOINSTALL-like; npm exits 1)
        raise click.ClickException("found no installed dependencies to audit")

    show_progress = sys.stdout.isatty() and not as_json
    pins_seen: list[PinOutcome] = []
    try:
        result = asyncio.run(
            _run(
                tree.packages, config, concurrency=concurrency, offline=offline,
                cache=cache, save_cache=save_cache, trusted_root=root, registry_keys=keys,
                policy=policy, include_bundles=include_attestations, progress=show_progress,
                public_good=public_good, pins=pins, pins_seen=pins_seen,
            )
        )  # fmt: skip
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc
    except FetchError as exc:
        raise click.ClickException(exc.message) from exc
    except AssayError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(render_json(result, include_attestations=include_attestations), nl=False)
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        click.echo(render_text(result, color=color), nl=False)
    report_pins(pins_seen, err_color=sys.stderr.isatty() and "NO_COLOR" not in os.environ)
    return 0 if result.clean else EXIT_FINDINGS


async def _run(
    packages: tuple[InstalledPackage, ...],
    config: NpmConfig,
    *,
    concurrency: int,
    offline: bool,
    cache: Path | None,
    save_cache: Path | None,
    trusted_root: TrustedRoot | None,
    registry_keys: RegistryKeys | None,
    policy: AuditPolicy | None,
    include_bundles: bool,
    progress: bool,
    public_good: Path,
    pins: TrustPins,
    pins_seen: list[PinOutcome],
) -> AuditResult:
    installed = list(packages)
    fetcher = Fetcher(
        config,
        concurrency=concurrency,
        offline=offline,
        cache=ResponseCache(cache) if cache is not None else None,
        save=ResponseCache(save_cache) if save_cache is not None else None,
    )
    async with fetcher:
        if not progress:
            auditor = Auditor(
                fetcher, config, trusted_root=trusted_root, registry_keys=registry_keys,
                policy=policy, include_bundles=include_bundles, public_good=public_good,
                pins=pins,
            )  # fmt: skip
            try:
                return await auditor.audit(installed)
            finally:
                pins_seen.extend(auditor.pin_outcomes)
        with Progress(
            TextColumn("auditing"), BarColumn(), MofNCompleteColumn(),
            console=Console(stderr=True), transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("audit", total=len(installed))

            def advance(_: PackageResult) -> None:
                bar.advance(task)

            auditor = Auditor(
                fetcher, config, trusted_root=trusted_root, registry_keys=registry_keys,
                policy=policy, include_bundles=include_bundles, progress=advance,
                public_good=public_good, pins=pins,
            )  # fmt: skip
            try:
                return await auditor.audit(installed)
            finally:
                pins_seen.extend(auditor.pin_outcomes)
