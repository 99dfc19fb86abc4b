"""Entry points of the `assay` command: :func:`main` for tests, :func:`run` for the console."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from assay import __version__
from assay.cli.admin import token_command, user_command
from assay.cli.ci_job import ci_job_command
from assay.cli.conformance import conformance_command
from assay.cli.instance import init_command, up_command
from assay.cli.pack import pack_command
from assay.cli.publish import provenance_command, publish_command
from assay.cli.verify import verify_command
from assay.errors import AssayError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="assay")
def cli() -> None:
    """Assay: an npm-compatible registry with verifiable provenance, and its trust services."""


cli.add_command(init_command)
cli.add_command(up_command)
cli.add_command(user_command)
cli.add_command(token_command)
cli.add_command(ci_job_command)
cli.add_command(pack_command)
cli.add_command(publish_command)
cli.add_command(provenance_command)
cli.add_command(verify_command)
cli.add_command(conformance_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` and return its exit code instead of exiting."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except AssayError as exc:
        click.echo(f"error: {exc.message}", err=True)
        for key, value in sorted(exc.details.items()):
            click.echo(f"  {key}: {value}", err=True)
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
