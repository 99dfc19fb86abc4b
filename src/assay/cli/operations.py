"""`assay gc`, `assay backup`, `assay restore`, `assay check`: operating an instance
(docs/operations.md). Each reads the same settings as `assay up`/`serve` (ASSAY_*, --data)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assay.errors import ConfigError
from assay.instance.layout import DataDir
from assay.operations.backup import backup, restore
from assay.operations.check import check
from assay.operations.gc import DEFAULT_GRACE_SECONDS, collect
from assay.operations.site import Site
from assay.settings import Settings, load_settings

DATA_OPTION = click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $ASSAY_DATA_DIR or ./data).",
)


def _settings(data: Path | None) -> Settings:
    return load_settings(**({"data_dir": data} if data else {}))


def _site(data: Path | None) -> Site:
    settings = _settings(data)
    if not DataDir(settings.data_dir).exists():
        raise ConfigError(f"{settings.data_dir} is not an Assay data directory")
    return Site.open(settings)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


@click.command("gc")
@DATA_OPTION
@click.option("--dry-run", is_flag=True, help="Only report what would be collected.")
@click.option(
    "--grace",
    "grace",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Seconds an unreferenced blob is left alone (a publish in flight writes its blob "
    "before its row).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def gc_command(data: Path | None, dry_run: bool, grace: float, as_json: bool) -> None:
    """Delete blobs no version, staged version or other row names (orphans)."""
    site = _site(data)
    try:
        report = collect(site, grace_seconds=grace, dry_run=dry_run)
    finally:
        site.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    verb = "would collect" if dry_run else "collected"
    click.echo(
        f"blobs: {report.blobs} ({_human(report.blob_bytes)}), referenced: {report.referenced}"
    )
    click.echo(f"orphans younger than {grace:g} s, left alone: {report.young}")
    click.echo(f"{verb}: {len(report.collected)} ({_human(report.collected_bytes)})")
    if report.kept_on_recheck:
        click.echo(f"kept on re-check (named or rewritten meanwhile): {report.kept_on_recheck}")


@click.command("backup")
@DATA_OPTION
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup_command(data: Path | None, dest: Path) -> None:
    """Back up the instance (database, blobs, keys, log) into DEST, while it serves."""
    site = _site(data)
    try:
        manifest = backup(site, dest, progress=lambda line: click.echo(line, err=True))
    finally:
        site.close()
    log = manifest["log"]
    click.echo(
        f"backed up to {dest}: {manifest['blobs']['count']} blobs "
        f"({_human(manifest['blobs']['bytes'])}), log tree size {log['treeSize']}, "
        f"{len(manifest['files'])} files in {manifest['seconds']} s"
    )


@click.command("restore")
@DATA_OPTION
@click.argument("src", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Restore into a non-empty data directory/database.")
def restore_command(data: Path | None, src: Path, force: bool) -> None:
    """Restore a backup made by `assay backup` into an empty data directory."""
    settings = _settings(data)
    manifest = restore(settings, src, force=force, progress=lambda line: click.echo(line, err=True))
    click.echo(
        f"restored {src} into {settings.data_dir} (log tree size {manifest['log']['treeSize']}); "
        "run `assay check` next"
    )


@click.command("check")
@DATA_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def check_command(ctx: click.Context, data: Path | None, as_json: bool) -> None:
    """Check every blob, attestation and the log; exit 1 if anything is wrong."""
    site = _site(data)
    try:
        report = check(site)
    finally:
        site.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    ctx.exit(0 if report.ok else 1)
