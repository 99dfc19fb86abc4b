"""Packuments: the JSON documents npm reads for a package, built once and served as bytes.

Two forms, as registry.npmjs.org serves them:

* full (``Accept: application/json``): ``_id, _rev, name, description, dist-tags, versions,
  time, maintainers, readme`` plus the latest version's ``license, homepage, repository,
  keywords, author, bugs``. ``time`` has ``created``, ``modified`` and one entry per version
  (pacote compares it with signing keys' expiry, specs/npm-registry.md §3.1).
* abbreviated ("corgi", ``Accept: application/vnd.npm.install-v1+json``, what ``npm install``
  asks for): ``name, modified, dist-tags, versions`` with only the fields an install needs
  (the list npm/registry documents in ``responses/package-metadata.md``).

What the registry verified about a version's provenance (the signing certificate's facts, the
statement check, the source check: :class:`assay.registry.provenance.ProvenanceRecord`) is
served in the full packument under ``versions[v].dist.attestations.provenance.verified`` — an
Assay key beside npm's ``predicateType`` (docs/provenance-facts.md); the abbreviated document
leaves it out, as an install does not need it.

A :class:`Packument` holds both serializations and their ETags, each also gzip-compressed once
when it is built, so serving one is a dictionary lookup and a write: no JSON or compression work
on the hot path. npm asks for ``Accept-Encoding: gzip`` (make-fetch-happen); the gzip bytes are a
second representation of the same document with its own strong ETag (RFC 9110 §8.8.3: a strong
validator differs between content codings), served by :func:`representation`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from assay.npm.names import PackageName
from assay.npm.versions import Version, highest
from assay.storage.registry_store import Maintainer, PackageState, StoredVersion

CORGI_TYPE = "application/vnd.npm.install-v1+json"
VERIFIED_KEY = "verified"
"""Assay's key in ``dist.attestations.provenance``: the stored provenance record."""

_CORGI_FIELDS = (
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "license",
    "_hasShrinkwrap",
    "hasInstallScript",
)
_TOP_LEVEL_FROM_LATEST = ("license", "homepage", "repository", "keywords", "author", "bugs")
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


GZIP_LEVEL = 6
"""zlib's default. Measured on a 30-version full packument: level 6 compresses to the same size
as level 9 (within 0.1%) in two thirds of its time, and 4% smaller than level 1. It runs once
per change of the package, not per request."""


@dataclass(frozen=True, slots=True)
class Document:
    """One serialization, as JSON bytes and gzip-compressed, each with its strong ETag."""

    body: bytes
    etag: str
    gzip: bytes
    gzip_etag: str

    @property
    def size(self) -> int:
        """The bytes it holds in memory (what the packument cache counts)."""
        return len(self.body) + len(self.gzip)


@dataclass(frozen=True, slots=True)
class Packument:
    """Both serializations of one package at one rev."""

    name: str
    rev: int
    full: Document
    corgi: Document
    last_modified: str
    """HTTP-date of the last change (``Last-Modified``)."""
    data: dict[str, Any]
    """The full document as an object (for maintenance commands and search)."""
    # The mirror (assay.mirror): an upstream package's packument, and headers to send with it.
    mirrored: bool = False
    headers: tuple[tuple[str, str], ...] = ()


def iso(ms: int) -> str:
    """npm's timestamps: ISO 8601 in UTC with milliseconds (``2024-01-02T03:04:05.678Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def revision(state: PackageState) -> str:
    """CouchDB-style ``_rev`` (``<n>-<hash>``); npm echoes it back in ``/-rev/<rev>`` URLs."""
    tag = hashlib.sha256(f"{state.name}:{state.rev}".encode()).hexdigest()[:16]
    return f"{state.rev}-{tag}"


def tarball_url(origin: str, name: PackageName, filename: str) -> str:
    return f"{origin}/{name.name}/-/{filename}"


def attestations_url(origin: str, name: PackageName, version: str) -> str:
    """npmjs.org's form, a lower-case ``%2f`` in scoped names (npm-registry spec §3.1)."""
    return f"{origin}/-/npm/v1/attestations/{name.escaped}@{version}"


def version_object(
    row: StoredVersion, name: PackageName, origin: str, publisher: Maintainer | None
) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(row.manifest)
    dist = dict(manifest.get("dist", {}))
    dist["tarball"] = tarball_url(origin, name, row.filename)
    if isinstance(dist.get("attestations"), dict):
        # Stored without the URL, which is the reader's origin (like the tarball's).
        dist["attestations"] = {
            "url": attestations_url(origin, name, row.version),
            **dist["attestations"],
        }
        provenance = dist["attestations"].get("provenance")
        if row.provenance_facts is not None and isinstance(provenance, dict):
            dist["attestations"]["provenance"] = {
                **provenance,
                VERIFIED_KEY: json.loads(row.provenance_facts),
            }
    manifest["dist"] = dist
    if row.deprecated:
        manifest["deprecated"] = row.deprecated
    if row.trusted_publisher is not None:
        # npm's form for a trusted publish: the CI's name and `trustedPublisher`
        # (registry/trusted_publishing.py); the verified identity stays in the row.
        manifest["_npmUser"] = json.loads(row.trusted_publisher)["npmUser"]
    elif publisher is not None:
        manifest["_npmUser"] = {"name": publisher.name, "email": publisher.email}
    scripts = manifest.get("scripts")
    if isinstance(scripts, dict) and any(s in scripts for s in _INSTALL_SCRIPTS):
        manifest["hasInstallScript"] = True
    return manifest


def latest_version(state: PackageState) -> str | None:
    live = state.live_versions
    tagged = state.dist_tags.get("latest")
    if tagged in live:
        return tagged
    return highest(list(live))


def build(state: PackageState, origin: str) -> Packument | None:
    """Both documents for `state`, or None when no version is live (the package reads as 404)."""
    live = state.live_versions
    if not live:
        return None
    name = PackageName(state.name)
    ordered = sorted(live.values(), key=_version_order)
    versions = {
        row.version: version_object(row, name, origin, state.publishers.get(row.publisher_id or -1))
        for row in ordered
    }
    latest = latest_version(state)
    latest_manifest = versions[latest] if latest else {}
    time = {"created": iso(state.created_ms), "modified": iso(state.modified_ms)}
    time.update({row.version: iso(row.published_ms) for row in ordered})
    full: dict[str, Any] = {
        "_id": state.name,
        "_rev": revision(state),
        "name": state.name,
        "dist-tags": dict(state.dist_tags),
        "versions": versions,
        "time": time,
        "maintainers": [{"name": m.name, "email": m.email} for m in state.maintainers],
    }
    if isinstance(latest_manifest.get("description"), str):
        full["description"] = latest_manifest["description"]
    for key in _TOP_LEVEL_FROM_LATEST:
        if key in latest_manifest:
            full[key] = latest_manifest[key]
    readme_row = live.get(latest) if latest else None
    full["readme"] = (readme_row.readme if readme_row else None) or ""
    corgi = {
        "name": state.name,
        "modified": time["modified"],
        "dist-tags": dict(state.dist_tags),
        "versions": {v: _corgi_version(manifest) for v, manifest in versions.items()},
    }
    return Packument(
        name=state.name,
        rev=state.rev,
        full=_document(full),
        corgi=_document(corgi),
        last_modified=format_datetime(
            datetime.fromtimestamp(state.modified_ms / 1000, tz=UTC), usegmt=True
        ),
        data=full,
    )


def _corgi_version(manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields an install needs; ``dist`` without the verified provenance record."""
    version = {k: manifest[k] for k in _CORGI_FIELDS if k in manifest}
    attestations = version.get("dist", {}).get("attestations")
    if isinstance(attestations, dict) and isinstance(attestations.get("provenance"), dict):
        provenance = {k: v for k, v in attestations["provenance"].items() if k != VERIFIED_KEY}
        version["dist"] = {
            **version["dist"],
            "attestations": {**attestations, "provenance": provenance},
        }
    return version


def _version_order(row: StoredVersion) -> tuple[int, Version | None, str]:
    parsed = Version.parse_or_none(row.version)
    return (0, parsed, "") if parsed is not None else (1, None, row.version)


def _document(value: dict[str, Any]) -> Document:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    tag = hashlib.sha256(body).hexdigest()[:32]
    # mtime=0: the same document compresses to the same bytes on every node and worker.
    packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    return Document(body, f'"{tag}"', packed, f'"{tag}-gzip"')


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header (RFC 9110 §12.5.3) allows gzip: ``gzip`` (or its
    alias ``x-gzip``) with a q-value above 0, or, when gzip is not named, ``*`` above 0.
    ``gzip;q=0`` refuses it whatever ``*`` says."""
    if not accept_encoding:
        return False
    if len(accept_encoding) > _CACHED_HEADER_CHARS:  # a client's long header is not kept
        return _accepts_gzip.__wrapped__(accept_encoding)
    return _accepts_gzip(accept_encoding)


_CACHED_HEADER_CHARS = 128


@functools.lru_cache(maxsize=256)
def _accepts_gzip(accept_encoding: str) -> bool:
    # Cached: clients send a handful of distinct headers, and this runs on every packument read.
    named: float | None = None
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        quality = _quality(params)
        if coding in {"gzip", "x-gzip"}:
            named = quality if named is None else max(named, quality)
        elif coding == "*":
            star = quality
    if named is not None:
        return named > 0
    return star is not None and star > 0


def _quality(params: str) -> float:
    """The ``q`` parameter's weight (RFC 9110 §12.4.2); 1 when absent, 0 when malformed (a
    weight that cannot be read is not taken as a yes)."""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0.0 <= weight <= 1.0 else 0.0
    return 1.0


# The mirror (assay.mirror.served) builds upstream packuments with the same two forms.
corgi_document = _corgi_version
document = _document
