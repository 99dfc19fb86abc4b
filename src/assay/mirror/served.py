"""The packument the mirror serves for an upstream package.

From the document the uplink served, kept as it was but for:

* ``versions``: only the versions whose verdict is *verified* and that the policy allows
  (:mod:`assay.mirror.policy`); a version left out is one npm cannot resolve to (it picks another
  that satisfies the range, or fails with ``ETARGET``);
* each version's ``dist.tarball`` and ``dist.attestations.url`` point at the mirror (npm
  fetches both from where the packument says); ``dist.signatures`` and ``dist.integrity`` are
  the upstream's, so npm verifies them with the upstream keys the mirror serves beside its own
  at ``/-/npm/v1/keys``;
* ``dist-tags``: a tag naming a version left out is moved to the highest version served that is
  not a prerelease (``latest``) or dropped (any other tag);
* ``time``: the entries of versions left out are dropped;
* who published and who maintains it — ``_npmUser`` of every version, the top-level
  ``maintainers`` — and ``gitHead`` (the publisher's claim of its commit): dropped, as claims
  of the uplink that nothing the mirror verified backs (the registry signature covers only
  ``name@version:integrity``); the verified provenance facts stand in their place on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from assay.npm.names import PackageName
from assay.npm.versions import highest
from assay.registry.packuments import (
    Packument,
    attestations_url,
    corgi_document,
    document,
    tarball_url,
)

__all__ = ["served_packument"]

_DROPPED = frozenset(
    {"_rev", "_attachments", "versions", "dist-tags", "time", "users", "maintainers"}
)
_UNVERIFIED_VERSION_FIELDS = frozenset({"gitHead", "_npmUser", "maintainers"})
"""Who published a version and from which commit, as the uplink claims it (see above)."""


def served_packument(
    upstream: Mapping[str, Any],
    name: PackageName,
    allowed: Set[str],
    *,
    origin: str,
    changed_ms: int,
) -> Packument:
    versions_value = upstream.get("versions")
    versions: Mapping[str, Any] = versions_value if isinstance(versions_value, dict) else {}
    served: dict[str, Any] = {}
    for version, manifest in versions.items():
        if version not in allowed or not isinstance(manifest, dict):
            continue
        dist = dict(manifest.get("dist") or {})
        dist["tarball"] = tarball_url(origin, name, name.tarball_filename(version))
        if isinstance(dist.get("attestations"), dict):
            dist["attestations"] = {
                **dist["attestations"],
                "url": attestations_url(origin, name, version),
            }
        # A local publish keeps only what it verified of these (the provenance certificate's
        # commit, the account or trusted publisher that published): nor does the mirror.
        kept = {k: v for k, v in manifest.items() if k not in _UNVERIFIED_VERSION_FIELDS}
        served[version] = {**kept, "dist": dist}
    full: dict[str, Any] = {k: v for k, v in upstream.items() if k not in _DROPPED}
    full["_id"] = name.name
    full["name"] = name.name
    full["dist-tags"] = _tags(upstream.get("dist-tags"), served)
    full["versions"] = served
    times = upstream.get("time")
    if isinstance(times, dict):
        full["time"] = {
            k: v for k, v in times.items() if k in ("created", "modified") or k in served
        }
    modified = full.get("time", {}).get("modified")
    corgi: dict[str, Any] = {
        "name": name.name,
        "modified": modified if isinstance(modified, str) else "",
        "dist-tags": full["dist-tags"],
        "versions": {v: corgi_document(m) for v, m in served.items()},
    }
    return Packument(
        name=name.name,
        rev=0,
        full=document(full),
        corgi=document(corgi),
        last_modified=format_datetime(
            datetime.fromtimestamp(changed_ms / 1000, tz=UTC), usegmt=True
        ),
        data=full,
        mirrored=True,
    )


def _tags(value: object, served: Mapping[str, Any]) -> dict[str, str]:
    tags = {k: v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}
    kept = {tag: version for tag, version in tags.items() if version in served}
    if "latest" not in kept:
        best = highest(list(served))  # a release before any prerelease
        if best is not None:
            kept["latest"] = best
    return kept
