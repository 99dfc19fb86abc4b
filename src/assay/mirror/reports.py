"""What the mirror tells its operator and its web pages: uplink health, held-back versions,
per-version verdicts (``assay mirror status`` / ``report``, the package page; docs/mirror.md).

Plain values built by :class:`~assay.mirror.service.MirrorService` from its tables and its
memory; ``to_json`` is the shape of the ``/-/mirror/…`` admin routes (:mod:`assay.mirror.app`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from assay.verify.facts import VerifiedFacts

__all__ = [
    "HeldKind",
    "HeldVersion",
    "MirrorStatus",
    "MirroredVersion",
    "UplinkHealth",
    "UplinkStatus",
]

HeldKind = Literal["verification", "policy", "pending", "unchecked", "changed"]
"""Why a version is left out: it failed verification on ingest (``verification``: its
signatures or attestations, or its tarball's package.json disagreed with its manifest), the
policy refuses it (``policy``), it has no verdict yet because the uplink failed while it was
verified (``pending``), its tarball has not been checked against its manifest yet
(``unchecked``: ``verify-manifests = "before-serve"``), or the uplink changed its integrity
after it was verified (``changed``: versions are immutable)."""


@dataclass(frozen=True, slots=True)
class HeldVersion:
    """One upstream version left out of the served packument, and why."""

    name: str
    version: str
    uplink: str
    kind: HeldKind
    reason: str
    decided_ms: int | None
    """When the ingest verdict was stored (None: no verdict yet)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UplinkHealth:
    """What the mirror saw of an uplink since the process started (in memory only)."""

    last_ok_ms: int | None = None
    last_failure_ms: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    """One uplink for ``assay mirror status``."""

    name: str
    url: str
    reachable: bool
    """``GET <url>-/ping`` got an HTTP answer below 500 just now."""
    ping: str
    """``HTTP 200 in 12 ms`` or the error."""
    ttl: float
    packages: int
    """Packages cached from it."""
    fresh: int
    """Of those, fetched or revalidated within ``ttl``."""
    oldest_fetch_ms: int | None
    newest_fetch_ms: int | None
    health: UplinkHealth = field(default_factory=UplinkHealth)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MirroredVersion:
    """One version of an upstream package as the mirror decided it (the package page).

    ``facts`` are what the mirror verified on ingest — read from the signing certificate of
    the provenance that passed :mod:`assay.verify`, never the upstream's claims."""

    version: str
    uplink: str
    served: bool
    reason: str | None
    """Why it is held back (None when served)."""
    signatures: str
    """``verified`` / ``unchecked`` (the uplink has no keys) / … (``verify_package``)."""
    provenance: str | None
    """The provenance predicate type verified, if any."""
    facts: VerifiedFacts | None
    verified_ms: int | None
    tarball_stored: bool


@dataclass(frozen=True, slots=True)
class MirrorStatus:
    """``assay mirror status``: the uplinks, the cache and how many versions are held back."""

    uplinks: tuple[UplinkStatus, ...]
    cache: dict[str, int]
    """Packages, versions by verdict, tarballs stored and their bytes (MirrorStore.counts)."""
    held: int
    in_memory: int
    """Upstream packages held in this process's memory."""
    in_memory_bytes: int = 0
    """What they are counted as against ``mirror_cache_bytes`` (docs/operations.md)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "uplinks": [u.to_json() for u in self.uplinks],
            "cache": dict(self.cache),
            "held": self.held,
            "in_memory": self.in_memory,
            "in_memory_bytes": self.in_memory_bytes,
        }
