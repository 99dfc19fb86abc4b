"""The package page of a mirrored package: what the mirror decided about each upstream version.

Everything shown comes from the mirror's verdicts (:class:`~assay.mirror.reports.MirroredVersion`):
served or held back and why, the uplink it came from, the registry signature's result, and the
provenance facts the mirror verified on ingest — read from the verified signing certificate,
never from the upstream's packument or the builder's statement (docs/mirror.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from assay.mirror.reports import MirroredVersion
from assay.npm.names import PackageName
from assay.verify.facts import VerifiedFacts

__all__ = ["MirrorPanel", "MirrorRow", "MirrorVerdicts", "ingest_facts", "mirror_panel"]


class MirrorVerdicts(Protocol):
    """The mirror, as the pages read it (:class:`assay.mirror.service.MirrorService`)."""

    def versions(self, name: PackageName) -> list[MirroredVersion]: ...
    def uplink_url(self, uplink: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class MirrorRow:
    version: str
    served: bool
    reason: str | None
    signatures: str
    provenance: bool
    verified_at: datetime | None
    tarball_stored: bool


@dataclass(frozen=True, slots=True)
class MirrorPanel:
    uplink: str
    uplink_url: str
    """The uplink's address without any user information."""
    shown: MirrorRow | None
    """The shown version's row (None: the page shows no version of the mirror's)."""
    rows: tuple[MirrorRow, ...]
    """Every version the uplink lists, newest listed first."""

    @property
    def held(self) -> int:
        return sum(1 for row in self.rows if not row.served)


def _row(item: MirroredVersion) -> MirrorRow:
    return MirrorRow(
        version=item.version,
        served=item.served,
        reason=item.reason,
        signatures=item.signatures,
        provenance=item.provenance is not None,
        verified_at=datetime.fromtimestamp(item.verified_ms / 1000, tz=UTC)
        if item.verified_ms is not None
        else None,
        tarball_stored=item.tarball_stored,
    )


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def mirror_panel(
    versions: Sequence[MirroredVersion], shown: str, uplink_url: str | None
) -> MirrorPanel | None:
    """The panel for a mirrored package showing version ``shown`` (None: no versions)."""
    if not versions:
        return None
    rows = tuple(_row(item) for item in reversed(versions))
    uplink = versions[-1].uplink
    return MirrorPanel(
        uplink=uplink,
        uplink_url=_without_userinfo(uplink_url) if uplink_url else "",
        shown=next((row for row in rows if row.version == shown), None),
        rows=rows,
    )


def ingest_facts(versions: Sequence[MirroredVersion], version: str) -> VerifiedFacts | None:
    """The provenance facts the mirror verified on ingest for ``version`` (None: none)."""
    found = next((item for item in versions if item.version == version), None)
    return found.facts if found is not None and found.served else None
