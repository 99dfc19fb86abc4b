"""Entry points of the `assay` command: :func:`main` for tests, :func:`run` for the console."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from assay import __version__
from assay.errors import AssayError

# Every command, by name: "module:attribute". Commands are imported only when they run (or when
# --help lists them), so `assay pack` does not pay for importing the web stack and the database
# drivers the server commands need: a CI job's `assay publish` starts in a fraction of the time.
COMMANDS = {
    "init": "assay.cli.instance:init_command",
    "up": "assay.cli.instance:up_command",
    "serve": "assay.cli.instance:serve_command",
    "user": "assay.cli.admin:user_command",
    "token": "assay.cli.admin:token_command",
    "scope": "assay.cli.admin:scope_command",
    "package": "assay.cli.package:package_command",
    "ci-job": "assay.cli.ci_job:ci_job_command",
    "pack": "assay.cli.pack:pack_command",
    "publish": "assay.cli.publish:publish_command",
    "provenance": "assay.cli.publish:provenance_command",
    "verify": "assay.cli.verify:verify_command",
    "audit": "assay.cli.audit:audit_command",
    "conformance": "assay.cli.conformance:conformance_command",
    "trust": "assay.cli.trust:trust_command",
    "gc": "assay.cli.operations:gc_command",
    "backup": "assay.cli.operations:backup_command",
    "restore": "assay.cli.operations:restore_command",
    "check": "assay.cli.operations:check_command",
    "mirror": "assay.cli.mirror:mirror_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="assay")
def cli() -> None:
    """Assay: an npm-compatible registry with verifiable provenance, and its trust services."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` and return its exit code instead of exiting."""
    try:
        # Outside standalone mode click returns what `ctx.exit(n)` asked for instead of raising.
        result = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
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
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
