"""`assay gc`: delete blobs no live row names (orphans), once they are older than a grace period.

Orphans are normal: a publish writes its tarball *before* the transaction that makes it visible
(registry/service.py), so a crash, a refused commit or a lost race in between leaves a blob no
row names; an unpublish deletes its blob after its commit on a best-effort basis. The grace
period is what makes collecting safe while the instance serves writes: a blob younger than it
may belong to a publish whose transaction has not committed yet, so it is left alone. It must
be longer than any publish takes between writing its blob and committing (seconds; the default
is an hour).

Each candidate is then deleted with :meth:`BlobStore.delete_unless`, which asks again — after
withdrawing the blob — whether a row names it *now* or it was written within the grace period,
so a publish of the same bytes racing with the sweep keeps its blob.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from assay.operations.site import Site
from assay.storage.blobs import BlobInfo

__all__ = ["DEFAULT_GRACE_SECONDS", "GcReport", "collect"]

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass
class GcReport:
    """What a sweep found and did."""

    dry_run: bool
    grace_seconds: float
    blobs: int = 0
    blob_bytes: int = 0
    referenced: int = 0
    young: int = 0
    """Orphans inside the grace period: left for a later sweep."""
    collected: list[str] = field(default_factory=list)
    collected_bytes: int = 0
    kept_on_recheck: int = 0
    """Candidates a row named, or a put refreshed, by the time they were deleted."""

    def to_json(self) -> dict[str, object]:
        return {
            "dryRun": self.dry_run,
            "graceSeconds": self.grace_seconds,
            "blobs": self.blobs,
            "blobBytes": self.blob_bytes,
            "referenced": self.referenced,
            "young": self.young,
            "collected": len(self.collected),
            "collectedBytes": self.collected_bytes,
            "keptOnRecheck": self.kept_on_recheck,
            "collectedKeys": self.collected,
        }


def collect(
    site: Site, *, grace_seconds: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False
) -> GcReport:
    """Sweep the blob store of `site`; with `dry_run`, only report what would go."""
    if grace_seconds < 0:
        raise ValueError("the grace period cannot be negative")
    report = GcReport(dry_run=dry_run, grace_seconds=grace_seconds)
    cutoff = time.time() - grace_seconds
    # References first, then the listing: a row committed after this read belongs to a publish
    # whose blob was put within the grace period (or is re-checked below).
    referenced = {ref.key for ref in site.inventory.blob_references()}
    candidates: list[BlobInfo] = []
    for info in site.blobs.list():
        report.blobs += 1
        report.blob_bytes += info.size
        if info.key in referenced:
            report.referenced += 1
        elif info.modified >= cutoff:
            report.young += 1
        else:
            candidates.append(info)
    if dry_run:
        report.collected = sorted(info.key for info in candidates)
        report.collected_bytes = sum(info.size for info in candidates)
        return report

    def keep(now: BlobInfo) -> bool:
        return now.modified >= cutoff or bool(site.inventory.referenced([now.key]))

    for info in sorted(candidates, key=lambda i: i.key):
        if site.blobs.delete_unless(info.key, keep):
            report.collected.append(info.key)
            report.collected_bytes += info.size
        else:
            report.kept_on_recheck += 1
    return report
