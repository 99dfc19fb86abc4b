"""The registry's core: every npm operation as a method, no HTTP in sight.

Rules enforced here (what registry.npmjs.org does, unless noted):

* Only maintainers ("owners") publish, tag, deprecate, unpublish and change owners of a package;
  a read-only token never writes. A new unscoped name goes to whoever publishes it first; a new
  ``@scope/…`` follows registry/scopes.py (``@<your name>/…`` and the scopes an administrator
  assigned you; under ``registry_scope_policy = "open"`` the first publisher claims a scope).
* Versions are immutable and never reused, unpublished ones included, nor republished with
  other build metadata ("You cannot publish over the previously published versions").
* A publish is checked completely before anything is written, then its blob is written under a
  content-addressed key, then one transaction commits the version row, dist-tags and ownership
  (storage/registry_store.py). The state is re-checked under the package lock, so concurrent
  publishes of one version end with exactly one winner and a 403 for the others.
* A publish with provenance is verified completely (:mod:`assay.registry.provenance`: bundle,
  tarball's ``repository``, issuer, statement against the certificate, optionally the source
  commit) before anything is written; what was verified is stored with the version
  (:meth:`RegistryService.version_facts`). The registry's own publish attestation is signed and
  logged only *after* the version's transaction commits, so a publish that loses a race, or is
  refused, leaves no signed log entry behind.
* Trusted publishing (docs/trusted-publishing.md): a token minted by the OIDC exchange
  (:mod:`assay.registry.trusted_publishing`) publishes its one package without its bearer being
  a maintainer, creates a package only through a pending publisher (whose registrant becomes
  the maintainer), and is refused everything else; its versions show npm's
  ``_npmUser.trustedPublisher`` and keep the verified identity, and provenance it uploads must
  name the exchanged repository and workflow.
* Packuments are cached per package as serialized bytes, invalidated by every write made through
  this service; a write by another process is noticed within ``CROSS_PROCESS_STALENESS`` seconds
  (each cached entry re-checks the package's ``rev`` at most that often). The cache holds at
  most ``registry_packument_cache_bytes`` of serialized documents, least recently used out first.
* Hot tarballs are kept in memory (at most ``registry_tarball_cache_bytes``, none larger than
  ``registry_tarball_cache_entry_bytes``, least recently used out first). A tarball's bytes never
  change (its filename is its version's, and versions are immutable), but whether it is served
  does: a cached tarball is served only while its package's cached packument is fresh and has the
  ``rev`` it was read at (an unpublish bumps it), so the database decides what exists within the
  same ``CROSS_PROCESS_STALENESS``. :meth:`RegistryService.cached_tarball` answers that without
  I/O, on the event loop.
* A package's document is bounded: each version's manifest by ``assay.limits.MAX_MANIFEST_BYTES``
  (registry/publish.py), the sum of its live manifests and README by
  ``registry_max_packument_bytes``; the publish that would pass it is refused (422).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from assay.npm.names import PackageName
from assay.npm.tarball import TarballLimits
from assay.registry.accounts import (
    Accounts,
    Caller,
    Principal,
    TrustedPrincipal,
    require,
)
from assay.registry.attestations import PublishAttestations
from assay.registry.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
)
from assay.registry.package_policy import after_publish, enforce_publish_policy
from assay.registry.packuments import Packument, build, iso
from assay.registry.provenance import ProvenanceGate, ProvenanceRecord, VerifiedProvenance, refuse
from assay.registry.publish import (
    PublishedVersion,
    PublishLimits,
    check_tag,
    is_publish,
    parse_publish,
    previously_published,
)
from assay.registry.scopes import check_new_package
from assay.registry.search import SearchQuery, search_object
from assay.registry.signing import RegistryKeys
from assay.registry.trusted_publishing import (
    IdentityValidator,
    TokenExchange,
    bind_provenance,
    check_trusted_existing,
    check_trusted_publish,
    exchange_audience,
    publish_event,
    trusted_publisher_record,
)
from assay.registry.updates import check_rev, metadata_change
from assay.settings import Settings
from assay.sign.clients import HttpLog
from assay.sign.log import LogWriter
from assay.storage.account_store import StoreConflict, StoredUser, now_ms
from assay.storage.blobs import BlobPieces, BlobStore, open_blob_store
from assay.storage.database import database_url, migrate, open_engine
from assay.storage.registry_store import (
    Decide,
    PackageChange,
    PackageState,
    RegistryStore,
    StoredVersion,
    tarball_key,
)
from assay.storage.trust_store import TrustStore

log = logging.getLogger(__name__)

CROSS_PROCESS_STALENESS = 1.0


@dataclass(frozen=True, slots=True)
class Tarball:
    data: bytes
    integrity: str
    shasum: str


def open_blobs(settings: Settings) -> BlobStore:
    """The blob store `settings` name: the registry's tarballs, and what the operations
    commands (assay gc, backup, restore, check) read and write."""
    return open_blob_store(
        settings.blob_store,
        root=settings.data_dir / "blobs",
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        prefix=settings.s3_prefix,
    )


@dataclass(frozen=True, slots=True)
class TarballStream:
    """A tarball too large for the tarball cache, read from the blob store as it is sent: a
    large download holds a piece of it in memory at a time, not all of it. ``open`` starts the
    read (None: the blob is gone); a HEAD or a 304 never calls it, so it costs no file or S3
    request."""

    open: Callable[[], BlobPieces | None]
    size: int
    integrity: str
    shasum: str


class Mirror(Protocol):
    """Upstream packages (assay.mirror.service.MirrorService): asked only about names that
    have no local row; it refuses local, staged and reserved names itself (docs/mirror.md)."""

    def packument(self, name: PackageName) -> Packument: ...
    def tarball(self, name: PackageName, filename: str) -> Tarball: ...
    def attestations(self, name: PackageName, version: str) -> dict[str, Any]: ...
    def npm_keys(self) -> list[dict[str, Any]]: ...
    def cached_packument(self, name: str) -> Packument | None: ...
    def forget(self, name: str) -> None: ...


@dataclass
class PublishCheck:
    """A publish checked against the registry's state and not yet written
    (:meth:`RegistryService.check_publish`): the row to insert and the decision to re-run
    under the package lock when it is committed."""

    name: PackageName
    published: PublishedVersion
    row: StoredVersion
    decide: Decide
    trusted: TrustedPrincipal | None = None
    """The trusted publisher publishing, if any (its audit event follows the commit)."""
    created: bool = False
    """Whether the (last) decision creates the package."""
    creator: int | None = None
    """The user a created package gets as its maintainer."""


@dataclass
class _CacheEntry:
    packument: Packument
    checked: float

    @property
    def size(self) -> int:
        return self.packument.full.size + self.packument.corgi.size


def stored_size(state: PackageState | None, new: StoredVersion | None = None) -> int:
    """What a package's document holds, as the packument limit counts it: its live versions'
    manifests and the largest README (UTF-8 bytes), with the version `new` added."""
    rows = [*(state.live_versions.values() if state is not None else ()), *([new] if new else [])]
    manifests = sum(len(row.manifest.encode("utf-8")) for row in rows)
    return manifests + max((len((row.readme or "").encode("utf-8")) for row in rows), default=0)


class RegistryService:
    """Packages: packuments, tarballs, publish, metadata updates, dist-tags, access, search.

    Accounts (users, tokens, who is asking) are :attr:`accounts`, over the same store.
    """

    def __init__(
        self,
        store: RegistryStore,
        blobs: BlobStore,
        settings: Settings,
        keys: RegistryKeys,
        provenance: ProvenanceGate | None = None,
        *,
        log: LogWriter | None = None,
        oidc: IdentityValidator | None = None,
        instance_issuer: str | None = None,
        mirror: Mirror | None = None,
    ) -> None:
        self.store = store
        self.mirror = mirror  # upstream packages (assay.mirror), None: no uplinks
        self.blobs = blobs
        self.settings = settings
        self.keys = keys
        self.accounts = Accounts(store, settings)
        # Trusted publishing's rows (publishers, exchanged tokens, policies, staging, audit).
        self.trust_store = TrustStore(store.engine)
        # The OIDC exchange of trusted publishing; `oidc` None: not enabled (404).
        self.exchange = TokenExchange(
            store,
            self.trust_store,
            oidc,
            exchange_audience(settings.origin),
            instance_issuer=instance_issuer,
        )
        # None: this registry has no trusted roots, so it refuses every provenance bundle.
        self.provenance = provenance
        self.origin = settings.origin
        # Where publish attestations are logged: the log the settings name, over HTTP, unless
        # the caller hands over a writer (the all-in-one instance: its own log, in process).
        self.log = log or HttpLog(
            settings.publish_attestation_tlog_url or f"{self.origin}/-/tlog",
            bearer=settings.tlog_writer_secret,
        )
        self._limits = PublishLimits(
            max_tarball_bytes=settings.registry_max_tarball_bytes,
            tarball=TarballLimits(
                max_entries=settings.tarball_max_entries,
                max_unpacked_bytes=settings.tarball_max_unpacked_bytes,
                max_ratio=settings.tarball_max_ratio,
            ),
        )
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._cache_bytes = 0
        self._tarballs: OrderedDict[tuple[str, str], tuple[int, Tarball]] = OrderedDict()
        self._tarball_bytes = 0
        self._lock = threading.Lock()
        self.publish_attestations = PublishAttestations(self.store, keys, self.log, self.origin)

    @classmethod
    def open(
        cls,
        settings: Settings,
        engine: Engine | None = None,
        provenance: ProvenanceGate | None = None,
        *,
        log: LogWriter | None = None,
        oidc: IdentityValidator | None = None,
        instance_issuer: str | None = None,
        mirror: Mirror | None = None,
    ) -> RegistryService:
        """The service over the database and blob store `settings` name (migrated).

        ``engine``: an already open and migrated engine to share (the all-in-one instance opens
        one for every service). ``log``: where publish attestations are logged (default: over
        HTTP, see ``__init__``). ``oidc``: the validator of the OIDC exchange (trusted
        publishing), over the issuers the operator trusts; ``instance_issuer``: the URL of the
        instance's own issuer, whose emulated jobs stand in for the forge they claim.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if engine is None:
            engine = open_engine(database_url(settings.database_url, settings.data_dir))
            migrate(engine)
        blobs = open_blobs(settings)
        keys = RegistryKeys.load_or_create(settings.data_dir / "keys")
        return cls(
            RegistryStore(engine),
            blobs,
            settings,
            keys,
            provenance,
            log=log,
            oidc=oidc,
            instance_issuer=instance_issuer,
            mirror=mirror,
        )

    def close(self) -> None:
        self.blobs.close()
        self.store.engine.dispose()

    # --- reads -------------------------------------------------------------------------------

    def cached_packument(self, name: str) -> Packument | None:
        """The cached packument if it is fresh enough to serve without any I/O."""
        entry = self._cache.get(name)
        if entry is not None and time.monotonic() - entry.checked < CROSS_PROCESS_STALENESS:
            return entry.packument
        if entry is None and self.mirror is not None:  # mirror: within the same staleness
            return self.mirror.cached_packument(name)
        return None

    def packument(self, name: PackageName) -> Packument:
        entry = self._cache.get(name.name)
        if entry is None and self.mirror is not None:  # mirror: fresh in its memory
            mirrored = self.mirror.cached_packument(name.name)
            if mirrored is not None:
                return mirrored
        if entry is not None:
            if time.monotonic() - entry.checked < CROSS_PROCESS_STALENESS:
                return entry.packument
            if self.store.package_rev(name.name) == entry.packument.rev:
                entry.checked = time.monotonic()
                return entry.packument
        state = self.store.load_package(name.name)
        packument = None if state is None else build(state, self.origin)
        if packument is None:
            self._drop_cached(name.name)
            if state is None and self.mirror is not None:  # mirror: no local row at all
                return self.mirror.packument(name)
            raise NotFound("Not found")
        self._remember(name.name, _CacheEntry(packument, time.monotonic()))
        return packument

    def _remember(self, name: str, entry: _CacheEntry) -> None:
        """Cache `entry`, keeping the cache within ``registry_packument_cache_bytes``."""
        budget = self.settings.registry_packument_cache_bytes
        with self._lock:
            old = self._cache.pop(name, None)
            if old is not None:
                self._cache_bytes -= old.size
            if entry.size > budget:
                return  # larger than the whole cache: served, never kept
            self._cache[name] = entry
            self._cache_bytes += entry.size
            while self._cache_bytes > budget:
                _, evicted = self._cache.popitem(last=False)
                self._cache_bytes -= evicted.size

    @property
    def cache_bytes(self) -> int:
        """Serialized bytes of the packuments cached now (never above the setting)."""
        return self._cache_bytes

    def _invalidate(self, name: str) -> None:
        """After a write to ``name``: drop what is cached, and make the mirror check again
        that the name is not local before it serves its copy from memory (local wins)."""
        self._drop_cached(name)
        if self.mirror is not None:
            self.mirror.forget(name)

    def _drop_cached(self, name: str) -> None:
        # The package's tarballs stay cached: each is served only with the rev it was read at,
        # which the next packument read replaces (an unpublish bumps the rev).
        with self._lock:
            old = self._cache.pop(name, None)
            if old is not None:
                self._cache_bytes -= old.size

    def version_manifest(self, name: PackageName, spec: str) -> dict[str, Any]:
        """``GET /<name>/<version|tag>``."""
        data = self.packument(name).data
        version = data["dist-tags"].get(spec, spec)
        manifest = data["versions"].get(version)
        if manifest is None:
            raise NotFound(f"version not found: {spec}")
        return dict(manifest)

    def _verify_provenance(
        self, name: PackageName, published: PublishedVersion
    ) -> VerifiedProvenance:
        """Verify the uploaded provenance against the tarball (its package.json's
        ``repository``, its sha512); raise the refusal, or return what it proved."""
        assert published.provenance is not None  # noqa: S101 - the caller checked
        if self.provenance is None:
            raise refuse("provenance verification is not enabled on this registry")
        verified = self.provenance.check(
            published.provenance,
            name.name,
            published.version,
            published.sha512,
            published.contents.package_json,
        )
        published.manifest["dist"]["attestations"] = {
            "provenance": {"predicateType": verified.predicate_type}
        }
        # npm's `gitHead`, from the certificate's source commit (the body's is never kept).
        commit = verified.facts.source_repository_digest
        if commit:
            published.manifest["gitHead"] = commit
        return verified

    def attestations(self, name: PackageName, version: str) -> dict[str, Any]:
        """``GET /-/npm/v1/attestations/<name>@<version>`` (npm-registry spec §3.4)."""
        if self.mirror is not None and self.packument(name).mirrored:  # mirror
            return self.mirror.attestations(name, version)
        return self.publish_attestations.read(name, version)

    def attestations_of(self, name: PackageName, versions: Sequence[str]) -> dict[str, Any]:
        """The attestations responses of several live versions, as stored, read in one
        indexed query (the web's log pages; a version without attestations is absent). Unlike
        :meth:`attestations`, never completes a missing publish attestation."""
        found = self.store.version_attestations(name.name, versions)
        return {version: {"attestations": json.loads(text)} for version, text in found.items()}

    def npm_keys(self) -> dict[str, Any]:
        """``GET /-/npm/v1/keys``: this registry's keys, then its uplinks' (the mirror serves
        their signatures as they are, so npm verifies them with these)."""
        keys = self.keys.npm_keys()
        if self.mirror is not None:
            keys["keys"] = [*keys["keys"], *self.mirror.npm_keys()]
        return keys

    def version_facts(self, name: PackageName, version: str) -> ProvenanceRecord | None:
        """What the registry verified about a live version's provenance when it was published
        (the certificate's facts, the statement check, the source check), or None for a
        version without provenance. NotFound for a version that is not live."""
        state = self.store.load_package(name.name)
        row = state.versions.get(version) if state is not None else None
        if row is None or not row.live:
            raise NotFound(f"version not found: {version}")
        return ProvenanceRecord.from_text(row.provenance_facts)

    def version_trusted_publisher(self, name: PackageName, version: str) -> dict[str, Any] | None:
        """The verified OIDC identity a live version was published through by trusted
        publishing (provider, repository, workflow, ref, sha, run, issuer, emulated), or None
        for a version published with a user's token. NotFound for a version that is not live."""
        state = self.store.load_package(name.name)
        row = state.versions.get(version) if state is not None else None
        if row is None or not row.live:
            raise NotFound(f"version not found: {version}")
        if row.trusted_publisher is None:
            return None
        identity = json.loads(row.trusted_publisher).get("identity")
        return dict(identity) if isinstance(identity, dict) else None

    def cached_tarball(self, name: str, filename: str) -> Tarball | None:
        """A hot tarball that may be served without any I/O (on the event loop): cached, and
        read at the rev of the package's cached packument, which is fresh (checked against the
        database less than ``CROSS_PROCESS_STALENESS`` ago). None: ask :meth:`tarball`."""
        entry = self._cache.get(name)
        if entry is None or time.monotonic() - entry.checked >= CROSS_PROCESS_STALENESS:
            return None
        key = (name, filename)
        with self._lock:
            hit = self._tarballs.get(key)
            if hit is None or hit[0] != entry.packument.rev:
                return None
            self._tarballs.move_to_end(key)
        return hit[1]

    def tarball(self, name: PackageName, filename: str) -> Tarball | TarballStream:
        # The database decides what exists; a blob without a live row is never served. A
        # tarball served once is kept while the package's rev (which every unpublish bumps)
        # is the one the packument cache has just confirmed, so a hot tarball costs no query.
        # One too large to keep is streamed from the blob store.
        packument = self.packument(name)
        if packument.mirrored and self.mirror is not None:  # mirror: an upstream tarball
            return self.mirror.tarball(name, filename)
        rev = packument.rev
        key = (name.name, filename)
        with self._lock:
            cached = self._tarballs.get(key)
        if cached is not None and cached[0] == rev:
            return cached[1]
        row = self.store.version_by_filename(name.name, filename)
        if row is None or not row.live:
            raise NotFound("Not found")
        if not self._cacheable(row.size):
            opener = functools.partial(self.blobs.chunks, row.blob_key)
            return TarballStream(opener, row.size, row.integrity, row.shasum)
        data = self.blobs.get(row.blob_key)
        if data is None:
            raise NotFound("Not found")
        tarball = Tarball(data, row.integrity, row.shasum)
        self._keep_tarball(key, rev, tarball)
        return tarball

    def _cacheable(self, size: int) -> bool:
        budget = self.settings.registry_tarball_cache_bytes
        return size <= min(self.settings.registry_tarball_cache_entry_bytes, budget)

    def _keep_tarball(self, key: tuple[str, str], rev: int, tarball: Tarball) -> None:
        """Cache `tarball` read at `rev`, within ``registry_tarball_cache_bytes``."""
        size = len(tarball.data)
        budget = self.settings.registry_tarball_cache_bytes
        if not self._cacheable(size):
            return
        with self._lock:
            old = self._tarballs.pop(key, None)
            if old is not None:
                self._tarball_bytes -= len(old[1].data)
            self._tarballs[key] = (rev, tarball)
            self._tarball_bytes += size
            while self._tarball_bytes > budget:
                _, (_, evicted) = self._tarballs.popitem(last=False)
                self._tarball_bytes -= len(evicted.data)

    @property
    def tarball_cache_bytes(self) -> int:
        """Bytes of the tarballs cached now (never above the setting)."""
        return self._tarball_bytes

    # --- publish and metadata updates --------------------------------------------------------

    def put_package(
        self, name: PackageName, body: Mapping[str, Any], rev: str | None, who: Caller | None
    ) -> dict[str, Any]:
        """``PUT /<name>[/-rev/<rev>]``: publish (with attachments) or update metadata."""
        if is_publish(body):
            caller: Caller
            if isinstance(who, TrustedPrincipal):
                caller = check_trusted_publish(who, name.name)
            else:
                caller = require(who, "publish packages")
            self._publish(name, parse_publish(name, body, self._limits), caller)
            return {"ok": True, "id": name.name}
        principal = require(who, "change packages")
        return self._update(name, body, rev, principal)

    def parse_publish(self, name: PackageName, body: Mapping[str, Any]) -> PublishedVersion:
        """A publish document parsed and checked against this registry's limits (no state)."""
        return parse_publish(name, body, self._limits)

    def _publish(self, name: PackageName, published: PublishedVersion, who: Caller) -> None:
        """Publish one version as a user or, through trusted publishing, as a CI job."""
        trusted = who if isinstance(who, TrustedPrincipal) else None
        user = who.user if isinstance(who, Principal) else None
        check = self.check_publish(
            name,
            published,
            user,
            publisher_id=None if user is None else user.id,
            trusted=trusted,
            trusted_publisher=None if trusted is None else trusted_publisher_record(trusted),
        )
        self.commit_publish(check)

    def check_publish(
        self,
        name: PackageName,
        published: PublishedVersion,
        authority: StoredUser | None,
        *,
        publisher_id: int | None,
        trusted: TrustedPrincipal | None = None,
        trusted_publisher: str | None = None,
        existing_only: bool = False,
    ) -> PublishCheck:
        """Check a publish completely against the current state, writing nothing.

        ``authority``: the user whose right to publish `name` is checked (a maintainer of an
        existing package; for a new one, who may create the name, and its first maintainer);
        None when the caller has already checked a trusted publisher's permission for `name`.
        ``trusted``: the trusted publisher publishing (or staging) through an exchanged token.
        It publishes an existing package without being a maintainer (its publisher was
        configured by one), a new package only through a *pending* publisher, whose creator
        becomes the maintainer; provenance it uploads must name the same repository and
        workflow (:func:`trusted_publishing.bind_provenance`).
        ``publisher_id`` and ``trusted_publisher`` are what the version records as its
        publisher (``_npmUser``); a staged publish approved by a maintainer keeps its stager's.
        ``existing_only``: refuse a name that does not exist yet (staging,
        registry/staging.py). The returned check is committed by :meth:`commit_publish`,
        which re-runs the same decision under the package lock.
        """
        key = tarball_key(published.sha512.hex)
        # Every version is signed by the registry, with or without provenance (§3.2); the
        # signature is part of the version row, so it lands in the same transaction.
        published.manifest["dist"]["signatures"] = [
            self.keys.sign(name.name, published.version, published.sha512.sri)
        ]
        row = StoredVersion(
            package=name.name,
            version=published.version,
            manifest=json.dumps(published.manifest, separators=(",", ":"), ensure_ascii=False),
            integrity=published.sha512.sri,
            shasum=published.sha1.hex,
            blob_key=key,
            filename=name.tarball_filename(published.version),
            size=len(published.tarball),
            readme=published.readme,
            deprecated=None,
            publisher_id=publisher_id,
            published_ms=0,
            trusted_publisher=trusted_publisher,
        )
        scope = name.scope
        # Assigned scopes change only by an administrator's hand; read once, before the write.
        members = self.store.scope_members(scope) if scope else frozenset()
        # A pending publisher creates the package for the user who registered it (read before
        # the write transaction: a second connection inside it would wait on SQLite's lock).
        creator = self._pending_creator(trusted) if trusted is not None else None

        def decide(state: PackageState | None, scope_owner: int | None) -> PackageChange:
            claim = None
            owner = authority or creator
            if state is None:
                if existing_only:
                    raise NotFound(
                        f"{name.name} does not exist on this registry yet: publish its first "
                        "version directly, then stage the next ones"
                    )
                if owner is None:
                    raise Forbidden(
                        f"{name.name} does not exist; a trusted publisher can only create it "
                        "through a pending publisher a maintainer registered for the name"
                    )
                claim = check_new_package(
                    name, owner, self.settings.registry_scope_policy, scope_owner, members
                )
            else:
                if trusted is not None:
                    check_trusted_existing(trusted, state.name)
                elif authority is not None:
                    self._check_owner(state, authority, "publish")
                taken = previously_published(state.versions, published.version)
                if taken is not None:
                    raise Forbidden(
                        f"You cannot publish over the previously published versions: {taken}."
                    )
            self._check_packument_size(name, state, check.row)
            # What the commit did (the last call of decide runs under the package lock).
            check.created = state is None
            check.creator = None if owner is None else owner.id
            latest = published.tags.get("latest") == published.version or state is None
            description = published.manifest.get("description")
            keywords = published.manifest.get("keywords")
            return PackageChange(
                create=state is None,
                new_versions=(replace(check.row, published_ms=now_ms()),),
                set_tags=published.tags,
                maintainers=(owner.id,) if state is None and owner is not None else None,
                claim_scope=claim,
                description=(description if isinstance(description, str) else "")
                if latest
                else None,
                keywords=tuple(k for k in keywords if isinstance(k, str))
                if latest and isinstance(keywords, list)
                else (() if latest else None),
            )

        # Check everything against the current state first, so a refused publish writes
        # nothing; commit_publish writes the blob, then commits, re-checking under the lock.
        check = PublishCheck(name, published, row, decide, trusted)
        state = self.store.load_package(name.name)
        decide(state, self.store.scope_owner(scope) if scope else None)
        # The package's publish rules and a pending publisher's reservation (package_policy).
        enforce_publish_policy(
            self.trust_store,
            name.name,
            state,
            # A staged trusted publish approved by a maintainer is still a trusted publish.
            trusted=trusted is not None or trusted_publisher is not None,
            user_id=None if authority is None else authority.id,
            provenance=published.provenance is not None,
        )
        if published.provenance is not None:
            # Verified after the ownership checks (no work for strangers), before anything is
            # written: a refused bundle leaves no blob, no row, no log entry.
            verified = self._verify_provenance(name, published)
            if trusted is not None:
                bind_provenance(verified.facts, trusted.token.identity)
            check.row = replace(
                row,
                attestations=json.dumps(
                    [verified.attestation()], separators=(",", ":"), ensure_ascii=False
                ),
                manifest=json.dumps(published.manifest, separators=(",", ":"), ensure_ascii=False),
                provenance_facts=json.dumps(
                    verified.record.to_json(), separators=(",", ":"), ensure_ascii=False
                ),
            )
        return check

    def commit_publish(self, check: PublishCheck) -> None:
        """Write a checked publish: its blob, then one transaction that re-runs the check's
        decision under the package lock; then the registry's publish attestation."""
        name, published, trusted = check.name, check.published, check.trusted
        self.blobs.put(check.row.blob_key, published.tarball)
        try:
            self.store.write_package(name.name, check.decide)
        except StoreConflict as exc:
            raise Conflict(f"Concurrent publish of {name.name}; please retry") from exc
        finally:
            self._invalidate(name.name)
        # A publish that created the package settles its creator's pending publishers.
        after_publish(self.trust_store, name.name, created=check.created, creator=check.creator)
        if trusted is not None:
            self.trust_store.append_audit([publish_event(trusted, published.version)])
        if published.provenance is not None:
            # Only now, with the version committed, does the registry sign and log that it
            # accepted it. If the log is down the version stands (it is committed, immutable
            # and signed in dist.signatures) and the attestation follows when next read.
            self.publish_attestations.complete(name.name, published.version)

    def _pending_creator(self, trusted: TrustedPrincipal) -> StoredUser | None:
        """The user a pending publisher would create its package for."""
        publisher = trusted.publisher
        if not publisher.pending or publisher.created_by is None:
            return None
        if (publisher.pending_until_ms or 0) <= now_ms():
            return None
        return self.store.user_by_id(publisher.created_by)

    def _check_packument_size(
        self, name: PackageName, state: PackageState | None, row: StoredVersion
    ) -> None:
        """422 for the publish that would make the package's document larger than
        ``registry_max_packument_bytes`` (checked before the blob is written, and again under
        the package lock)."""
        limit = self.settings.registry_max_packument_bytes
        size = stored_size(state, row)
        if size > limit:
            raise Unprocessable(
                f"Publishing {name.name}@{row.version} would make the package's document "
                f"{size} bytes, over this registry's limit of {limit} bytes; unpublish old "
                "versions or publish under a new name",
                size=size,
                limit=limit,
            )

    @staticmethod
    def _check_owner(state: PackageState, user: StoredUser, action: str) -> None:
        if user.id not in {m.id for m in state.maintainers}:
            raise Forbidden(
                f"You do not have permission to {action} {state.name!r}. "
                "Are you logged in as the correct user?"
            )

    def _update(
        self, name: PackageName, body: Mapping[str, Any], rev: str | None, who: Principal
    ) -> dict[str, Any]:
        if "name" in body and body["name"] != name.name:
            raise BadRequest(f"The document's name {body['name']!r} does not match the URL")
        if "_id" in body and body["_id"] != name.name:
            raise BadRequest(f"The document's _id {body['_id']!r} does not match the URL")
        body_rev = body.get("_rev")
        given_rev = rev if rev is not None else body_rev if isinstance(body_rev, str) else None
        maintainers = (
            self._resolve_maintainers(body["maintainers"]) if "maintainers" in body else None
        )

        def decide(state: PackageState | None, _scope_owner: int | None) -> PackageChange:
            if state is None or not state.live_versions:
                if isinstance(body.get("versions"), dict) and body["versions"]:
                    raise BadRequest(
                        "No tarball attached: publishing a version needs its tarball in "
                        "_attachments (use `npm publish`)"
                    )
                raise NotFound("Not found")
            self._check_owner(state, who.user, "modify")
            check_rev(state, given_rev)
            return metadata_change(
                state, body, has_rev=given_rev is not None, maintainers=maintainers
            )

        try:
            result = self.store.write_package(name.name, decide)
        finally:
            self._invalidate(name.name)
        self._delete_blobs(result.orphaned_blobs)
        return {"ok": True, "id": name.name, "rev": str(result.rev)}

    def _resolve_maintainers(self, value: object) -> tuple[int, ...]:
        """User ids of a ``maintainers`` list, resolved before the write transaction (a second
        connection inside it would wait on SQLite's write lock)."""
        if not isinstance(value, list):
            raise BadRequest("maintainers must be a list of {name, email}")
        ids: list[int] = []
        for item in value:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                raise BadRequest("maintainers must be a list of {name, email}")
            user = self.store.user_by_name(name)
            if user is None:
                raise NotFound(f"No such user: {name}")
            ids.append(user.id)
        if not ids:
            raise BadRequest("Cannot remove all owners of a package. Add someone else first.")
        return tuple(ids)

    def delete_package(self, name: PackageName, rev: str | None, who: Caller | None) -> None:
        """``DELETE /<name>/-rev/<rev>``: unpublish every version (npm unpublish <name>)."""
        principal = require(who, "unpublish packages")

        def decide(state: PackageState | None, _scope_owner: int | None) -> PackageChange:
            if state is None or not state.live_versions:
                raise NotFound("Not found")
            self._check_owner(state, principal.user, "unpublish")
            check_rev(state, rev)
            return PackageChange(
                unpublish=tuple(state.live_versions), delete_tags=tuple(state.dist_tags)
            )

        try:
            result = self.store.write_package(name.name, decide)
        finally:
            self._invalidate(name.name)
        self._delete_blobs(result.orphaned_blobs)

    def delete_tarball(
        self, name: PackageName, filename: str, who: Caller | None
    ) -> dict[str, Any]:
        """``DELETE /<name>/-/<file>/-rev/<rev>``: the last step of ``npm unpublish <v>``.

        The PUT before it already unpublished the version and removed its blob; a tarball of a
        live version is refused (unpublish the version instead)."""
        principal = require(who, "unpublish packages")
        state = self.store.load_package(name.name)
        if state is None:
            raise NotFound("Not found")
        self._check_owner(state, principal.user, "unpublish")
        for row in state.versions.values():
            if row.filename == filename and row.live:
                raise BadRequest(
                    f"{filename} belongs to the published version {row.version}; "
                    "unpublish the version instead"
                )
        return {"ok": True}

    def _delete_blobs(self, keys: tuple[str, ...]) -> None:
        # Best effort: a blob left behind is unreferenced, never served, and swept later.
        for key in keys:
            try:
                self.blobs.delete(key)
            except Exception:  # noqa: S112 - sweep_orphans removes it later
                continue

    # --- dist-tags -----------------------------------------------------------------------------

    def dist_tags(self, name: PackageName) -> dict[str, str]:
        return dict(self.packument(name).data["dist-tags"])

    def set_dist_tag(
        self, name: PackageName, tag: str, version: object, who: Caller | None
    ) -> dict[str, Any]:
        principal = require(who, "change dist-tags")
        check_tag(tag)
        if not isinstance(version, str):
            raise BadRequest('The body must be a JSON string: the version, e.g. "1.0.0"')

        def decide(state: PackageState | None, _scope_owner: int | None) -> PackageChange:
            if state is None or not state.live_versions:
                raise NotFound("Not found")
            self._check_owner(state, principal.user, "change dist-tags of")
            if version not in state.live_versions:
                raise NotFound(f"version not found: {version}")
            return PackageChange(set_tags={tag: version})

        try:
            self.store.write_package(name.name, decide)
        finally:
            self._invalidate(name.name)
        return {"ok": True}

    def delete_dist_tag(self, name: PackageName, tag: str, who: Caller | None) -> None:
        principal = require(who, "change dist-tags")

        def decide(state: PackageState | None, _scope_owner: int | None) -> PackageChange:
            if state is None or not state.live_versions:
                raise NotFound("Not found")
            self._check_owner(state, principal.user, "change dist-tags of")
            if tag not in state.dist_tags:
                raise NotFound(f"{tag} is not a dist-tag on {name.name}")
            if tag == "latest":
                raise BadRequest("The latest dist-tag cannot be removed; move it instead")
            return PackageChange(delete_tags=(tag,))

        try:
            self.store.write_package(name.name, decide)
        finally:
            self._invalidate(name.name)

    # --- access --------------------------------------------------------------------------------

    def visibility(self, name: PackageName) -> dict[str, Any]:
        """Every package here is public (npm's provenance flow asks, §1.4 of the spec)."""
        self.packument(name)
        return {"public": True}

    def collaborators(self, name: PackageName) -> dict[str, str]:
        return {m["name"]: "read-write" for m in self.packument(name).data["maintainers"]}

    def set_access(self, name: PackageName, body: object, who: Caller | None) -> dict[str, Any]:
        principal = require(who, "change package access")
        state = self.store.load_package(name.name)
        if state is None or not state.live_versions:
            raise NotFound("Not found")
        self._check_owner(state, principal.user, "change access of")
        access = body.get("access") if isinstance(body, dict) else None
        if access == "public":
            return {"ok": True}
        if access in {"restricted", "private"}:
            raise BadRequest("This registry hosts public packages only")
        raise BadRequest("This registry supports only `npm access set status=public`")

    def user_packages(self, user_name: str) -> dict[str, str]:
        user = self.store.user_by_name(user_name)
        if user is None:
            raise NotFound("Not found")
        return dict.fromkeys(self.store.packages_of(user.id), "read-write")

    # --- search --------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> dict[str, Any]:
        names, total = self.store.search(query.words, query.size, query.offset)
        objects = []
        for package_name in names:
            try:
                packument = self.packument(PackageName(package_name))
            except NotFound:
                continue
            objects.append(search_object(packument.data, self.origin))
        return {"objects": objects, "total": total, "time": iso(now_ms())}


__all__ = [
    "Mirror",
    "PublishCheck",
    "RegistryService",
    "Tarball",
    "TarballStream",
    "open_blobs",
    "stored_size",
]
