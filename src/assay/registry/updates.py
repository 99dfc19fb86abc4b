"""Metadata updates: what npm changes with a ``PUT /<name>`` that carries no tarball.

npm sends the whole packument back, edited, for ``npm deprecate`` (``versions[v].deprecated``;
``""`` undeprecates), ``npm unpublish <name>@<v>`` (the version left out, with ``_rev``),
``npm dist-tag`` on old clients (``dist-tags``) and ``npm owner`` (``maintainers``)
(npm-registry.md). These rules turn such a body into one :class:`PackageChange`, checked against
the package's current state and written by the store in one transaction:

* only live versions may be named (a new version needs its tarball: ``npm publish``);
* removing versions needs the document's ``_rev``, so a stale client cannot unpublish by
  accident; a ``_rev`` given must be current (409 otherwise, as CouchDB answers);
* a dist-tag must point at a remaining version; ``latest`` always does (the highest remaining
  version when the old one is unpublished).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.limits import MAX_DEPRECATION_CHARS
from assay.npm.versions import highest
from assay.registry.errors import BadRequest, Conflict
from assay.registry.publish import check_tag
from assay.storage.registry_store import PackageChange, PackageState


def metadata_change(
    state: PackageState,
    body: Mapping[str, Any],
    *,
    has_rev: bool,
    maintainers: tuple[int, ...] | None,
) -> PackageChange:
    """What a ``PUT /<name>`` without attachments changes in `state` (checked, not written).

    ``maintainers``: the user ids of the body's ``maintainers`` list, already resolved (None if
    the body has none); ``has_rev``: whether the request named the document's ``_rev``.
    """
    live = state.live_versions
    deprecations: dict[str, str | None] = {}
    unpublish: tuple[str, ...] = ()
    versions = body.get("versions")
    if versions is not None:
        if not isinstance(versions, dict):
            raise BadRequest("versions must be an object")
        unknown = [v for v in versions if v not in live]
        if unknown:
            raise BadRequest(
                f"No tarball attached for version {unknown[0]}: publishing needs "
                "_attachments (use `npm publish`)"
            )
        for version, manifest in versions.items():
            if not isinstance(manifest, dict):
                raise BadRequest(f"versions[{version!r}] must be an object")
            if "deprecated" in manifest:
                message = manifest["deprecated"]
                if message is not None and not isinstance(message, str):
                    raise BadRequest("deprecated must be a string")
                if message is not None and len(message) > MAX_DEPRECATION_CHARS:
                    raise BadRequest(
                        f"A deprecation message may be at most {MAX_DEPRECATION_CHARS} characters"
                    )
                new = message or None  # npm undeprecates with ""
                if new != live[version].deprecated:
                    deprecations[version] = new
        unpublish = tuple(v for v in live if v not in versions)
        if unpublish and not has_rev:
            raise BadRequest("Removing versions needs the document's _rev (use `npm unpublish`)")
    remaining = [v for v in live if v not in unpublish]
    set_tags: dict[str, str] = {}
    tags = body.get("dist-tags")
    if tags is not None:
        if not isinstance(tags, dict):
            raise BadRequest("dist-tags must be an object")
        for tag, version in tags.items():
            if state.dist_tags.get(tag) == version:
                continue
            check_tag(tag)
            if version not in remaining:
                raise BadRequest(f"dist-tags.{tag}: version {version!r} does not exist")
            set_tags[tag] = version
    current_latest = set_tags.get("latest", state.dist_tags.get("latest"))
    if remaining and (current_latest is None or current_latest not in remaining):
        best = highest(remaining)
        if best is not None:
            set_tags["latest"] = best
    if maintainers is not None and set(maintainers) == {m.id for m in state.maintainers}:
        maintainers = None
    return PackageChange(
        unpublish=unpublish,
        deprecations=deprecations,
        set_tags=set_tags,
        maintainers=maintainers,
    )


def check_rev(state: PackageState, rev: str | None) -> None:
    """CouchDB's optimistic concurrency: a ``_rev`` given must be the package's current one."""
    if rev is None:
        return
    number = rev.split("-", 1)[0]
    # ASCII digits only: str.isdigit() also holds for "²", which int() refuses (a 500 found by
    # bench/fuzz.py).
    if not (number.isascii() and number.isdigit()) or int(number) != state.rev:
        raise Conflict(
            f"Document update conflict: {state.name} changed since it was read "
            f"(rev {rev}, now {state.rev}); fetch it again and retry"
        )


__all__ = ["check_rev", "metadata_change"]
