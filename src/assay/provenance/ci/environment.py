"""What every provenance builder checks of the CI environment it is given."""

from __future__ import annotations

from collections.abc import Mapping

from assay.errors import CIEnvironmentError


def require(env: Mapping[str, str], names: tuple[str, ...], provider: str) -> None:
    """Refuse an environment that lacks any of ``names``.

    npm builds its statement from template strings and would sign the word "undefined" for a
    missing variable; we refuse instead, naming what is missing.
    """
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise CIEnvironmentError(
            f"{provider} environment is missing {', '.join(missing)}",
            missing=missing,
            provider=provider,
        )
