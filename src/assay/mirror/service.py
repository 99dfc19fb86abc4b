"""The mirror: upstream packuments, tarballs and attestations, verified before they are served.

What it guarantees (docs/mirror.md):

* **Local wins.** The registry asks the mirror only about names it has no row for, and the
  mirror refuses names staged or reserved here too (:meth:`MirrorStore.local_claim`) and names
  no package rule sends upstream: a local name is never filled from an uplink.
* **Verified before served.** Every upstream version gets a verdict once, on ingest
  (:mod:`assay.mirror.ingest`), stored with it; only verified versions that the policy allows
  are in the served packument (:mod:`assay.mirror.served`); the tarball of any other answers 403
  with the reason. A tarball is fetched on first download and its bytes must match
  ``dist.integrity`` before they are stored or served.
* **The manifest served is the tarball's.** A tarball is stored or served only once its
  package.json agrees with the upstream manifest of its version (:mod:`assay.mirror.manifests`,
  the registry's manifest-confusion rule); on a mismatch the version is refused for good.
  With ``verify-manifests = "before-serve"`` a version is not even listed until that check
  passed (its tarball is fetched in the background, :data:`_CHECK_WORKERS` packages at a time).
* **Nothing half-fetched.** An upstream answer is read completely (:mod:`assay.mirror.upstream`)
  and verified before it is written; the packument and its new verdicts are one transaction;
  a tarball's row is marked stored only after its blob is written.
* **One fetch per package.** Concurrent requests for a package (or a tarball) that needs a
  fetch wait for one fetch by one thread (per process).
* **Freshness.** A packument is served without asking the uplink for ``ttl`` seconds; then,
  for ``stale-while-revalidate`` more seconds, served at once while one background request
  revalidates it (``If-None-Match`` / ``If-Modified-Since``); after that, requests wait for the
  revalidation. When the uplink cannot be reached, what is cached is served with
  ``X-Assay-Mirror: stale``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from assay.errors import ConfigError, FormatError, VerificationError
from assay.limits import MIRROR_CACHE_BYTES
from assay.mirror.config import MirrorConfig, Uplink
from assay.mirror.ingest import Pending, verify_version
from assay.mirror.manifests import check_tarball, fingerprint
from assay.mirror.policy import MirrorPolicy
from assay.mirror.reports import (
    HeldKind,
    HeldVersion,
    MirroredVersion,
    MirrorStatus,
    UplinkHealth,
    UplinkStatus,
)
from assay.mirror.served import served_packument
from assay.mirror.trust import UplinkTrust, load_trust, npm_key_entries
from assay.mirror.upstream import Fetched, UpstreamClient, UpstreamError
from assay.npm.names import PackageName
from assay.npm.tarball import DEFAULT_LIMITS, TarballLimits
from assay.npm.versions import Version
from assay.registry.errors import Forbidden, NotFound, Unavailable
from assay.registry.packuments import Packument
from assay.registry.service import Tarball
from assay.settings import Settings
from assay.storage.account_store import now_ms
from assay.storage.blobs import BlobStore
from assay.storage.mirror_store import MirrorStore, StoredUpstream, StoredVerdict
from assay.storage.registry_store import tarball_key
from assay.verify.attestations import verify_attestations
from assay.verify.facts import VerifiedFacts
from assay.verify.result import VerificationResult
from assay.verify.trust import RegistryKeys

__all__ = ["MIRROR_HEADER", "MirrorService", "open_mirror"]

log = logging.getLogger(__name__)

MIRROR_HEADER = "X-Assay-Mirror"
"""``fresh`` (within its TTL or just fetched), ``revalidating`` (served while a background
request revalidates it) or ``stale`` (the uplink could not be reached: the cached copy)."""
LOCAL_RECHECK = 1.0
"""As the registry's CROSS_PROCESS_STALENESS: a reservation made by another process is seen
within this many seconds."""
PARSED_JSON_FACTOR = 4
"""Memory of a parsed JSON document per byte of its text, as :func:`entry_bytes` estimates it
(CPython dicts, lists and strings of an npm packument take about 3-5 times its text)."""
RETRY_AFTER_FAILURE = 5.0
"""Seconds a package whose uplink failed is served stale before the uplink is asked again."""
_VERIFY_WORKERS = 8
_CHECK_WORKERS = 4
"""Packages whose tarballs are fetched and checked in the background at a time
(``verify-manifests = "before-serve"``); each package's versions one after another, newest
first."""
BEFORE_SERVE_WAIT = 10.0
"""Seconds a packument request waits for the background checks of its package
(``before-serve``) before it answers with the versions checked so far."""
_REBUILD_EVERY = 0.5
"""Seconds between rebuilds of a packument while its versions are being checked."""
UNCHECKED = (
    "not listed yet: its tarball has not been checked against the manifest "
    '(verify-manifests = "before-serve"; it is being fetched)'
)

T = TypeVar("T")


@dataclass
class _Entry:
    """One upstream package in memory: what was fetched, its verdicts, what is served."""

    uplink: str
    upstream: StoredUpstream
    document: Mapping[str, Any]
    verdicts: dict[str, StoredVerdict]
    packument: Packument
    held: dict[str, str]
    """Versions left out of the served packument, and why."""
    fresh_until: float
    revalidate_until: float
    by_filename: dict[str, str] = field(default_factory=dict)
    policy_until: float = float("inf")
    """When a policy decision (a release-age quarantine) changes: rebuild then."""
    local_checked: float = field(default_factory=time.monotonic)
    unchecked: set[str] = field(default_factory=set)
    """Versions left out only because their tarball was not checked yet (``before-serve``):
    their tarball route fetches and checks it rather than answering 403."""
    fingerprints: dict[str, str] = field(default_factory=dict)
    """:func:`~assay.mirror.manifests.fingerprint` of each version's manifest, once computed."""

    def fingerprint(self, version: str) -> str:
        found = self.fingerprints.get(version)
        if found is None:
            found = self.fingerprints[version] = fingerprint(self.document["versions"][version])
        return found


class MirrorService:
    """Upstream packages for the registry (it implements ``registry.service.Mirror``)."""

    def __init__(
        self,
        config: MirrorConfig,
        store: MirrorStore,
        blobs: BlobStore,
        *,
        origin: str,
        max_tarball_bytes: int,
        tarball_limits: TarballLimits = DEFAULT_LIMITS,
        public_good: Path | None = None,
        policy: MirrorPolicy | None = None,
        cache_bytes: int = MIRROR_CACHE_BYTES,
    ) -> None:
        self.config = config
        self.store = store
        self.blobs = blobs
        self.origin = origin
        self.public_good = public_good
        self.tarball_limits = tarball_limits
        self.policy = policy if policy is not None else MirrorPolicy.from_config(config.policy)
        self.clients = {
            name: UpstreamClient(uplink, max_tarball_bytes=max_tarball_bytes)
            for name, uplink in config.uplinks.items()
        }
        self._lock = threading.Lock()
        self._flights: dict[str, Future[Any]] = {}
        # Upstream packages in memory, least recently refreshed first, bounded by bytes
        # (docs/operations.md, "Memory"): a client asking for many large upstream packages
        # costs at most `cache_bytes`; an evicted one is read back from the database.
        self._entries: dict[str, _Entry] = {}
        self._entry_bytes: dict[str, int] = {}
        self._cache_bytes = cache_bytes
        self._held_bytes = 0
        self._trust: dict[str, UplinkTrust] = {}
        # Provenance verified for the policy, per package in memory: dropped with its entry.
        self._provenance: dict[str, dict[tuple[str, str], VerificationResult | None]] = {}
        self._pool = ThreadPoolExecutor(_VERIFY_WORKERS, thread_name_prefix="mirror-verify")
        self._checks = ThreadPoolExecutor(_CHECK_WORKERS, thread_name_prefix="mirror-check")
        self._checking: dict[str, Future[None]] = {}
        self._health = {name: UplinkHealth() for name in config.uplinks}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._checks.shutdown(wait=False, cancel_futures=True)
        for client in self.clients.values():
            client.close()

    # --- packuments ------------------------------------------------------------------------

    def packument(self, name: PackageName) -> Packument:
        """The served packument of an upstream package; NotFound for a local or unknown name,
        Unavailable when no uplink answers and nothing is cached."""
        uplinks = self.config.uplinks_for(name.name)
        if not uplinks:
            raise NotFound("Not found")
        entry = self._entries.get(name.name)
        now = time.monotonic()
        # The registry found no row for the name just now; staged publishes and reservations
        # are re-checked at most every LOCAL_RECHECK seconds for a package held in memory.
        if entry is None or now >= entry.local_checked + LOCAL_RECHECK:
            if self.store.local_claim(name.name) is not None:
                raise NotFound("Not found")
            if entry is not None:
                entry.local_checked = now
        if entry is not None:
            if now >= entry.policy_until:
                entry = self._rebuild(name, entry)
            if now < entry.fresh_until:
                return entry.packument
            if now < entry.revalidate_until:
                self._revalidate_in_background(name, uplinks)
                return _with_header(entry.packument, "revalidating")
        packument = self._flight(name.name, lambda: self._refresh(name, uplinks))
        return self._after_checks(name.name, packument)

    def _after_checks(self, name: str, packument: Packument) -> Packument:
        """``before-serve``: wait (at most :data:`BEFORE_SERVE_WAIT` seconds) for the
        background checks of the package's versions, then serve what passed by then."""
        with self._lock:
            checking = self._checking.get(name)
        if checking is None:
            return packument
        try:
            checking.result(timeout=BEFORE_SERVE_WAIT)
        except TimeoutError:
            log.info("mirror: %s: serving before all its tarballs were checked", name)
        except Exception as exc:  # the check logged it; serve what passed
            log.debug("mirror: %s: checks ended with %s", name, exc)
        entry = self._entries.get(name)
        return entry.packument if entry is not None else packument

    def cached_packument(self, name: str) -> Packument | None:
        """The served packument from memory when it may be served without any I/O: within
        its TTL, its policy unchanged, and checked not to be local within LOCAL_RECHECK (the
        registry's own staleness for what other processes wrote). The registry's hot path
        (no thread, no query), as for its local packuments; None: take :meth:`packument`."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        now = time.monotonic()
        fresh = now < entry.fresh_until and now < entry.policy_until
        if fresh and now < entry.local_checked + LOCAL_RECHECK:
            return entry.packument
        return None

    def forget(self, name: str) -> None:
        """The registry wrote ``name`` (a publish, here): check at the next read whether it is
        local now, before serving the copy in memory."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.local_checked = float("-inf")

    def _revalidate_in_background(self, name: PackageName, uplinks: tuple[Uplink, ...]) -> None:
        with self._lock:
            if name.name in self._flights:
                return

        def run() -> None:
            try:
                self._flight(name.name, lambda: self._refresh(name, uplinks))
            except Exception:  # logged; the next request tries again
                log.exception("mirror: revalidating %s failed", name.name)

        threading.Thread(target=run, name=f"mirror-revalidate {name.name}", daemon=True).start()

    def _refresh(self, name: PackageName, uplinks: tuple[Uplink, ...]) -> Packument:
        """Ask the uplinks (the one that served the package before first), ingest the answer."""
        entry = self._entries.get(name.name)
        now = time.monotonic()
        if entry is not None and now < entry.fresh_until and now < entry.policy_until:
            # A request that found nothing fresh and then led a flight of its own after
            # another flight had just refreshed the package: no second upstream request.
            return entry.packument
        stored = self.store.upstream(name.name)
        if entry is None and stored is not None:
            # Cached by an earlier process (or another node): serve it while within its TTL.
            uplink = self.config.uplinks.get(stored.uplink)
            if uplink is not None and now_ms() - stored.fetched_ms < uplink.ttl * 1000:
                return self._remember(
                    name, uplink, stored, self.store.verdicts(name.name)
                ).packument
        ordered = sorted(uplinks, key=lambda u: stored is None or u.name != stored.uplink)
        failures: list[str] = []
        for uplink in ordered:
            client = self.clients[uplink.name]
            same = stored is not None and stored.uplink == uplink.name
            try:
                fetched = client.packument(
                    name.name,
                    stored.etag if same and stored else None,
                    stored.last_modified if same and stored else None,
                )
                self._healthy(uplink.name)
                if fetched.status == 404:
                    continue
                if fetched.status == 304 and stored is not None and same:
                    self.store.confirm(name.name, now_ms())
                    if entry is not None and entry.upstream.document == stored.document:
                        # Unchanged: the packument in memory stands for another TTL.
                        entry.fresh_until = time.monotonic() + uplink.ttl
                        entry.revalidate_until = entry.fresh_until + uplink.stale_while_revalidate
                        entry.packument = _with_header(entry.packument, "fresh")
                        return entry.packument
                    stored = replace(stored, fetched_ms=now_ms())
                    verdicts = self.store.verdicts(name.name)
                    return self._remember(name, uplink, stored, verdicts).packument
                if fetched.status == 304:
                    continue  # a 304 to a request that was not conditional: ignore it
                return self._ingest(name, uplink, fetched, stored).packument
            except UpstreamError as exc:
                log.warning("mirror: %s", exc.message)
                self._failed(uplink.name, exc.message)
                failures.append(exc.message)
        if stored is not None and failures:
            return self._serve_stale(name, stored)
        if failures:
            raise Unavailable(
                f"{name.name} is not cached and no uplink answered: {'; '.join(failures)}",
                retry_after=int(RETRY_AFTER_FAILURE),
            )
        raise NotFound("Not found")

    def _serve_stale(self, name: PackageName, stored: StoredUpstream) -> Packument:
        uplink = self.config.uplinks.get(stored.uplink)
        if uplink is None:
            raise NotFound("Not found")
        entry = self._remember(name, uplink, stored, self.store.verdicts(name.name))
        stale = _with_header(entry.packument, "stale")
        # Not asked again at once: a few seconds of stale answers, then one more try.
        entry.packument = stale
        entry.fresh_until = time.monotonic() + min(uplink.ttl, RETRY_AFTER_FAILURE)
        entry.revalidate_until = entry.fresh_until
        return stale

    def _ingest(
        self, name: PackageName, uplink: Uplink, fetched: Fetched, stored: StoredUpstream | None
    ) -> _Entry:
        try:
            document = json.loads(fetched.body)
        except ValueError as exc:
            raise UpstreamError(f"{uplink.name}: the packument of {name.name} is not JSON") from exc
        if not isinstance(document, dict) or document.get("name") != name.name:
            raise UpstreamError(
                f"{uplink.name}: the packument of {name.name} names another package"
            )
        trust = self._uplink_trust(uplink)
        verdicts = self.store.verdicts(name.name)
        versions = document.get("versions")
        todo = [v for v in (versions if isinstance(versions, dict) else {}) if v not in verdicts]
        futures = [
            self._pool.submit(
                verify_version,
                document,
                name.name,
                version,
                uplink=uplink.name,
                trust=trust,
                client=self.clients[uplink.name],
            )
            for version in todo
        ]
        new: list[StoredVerdict] = []
        for future in futures:
            try:
                new.append(future.result())
            except Pending as exc:
                log.warning("mirror: %s: verdict deferred: %s", name.name, exc)
        text = fetched.body.decode("utf-8")
        moment = now_ms()
        changed = stored.changed_ms if stored is not None and stored.document == text else moment
        upstream = StoredUpstream(
            name.name, uplink.name, text, fetched.etag, fetched.last_modified, moment, changed
        )
        self.store.save_packument(upstream, new)
        verdicts.update({v.version: v for v in new})
        return self._remember(name, uplink, upstream, verdicts, document)

    def _remember(
        self,
        name: PackageName,
        uplink: Uplink,
        upstream: StoredUpstream,
        verdicts: dict[str, StoredVerdict],
        document: Mapping[str, Any] | None = None,
    ) -> _Entry:
        if document is None:
            document = json.loads(upstream.document)
        now = time.monotonic()
        age = max(0.0, (now_ms() - upstream.fetched_ms) / 1000)
        fresh_until = now + max(0.0, uplink.ttl - age)
        entry = self._build(name, uplink, upstream, document, verdicts, fresh_until=fresh_until)
        with self._lock:
            old = self._entries.get(name.name)
            if old is not None:
                # The new copy is no more recently checked not to be local than the old one
                # (a background revalidation checks nothing; a publish here marked it).
                entry.local_checked = min(entry.local_checked, old.local_checked)
            self._keep(name.name, entry, refreshed=True)
        self._check_in_background(name, entry)
        return entry

    def _rebuild(self, name: PackageName, entry: _Entry) -> _Entry:
        uplink = self.config.uplinks[entry.uplink]
        rebuilt = self._build(
            name,
            uplink,
            entry.upstream,
            entry.document,
            entry.verdicts,
            fresh_until=entry.fresh_until,
            fingerprints=entry.fingerprints,
        )
        rebuilt.local_checked = entry.local_checked
        with self._lock:
            # Only in place of the entry it was built from: a newer one stored meanwhile (a
            # refresh) or none (evicted) stands.
            if self._entries.get(name.name) is entry:
                self._keep(name.name, rebuilt, refreshed=False)
        return rebuilt

    def _keep(self, name: str, entry: _Entry, *, refreshed: bool) -> None:
        """Hold `entry` in memory (under the lock): a refreshed one moves to the newest end;
        the least recently refreshed are dropped while the total passes the budget. An entry
        larger than the whole budget is served from this one answer, never kept."""
        size = entry_bytes(entry)
        self._held_bytes -= self._entry_bytes.pop(name, 0)
        if refreshed:
            self._entries.pop(name, None)
        if size > self._cache_bytes:
            self._entries.pop(name, None)
            self._provenance.pop(name, None)
            return
        self._entries[name] = entry
        self._entry_bytes[name] = size
        self._held_bytes += size
        while self._held_bytes > self._cache_bytes:
            oldest = next(iter(self._entries))
            del self._entries[oldest]
            self._held_bytes -= self._entry_bytes.pop(oldest, 0)
            self._provenance.pop(oldest, None)

    def _build(
        self,
        name: PackageName,
        uplink: Uplink,
        upstream: StoredUpstream,
        document: Mapping[str, Any],
        verdicts: dict[str, StoredVerdict],
        *,
        fresh_until: float,
        fingerprints: Mapping[str, str] | None = None,
    ) -> _Entry:
        held: dict[str, str] = {}
        versions = document.get("versions")
        names = list(versions) if isinstance(versions, dict) else []
        for version in names:
            verdict = verdicts.get(version)
            if verdict is None:
                held[version] = "not verified yet (the uplink failed while verifying it)"
            elif not verdict.verified:
                held[version] = f"refused on ingest: {verdict.reason}"
            elif verdict.integrity != _integrity(document, version):
                held[version] = (
                    f"the uplink changed the integrity of {name.name}@{version} after it was "
                    f"verified ({verdict.integrity[:20]}…); versions are immutable"
                )
        # The policy first: a version it refuses (denied, failing an audit rule, in
        # quarantine) is held for that reason, never merely as unchecked, so its tarball
        # route answers 403 and the background checks never fetch it.
        decisions = self.policy.decide(
            name.name, document, verdicts, held, self._provenance_reader(name, uplink, verdicts)
        )
        held.update(decisions.held)
        unchecked: set[str] = set()
        # The same document as before (a rebuild): its manifests' fingerprints stand.
        prints = dict(fingerprints or {})
        if uplink.verify_manifests == "before-serve":
            for version in names:
                verdict = verdicts.get(version)
                if version in held or verdict is None:
                    continue
                if version not in prints:
                    prints[version] = fingerprint(document["versions"][version])
                if verdict.blob_key is None or verdict.manifest != prints[version]:
                    unchecked.add(version)
                    held[version] = UNCHECKED
        allowed = {v for v in names if v not in held}
        packument = served_packument(
            document, name, allowed, origin=self.origin, changed_ms=upstream.changed_ms
        )
        packument = _with_header(packument, "fresh")
        return _Entry(
            uplink=uplink.name,
            upstream=upstream,
            document=document,
            verdicts=verdicts,
            packument=packument,
            held=held,
            fresh_until=fresh_until,
            revalidate_until=fresh_until + uplink.stale_while_revalidate,
            by_filename={name.tarball_filename(v): v for v in names},
            policy_until=time.monotonic() + decisions.changes_in
            if decisions.changes_in is not None
            else float("inf"),
            unchecked=unchecked,
            fingerprints=prints,
        )

    def _provenance_reader(
        self, name: PackageName, uplink: Uplink, verdicts: Mapping[str, StoredVerdict]
    ) -> Callable[[str], VerificationResult | None]:
        """The policy's view of a version's provenance: its stored attestations, verified on
        ingest, verified once more through the one path (the policy needs the certificate's
        identity, which is not stored), remembered per integrity."""

        def read(version: str) -> VerificationResult | None:
            verdict = verdicts.get(version)
            if verdict is None or verdict.attestations is None or verdict.provenance is None:
                return None
            key = (version, verdict.integrity)
            known = self._provenance.get(name.name, {})
            if key in known:
                return known[key]
            try:
                trust = self._uplink_trust(uplink)
                result = verify_attestations(
                    verdict.attestations, name.name, version, verdict.integrity,
                    verifier=trust.verifier, registry_keys=trust.keys or RegistryKeys(()),
                ).provenance  # fmt: skip
            except (UpstreamError, VerificationError) as exc:
                # Fails closed: to the policy, a provenance it cannot read is none at all.
                log.warning("mirror: %s@%s: provenance unreadable: %s", name.name, version, exc)
                return None
            with self._lock:
                self._provenance.setdefault(name.name, {})[key] = result
            return result

        return read

    def _entry(self, name: PackageName) -> _Entry:
        self.packument(name)
        entry = self._entries.get(name.name)
        if entry is None:
            # Not held in memory (larger than the memory budget, or dropped since): built
            # from the database's copy, which the packument just served came from.
            stored = self.store.upstream(name.name)
            uplink = self.config.uplinks.get(stored.uplink) if stored is not None else None
            if stored is None or uplink is None:
                raise NotFound("Not found")
            document = json.loads(stored.document)
            verdicts = self.store.verdicts(name.name)
            entry = self._build(name, uplink, stored, document, verdicts, fresh_until=0.0)
        return entry

    # --- tarballs and attestations ---------------------------------------------------------

    def tarball(self, name: PackageName, filename: str) -> Tarball:
        """The tarball of a served version: from the blob store, or fetched from the uplink
        on first download and stored only if its bytes match ``dist.integrity`` and its
        package.json agrees with the manifest served (:mod:`assay.mirror.manifests`)."""
        entry = self._entry(name)
        version = entry.by_filename.get(filename)
        if version is None:
            raise NotFound("Not found")
        reason = entry.held.get(version)
        if reason is not None and not (reason == UNCHECKED and version in entry.unchecked):
            raise Forbidden(
                f"{name.name}@{version} is held back by this registry's mirror: {reason}"
            )
        verdict = entry.verdicts[version]
        if verdict.blob_key is not None and verdict.manifest == entry.fingerprint(version):
            data = self.blobs.get(verdict.blob_key)
            if data is not None:
                return Tarball(data, verdict.integrity, verdict.shasum or "")
        key = f"tarball\n{name.name}\n{version}"
        return self._flight(key, lambda: self._fetch_tarball(name, version, entry))

    def _fetch_tarball(
        self, name: PackageName, version: str, entry: _Entry, *, rebuild: bool = True
    ) -> Tarball:
        """Check (and store) the tarball of ``name@version``: the stored bytes when they were
        stored for another manifest (or before manifests were checked), else the uplink's,
        which must match ``dist.integrity``. A package.json that disagrees with the manifest
        refuses the version for good (403); nothing of it is stored."""
        manifest_print = entry.fingerprint(version)
        stored = self.store.verdicts(name.name).get(version)
        if stored is not None and not stored.verified:
            # Refused meanwhile, by another request or node.
            self._verdict_changed(name, stored, rebuild=rebuild)
            raise Forbidden(
                f"{name.name}@{version} is held back by this registry's mirror: "
                f"refused on ingest: {stored.reason}"
            )
        verdict = stored if stored is not None else entry.verdicts[version]
        data = self.blobs.get(verdict.blob_key) if verdict.blob_key is not None else None
        if data is not None and verdict.manifest == manifest_print:
            # Checked and stored meanwhile, by another request or node.
            self._verdict_changed(name, verdict, rebuild=rebuild and version in entry.unchecked)
            return Tarball(data, verdict.integrity, verdict.shasum or "")
        if data is None:
            data = self._download(name, version, entry, verdict)
        manifest = entry.document["versions"][version]
        reason = check_tarball(manifest, data, self.tarball_limits)
        if reason is not None:
            log.error("mirror: %s@%s refused: %s", name.name, version, reason)
            self.store.refuse(name.name, version, reason)
            refused = replace(
                verdict, verdict="refused", reason=reason, blob_key=None, shasum=None,
                size=None, manifest=None, verified_ms=now_ms(),
            )  # fmt: skip
            self._verdict_changed(name, refused, rebuild=rebuild)
            raise Forbidden(
                f"{name.name}@{version} is held back by this registry's mirror: "
                f"refused on ingest: {reason}"
            )
        sha512 = hashlib.sha512(data).digest()
        blob_key = tarball_key(sha512.hex())
        shasum = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if verdict.blob_key != blob_key:
            self.blobs.put(blob_key, data)
        self.store.record_tarball(
            name.name, version, blob_key=blob_key, shasum=shasum, size=len(data),
            manifest=manifest_print,
        )  # fmt: skip
        checked = replace(
            verdict, blob_key=blob_key, shasum=shasum, size=len(data), manifest=manifest_print
        )
        self._verdict_changed(name, checked, rebuild=rebuild and version in entry.unchecked)
        return Tarball(data, verdict.integrity, shasum)

    def _download(
        self, name: PackageName, version: str, entry: _Entry, verdict: StoredVerdict
    ) -> bytes:
        """The uplink's tarball of ``name@version``, whose bytes match ``dist.integrity``."""
        url = entry.document["versions"][version]["dist"].get("tarball")
        if not isinstance(url, str):
            raise Unavailable(f"{name.name}@{version} has no dist.tarball upstream")
        try:
            fetched = self.clients[entry.uplink].tarball(url)
        except UpstreamError as exc:
            self._failed(entry.uplink, exc.message)
            raise Unavailable(f"{name.name}@{version}: {exc.message}", retry_after=5) from exc
        if fetched.status != 200:
            raise Unavailable(f"{name.name}@{version}: the uplink answered {fetched.status}")
        if not _matches_integrity(verdict.integrity, hashlib.sha512(fetched.body).digest()):
            log.error("mirror: %s@%s: tarball does not match dist.integrity", name.name, version)
            raise Unavailable(
                f"{name.name}@{version}: the uplink served a tarball that does not match "
                f"dist.integrity {verdict.integrity[:30]}…; it was not stored",
                retry_after=60,
            )
        return fetched.body

    def _verdict_changed(self, name: PackageName, verdict: StoredVerdict, *, rebuild: bool) -> None:
        """Take a verdict changed by a tarball check into the package in memory; ``rebuild``:
        rebuild its served packument now (a version refused leaves it, a version checked in
        ``before-serve`` joins it)."""
        entry = self._entries.get(name.name)
        if entry is None:
            return
        entry.verdicts[verdict.version] = verdict
        if rebuild:
            self._rebuild(name, entry)

    # --- before-serve: tarballs checked in the background ----------------------------------

    def _check_in_background(self, name: PackageName, entry: _Entry) -> None:
        """Start checking the tarballs of the package's unchecked versions (``before-serve``),
        unless that is under way."""
        if not entry.unchecked:
            return
        with self._lock:
            if name.name in self._checking:
                return
            try:
                self._checking[name.name] = self._checks.submit(self._check_package, name, entry)
            except RuntimeError:  # shutting down
                return

    def _check_package(self, name: PackageName, started: _Entry) -> None:
        """Fetch and check each unchecked version's tarball, newest first (what a range
        resolves to), rebuilding the served packument every :data:`_REBUILD_EVERY` seconds
        so that versions appear as they pass. A version that could not be fetched stays out
        and is tried again after the next refresh. A package not held in memory (larger than
        the budget) is checked from the entry the checks were started for; what passes is
        listed at its next read, which builds it from the database."""
        tried: set[str] = set()
        rebuilt = time.monotonic()
        try:
            while True:
                entry = self._entries.get(name.name) or started
                todo = [v for v in _newest_first(entry) if v in entry.unchecked and v not in tried]
                if not todo:
                    return
                version = todo[0]
                tried.add(version)
                key = f"tarball\n{name.name}\n{version}"
                try:
                    work = functools.partial(
                        self._fetch_tarball, name, version, entry, rebuild=False
                    )
                    self._flight(key, work)
                except (Forbidden, Unavailable) as exc:
                    log.warning("mirror: checking %s@%s: %s", name.name, version, exc.message)
                if time.monotonic() - rebuilt >= _REBUILD_EVERY:
                    self._rebuild_current(name)
                    rebuilt = time.monotonic()
        except Exception:
            log.exception("mirror: checking the tarballs of %s failed", name.name)
        finally:
            self._rebuild_current(name)
            with self._lock:
                self._checking.pop(name.name, None)

    def _rebuild_current(self, name: PackageName) -> None:
        entry = self._entries.get(name.name)
        if entry is not None:
            self._rebuild(name, entry)

    def attestations(self, name: PackageName, version: str) -> dict[str, Any]:
        """The verified attestations response of a served version."""
        entry = self._entry(name)
        verdict = entry.verdicts.get(version)
        if version in entry.held or verdict is None or verdict.attestations is None:
            raise NotFound(f"No attestations for {name.name}@{version}")
        result: dict[str, Any] = json.loads(verdict.attestations)
        return result

    # --- trust -----------------------------------------------------------------------------

    def _uplink_trust(self, uplink: Uplink) -> UplinkTrust:
        trust = self._trust.get(uplink.name)
        if trust is None:
            try:
                trust = load_trust(uplink, self.clients[uplink.name], self.public_good)
            except ConfigError as exc:
                raise UpstreamError(
                    f"{uplink.name}: unusable trust material: {exc.message}"
                ) from exc
            self._trust[uplink.name] = trust
        return trust

    def npm_keys(self) -> list[dict[str, Any]]:
        """The uplinks' registry keys in the ``/-/npm/v1/keys`` shape (those reachable now)."""
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        for uplink in self.config.uplinks.values():
            try:
                trust = self._uplink_trust(uplink)
            except UpstreamError:
                continue
            if trust.keys is None:
                continue
            for entry in npm_key_entries(trust.keys):
                if entry["keyid"] not in seen:
                    seen.add(entry["keyid"])
                    entries.append(entry)
        return entries

    def trust_material(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The uplinks' registry keys (``/-/npm/v1/keys`` shape) and trusted roots, for the
        instance to publish beside its own (trust files and TUF targets), so that the stock
        npm client and ``assay audit`` verify mirrored versions against the mirror. Uplinks
        that cannot be reached now are left out (logged)."""
        roots: list[dict[str, Any]] = []
        for uplink in self.config.uplinks.values():
            try:
                roots.append(self._uplink_trust(uplink).root)
            except UpstreamError as exc:
                log.warning("mirror: no trust material from %s: %s", uplink.name, exc.message)
        return self.npm_keys(), roots

    def held(self, name: PackageName) -> Mapping[str, str]:
        """Versions of an upstream package left out of its served packument, and why."""
        return dict(self._entry(name).held)

    # --- operators and pages (assay mirror status/report/evict, the package page) ----------

    def _healthy(self, uplink: str) -> None:
        self._health[uplink].last_ok_ms = now_ms()

    def _failed(self, uplink: str, error: str) -> None:
        health = self._health[uplink]
        health.last_failure_ms, health.last_error = now_ms(), error

    def versions(self, name: PackageName) -> list[MirroredVersion]:
        """Every version the uplink lists for an upstream package, in its order, with the
        mirror's decision and the provenance facts verified on ingest (the package page).
        NotFound for a name that is not mirrored, as :meth:`packument`."""
        entry = self._entry(name)
        versions = entry.document.get("versions")
        found: list[MirroredVersion] = []
        for version in versions if isinstance(versions, dict) else {}:
            verdict = entry.verdicts.get(version)
            found.append(
                MirroredVersion(
                    version=version,
                    uplink=entry.uplink,
                    served=version not in entry.held,
                    reason=entry.held.get(version),
                    signatures=verdict.signatures if verdict else "not verified yet",
                    provenance=verdict.provenance if verdict and verdict.verified else None,
                    facts=_facts(verdict) if verdict and verdict.verified else None,
                    verified_ms=verdict.verified_ms if verdict else None,
                    tarball_stored=verdict is not None and verdict.blob_key is not None,
                )
            )
        return found

    def uplink_url(self, uplink: str) -> str | None:
        """The configured URL of an uplink (None: not configured now)."""
        found = self.config.uplinks.get(uplink)
        return found.url if found is not None else None

    def report(self) -> list[HeldVersion]:
        """Every cached upstream version left out of what the mirror serves, and why, by
        package. Built from what is cached — no uplink is asked — with the policy as it
        stands now (a quarantine that ended is no longer listed)."""
        held: list[HeldVersion] = []
        for text, uplink_name, _ in self.store.packages():
            uplink = self.config.uplinks.get(uplink_name)
            if uplink is None or uplink not in self.config.uplinks_for(text):
                continue  # no longer sent to that uplink: never served from it
            if self.store.local_claim(text) is not None:
                continue  # local now: the mirror is not asked about it
            entry = self._cached_entry(PackageName(text), uplink)
            if entry is None:
                continue
            for version, reason in entry.held.items():
                verdict = entry.verdicts.get(version)
                kind: HeldKind
                if verdict is None:
                    kind = "pending"
                elif not verdict.verified:
                    kind = "verification"
                elif verdict.integrity != _integrity(entry.document, version):
                    kind = "changed"
                elif version in entry.unchecked:
                    kind = "unchecked"
                else:
                    kind = "policy"
                held.append(
                    HeldVersion(
                        text,
                        version,
                        uplink.name,
                        kind,
                        reason,
                        verdict.verified_ms if verdict else None,
                    )
                )
        return held

    def _cached_entry(self, name: PackageName, uplink: Uplink) -> _Entry | None:
        """The package as served now, from memory or the tables, never from the uplink."""
        entry = self._entries.get(name.name)
        if entry is not None:
            if time.monotonic() >= entry.policy_until:
                entry = self._rebuild(name, entry)
            return entry
        stored = self.store.upstream(name.name)
        if stored is None:
            return None
        document = json.loads(stored.document)
        verdicts = self.store.verdicts(name.name)
        return self._build(name, uplink, stored, document, verdicts, fresh_until=0.0)

    def status(self) -> MirrorStatus:
        """The uplinks (pinged now, in parallel), the cache's counts, the held-back count."""
        now = now_ms()
        packages = self.store.packages()
        uplinks = list(self.config.uplinks.values())
        with ThreadPoolExecutor(max(1, len(uplinks)), thread_name_prefix="mirror-ping") as pool:
            pings = list(pool.map(self._ping, uplinks))
        rows: list[UplinkStatus] = []
        for uplink, (reachable, ping) in zip(uplinks, pings, strict=True):
            fetched = [ms for _, name, ms in packages if name == uplink.name]
            rows.append(
                UplinkStatus(
                    name=uplink.name,
                    url=uplink.url,
                    reachable=reachable,
                    ping=ping,
                    ttl=uplink.ttl,
                    packages=len(fetched),
                    fresh=sum(1 for ms in fetched if now - ms < uplink.ttl * 1000),
                    oldest_fetch_ms=min(fetched, default=None),
                    newest_fetch_ms=max(fetched, default=None),
                    health=replace(self._health[uplink.name]),
                )
            )
        return MirrorStatus(
            uplinks=tuple(rows),
            cache=dict(self.store.counts()),
            held=len(self.report()),
            in_memory=len(self._entries),
            in_memory_bytes=self._held_bytes,
        )

    def _ping(self, uplink: Uplink) -> tuple[bool, str]:
        started = time.monotonic()
        try:
            status = self.clients[uplink.name].ping()
        except UpstreamError as exc:
            self._failed(uplink.name, exc.message)
            return False, exc.message
        took = (time.monotonic() - started) * 1000
        if status < 500:
            self._healthy(uplink.name)
        return status < 500, f"HTTP {status} in {took:.0f} ms"

    def evict(self, name: str, version: str | None = None) -> int:
        """Forget the cached packument, verdicts and tarball rows of ``name`` (or of one
        version) here and in this process's memory, so that the next request fetches and
        verifies them again; the number of rows removed (0: nothing was cached). Other
        processes (``assay serve`` nodes) drop their copy at their next refresh."""
        removed = self.store.evict(name, version)
        with self._lock:
            self._entries.pop(name, None)
            self._held_bytes -= self._entry_bytes.pop(name, 0)
            known = self._provenance.get(name, {})
            for key in [k for k in known if version is None or k[0] == version]:
                del known[key]
        return removed

    # --- one fetch at a time ---------------------------------------------------------------

    def _flight(self, key: str, work: Callable[[], T]) -> T:
        """Run ``work`` once for everyone asking for ``key`` at the same time."""
        with self._lock:
            future = self._flights.get(key)
            leader = future is None
            if future is None:
                future = self._flights[key] = Future()
        if not leader:
            result: T = future.result()
            return result
        try:
            value = work()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            with self._lock:
                self._flights.pop(key, None)


def _facts(verdict: StoredVerdict) -> VerifiedFacts | None:
    """The provenance facts stored with a verdict (from the verified certificate)."""
    if verdict.facts is None:
        return None
    try:
        return VerifiedFacts.from_json(json.loads(verdict.facts))
    except (ValueError, FormatError) as exc:
        log.warning(
            "mirror: %s@%s: stored facts unreadable: %s", verdict.name, verdict.version, exc
        )
        return None


def _newest_first(entry: _Entry) -> list[str]:
    """The package's versions, those a dist-tag names first, then by semver, highest first."""
    tags = entry.document.get("dist-tags")
    tagged = set(tags.values()) if isinstance(tags, dict) else set()
    parsed = [(Version.parse_or_none(v), v) for v in entry.by_filename.values()]
    ordered = [v for _, v in sorted(((p, v) for p, v in parsed if p is not None), reverse=True)]
    first = [v for v in ordered if v in tagged]
    return first + [v for v in ordered if v not in tagged]


def _with_header(packument: Packument, state: str) -> Packument:
    return replace(packument, headers=((MIRROR_HEADER, state),))


def _integrity(document: Mapping[str, Any], version: str) -> str | None:
    manifest = document.get("versions", {}).get(version)
    dist = manifest.get("dist") if isinstance(manifest, dict) else None
    value = dist.get("integrity") if isinstance(dist, dict) else None
    return value if isinstance(value, str) else None


def _matches_integrity(integrity: str, sha512: bytes) -> bool:
    """Whether an SRI string (``sha512-<base64>``, possibly with other hashes after a space)
    names these bytes' sha512. Only sha512 counts: the verdict was decided over it."""
    for item in integrity.split():
        algorithm, _, value = item.partition("-")
        if algorithm != "sha512":
            continue
        try:
            expected = base64.b64decode(value.split("?", 1)[0], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(expected, sha512)
    return False


def entry_bytes(entry: _Entry) -> int:
    """What an upstream package in memory is counted as: the upstream's JSON text, its parsed
    form (:data:`PARSED_JSON_FACTOR` times the text), and the two served documents, each as JSON
    and gzip-compressed."""
    text = len(entry.upstream.document)
    served = entry.packument
    documents = (served.full, served.corgi)
    return text * (1 + PARSED_JSON_FACTOR) + sum(len(d.body) + len(d.gzip) for d in documents)


def open_mirror(settings: Settings, store: MirrorStore, blobs: BlobStore) -> MirrorService | None:
    """The mirror the settings configure (``uplinks_file`` or ``uplink_url``), or None."""
    config = MirrorConfig.from_settings(
        settings.uplinks_file, settings.uplink_url, settings.uplink_token
    )
    if config is None:
        return None
    return MirrorService(
        config,
        store,
        blobs,
        origin=settings.origin,
        max_tarball_bytes=settings.registry_max_tarball_bytes,
        tarball_limits=TarballLimits(
            max_entries=settings.tarball_max_entries,
            max_unpacked_bytes=settings.tarball_max_unpacked_bytes,
            max_ratio=settings.tarball_max_ratio,
        ),
        public_good=settings.trust_dir,
        cache_bytes=settings.mirror_cache_bytes,
    )
