"""Where Assay keeps per-user trust state, as :class:`~assay.settings.Settings` names it.

``Settings.trust_dir`` and ``Settings.trust_pin_dir`` take their defaults from here, and
:func:`trust_dir` reads the one setting the offline verifier needs (``ASSAY_TRUST_DIR``, where
``assay trust update`` keeps the public-good trust material it fetched) the way Settings reads
it, without building Settings: importing pydantic-settings costs a cold ``assay verify
attestations --offline`` more time than the whole verification (bench/README.md). Like
``settings.py``, this module reads ``os.environ`` only for configuration, and only these names.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_home", "default_trust_dir", "default_trust_pin_dir", "trust_dir"]

_TRUST_DIR = "ASSAY_TRUST_DIR"


def config_home() -> Path:
    """``$XDG_CONFIG_HOME`` if set to an absolute path (XDG Base Directory), else ``~/.config``."""
    value = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".config"


def default_trust_dir() -> Path:
    """``~/.cache/assay/trust``: where `assay trust update` writes unless told otherwise."""
    return Path.home() / ".cache" / "assay" / "trust"


def default_trust_pin_dir() -> Path:
    """``$XDG_CONFIG_HOME/assay/trust``: where registries' trust is pinned on first use."""
    return config_home() / "assay" / "trust"


def trust_dir() -> Path:
    """``Settings().trust_dir``: ``ASSAY_TRUST_DIR`` if set, else :func:`default_trust_dir`.

    pydantic-settings matches environment names case-insensitively (``case_sensitive`` is off
    in Settings), so an exact ``ASSAY_TRUST_DIR`` is looked for first, then any spelling.
    """
    value = os.environ.get(_TRUST_DIR)
    if value is None:
        value = next((v for k, v in os.environ.items() if k.upper() == _TRUST_DIR), None)
    return default_trust_dir() if value is None else Path(value)
