"""`assay pack`: make the tarball `npm pack` would make, and report it the way npm does."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import click

from assay.publish.pack import PackResult, pack_directory


@click.command("pack")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--dry-run", is_flag=True, help="Report what would be packed; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as `npm pack --json` does.")
def pack_command(directory: Path, dry_run: bool, as_json: bool) -> None:
    """Pack DIRECTORY (default: .) into <name>-<version>.tgz in the current directory.

    Files are chosen as npm 11 chooses them (`files`, .npmignore/.gitignore, npm's always
    included and always excluded files); lifecycle scripts are not run, as with
    `npm pack --ignore-scripts`.
    """
    result = pack_directory(directory)
    if not dry_run:
        (Path.cwd() / result.filename).write_bytes(result.tarball)
    if as_json:
        # npm: output.buffer → JSON.stringify(array, null, 2)
        click.echo(json.dumps([result.npm_json()], indent=2, ensure_ascii=False))
        return
    for line in notice_lines(result):
        click.echo(f"assay notice {line}".rstrip(), err=True)
    click.echo(result.filename)


def notice_lines(result: PackResult) -> list[str]:
    """The lines npm logs as `npm notice` for a packed tarball (npm `lib/utils/tar.js` logTar)."""
    report = result.npm_json()
    lines = ["", f"package: {result.name}@{result.version}", "Tarball Contents"]
    lines += [
        f"{format_bytes(f['size'], space=False)} {f['path']}"
        for f in report["files"]
        if not f["path"].startswith("node_modules/")
    ]
    if result.bundled:
        lines.append("Bundled Dependencies")
        lines += list(result.bundled)
    integrity = result.integrity
    lines += [
        "Tarball Details",
        f"name: {result.name}",
        f"version: {result.version}",
        f"filename: {result.filename}",
        f"package size: {format_bytes(result.size)}",
        f"unpacked size: {format_bytes(result.unpacked_size)}",
        f"shasum: {result.shasum}",
        f"integrity: {integrity[:20]}[...]{integrity[80:]}",
    ]
    if result.bundled:
        own = sum(1 for f in result.files if not f.path.startswith("node_modules/"))
        lines += [
            f"bundled deps: {len(result.bundled)}",
            f"bundled files: {result.entry_count - own}",
            f"own files: {own}",
        ]
    lines += [f"total files: {result.entry_count}", ""]
    return lines


def format_bytes(count: int, *, space: bool = True) -> str:
    """npm `lib/utils/format-bytes.js`: B under 1000, then kB/MB/GB in powers of 1000."""
    spacer = " " if space else ""
    if count < 1000:
        return f"{count}{spacer}B"
    if count < 999_950:
        return f"{_to_fixed(count, 1000)}{spacer}kB"
    if count < 999_950_000:
        return f"{_to_fixed(count, 1_000_000)}{spacer}MB"
    return f"{_to_fixed(count, 1_000_000_000)}{spacer}GB"


def _to_fixed(count: int, unit: int) -> str:
    """JavaScript `(count / unit).toFixed(1)`: rounds the exact double half-up."""
    exact = Decimal(count / unit)
    return str(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
