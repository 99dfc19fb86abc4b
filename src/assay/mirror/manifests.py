"""An upstream version's manifest, checked against the tarball it stands for (docs/mirror.md).

npm's registry signature covers ``<name>@<version>:<integrity>`` only, so what an upstream
packument says about a version's ``dependencies``, ``scripts``, ``bin``, ``engines``,
``hasInstallScript`` … is a claim that nothing verified ("manifest confusion"). The mirror serves
those fields only once its tarball — whose bytes match ``dist.integrity`` — was read safely
(:func:`assay.npm.tarball.read_tarball`: size, entry and ratio limits, no path traversal) and its
package.json agreed with them by the registry's one rule (:mod:`assay.npm.confusion`, which
refuses a publish request whose manifest disagrees with its tarball in the same way).

A check is remembered by the :func:`fingerprint` of the manifest it passed for: a manifest the
uplink changes later is checked again (against the stored tarball) before it is trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from assay.errors import ManifestError, TarballError
from assay.npm.confusion import manifest_difference, stated_difference, tarball_manifest
from assay.npm.tarball import TarballLimits, read_tarball

__all__ = ["check_tarball", "fingerprint"]


def fingerprint(manifest: Mapping[str, Any]) -> str:
    """sha256 (hex) of the version manifest as the uplink serves it (keys sorted): what a
    passed check vouches for. Any change — even one outside the confusable fields — asks for
    a new check, which is cheap once the tarball is stored."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_tarball(manifest: Mapping[str, Any], data: bytes, limits: TarballLimits) -> str | None:
    """Why the tarball `data` does not back the upstream `manifest` (the reason stored with
    the refused verdict), or None when it does."""
    try:
        contents = read_tarball(data, limits)
    except TarballError as exc:
        return f"the tarball cannot be read safely: {exc.message}"
    try:
        actual = tarball_manifest(contents)
    except ManifestError as exc:
        return f"manifest confusion: the tarball's package.json is invalid: {exc.message}"
    try:
        field = manifest_difference(manifest, contents, actual)
    except ManifestError as exc:
        return f"manifest confusion: the uplink's manifest is invalid: {exc.message}"
    if field is not None:
        return (
            f"manifest confusion: {field} in the uplink's manifest differs from the tarball's "
            "package.json"
        )
    stated = stated_difference(manifest, contents, actual)
    if stated is not None:
        return f"manifest confusion: the uplink's {stated} does not hold of the tarball"
    return None
