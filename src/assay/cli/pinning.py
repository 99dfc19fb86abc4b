"""Trust-on-first-use pinning on the command line: the options and the report, shared by
`assay audit signatures` and `assay verify NAME@VERSION` (the pins themselves:
:mod:`assay.audit.pins`). A module of its own so that `assay verify` does not import the audit
command (rich, the fetcher) to get three options."""

from __future__ import annotations

from pathlib import Path

import click

from assay.audit.pins import PinOutcome, PinStatus

__all__ = ["PIN_OPTIONS", "report_pins"]

PIN_OPTIONS = [
    click.option(
        "--pin-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the trust of registries other than registry.npmjs.org is pinned on first "
        "use (default: ASSAY_TRUST_PIN_DIR, else $XDG_CONFIG_HOME/assay/trust).",
    ),
    click.option(
        "--require-pinned-root",
        is_flag=True,
        help="Refuse a registry whose trusted root and keys are not pinned yet, or changed.",
    ),
    click.option(
        "--repin",
        is_flag=True,
        help="Accept the trusted root and keys a registry serves now in place of a changed pin.",
    ),
]


def report_pins(outcomes: list[PinOutcome], *, err_color: bool) -> None:
    """What pinning did, on stderr: a note on first use, a loud warning on a change."""
    for outcome in outcomes:
        if outcome.message is None:
            continue
        if outcome.status is PinStatus.CHANGED:
            text = (
                click.style(outcome.message, fg="red", bold=True) if err_color else outcome.message
            )
            click.echo(text, err=True)
        else:
            click.echo(f"note: {outcome.message}", err=True)
