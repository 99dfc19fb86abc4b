"""The publish document (``PUT /<name>`` with ``_attachments``), parsed and checked.

libnpmpublish ``lib/publish.js`` builds the body (specs/npm-registry.md §1.3): one version under
``versions``, its tarball base64-encoded under ``_attachments["<name>-<version>.tgz"]``, and
``dist.integrity`` (sha512 SRI) and ``dist.shasum`` (sha1 hex) of those bytes. Everything the
client claims is re-derived here from the bytes: both digests are recomputed and must match,
the tarball is read safely and once (assay.npm.tarball: files, ``package.json`` and README in
one pass, passed along as :attr:`PublishedVersion.contents`) and its ``package.json`` must name
the same package and version. Nothing the client says about ``dist.tarball`` is kept; the
registry serves the tarball from its own URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from assay.errors import ManifestError, StatementError, TarballError
from assay.limits import MAX_MANIFEST_BYTES
from assay.npm.confusion import manifest_difference
from assay.npm.confusion import tarball_manifest as normalised_tarball_manifest
from assay.npm.names import PackageName
from assay.npm.package_json import same_version
from assay.npm.tarball import TarballContents, TarballLimits, read_tarball
from assay.npm.versions import Version, is_version, looks_like_range
from assay.provenance.subject import Digest
from assay.registry.errors import BadRequest, PayloadTooLarge, Unprocessable

# Version-object fields the registry owns or that only make sense on a client; dropped from what
# the client sends (npmjs.org rewrites `_npmUser`, `dist`, `_id` the same way).
_CLIENT_ONLY = frozenset(
    {
        "_attachments",
        "_from",
        "_integrity",
        "_npmUser",
        "_resolved",
        "_rev",
        "_shasum",
        "_where",
        "_inBundle",
        "_requested",
        "_spec",
        "_location",
        "_phantomChildren",
        "_requiredBy",
        "_args",
        "_development",
        "_optional",
        "_cacheKey",
        "deprecated",
        "gitHead",
        "readme",
        "readmeFilename",
    }
)
MAX_README_BYTES = 64 * 1024  # npmjs.org truncates stored READMEs at 64 KiB as well


@dataclass(frozen=True, slots=True)
class PublishLimits:
    max_tarball_bytes: int
    tarball: TarballLimits


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    """One version to publish, every claim checked against the tarball."""

    name: PackageName
    version: str
    manifest: dict[str, Any]
    """The version object as stored: client-only fields gone, ``dist`` without the URL."""
    tarball: bytes
    contents: TarballContents
    """The tarball as read (once) by :func:`~assay.npm.tarball.read_tarball`."""
    sha512: Digest
    sha1: Digest
    readme: str | None
    tags: dict[str, str]
    access: str | None
    provenance: str | None = None
    """The ``.sigstore`` attachment's bundle JSON text, not yet verified."""


# A Sigstore bundle is a few KiB (a certificate, one log entry, the statement).
MAX_PROVENANCE_BYTES = 256 * 1024


def manifest_size(manifest: Mapping[str, Any]) -> int:
    """Bytes of a version object as the registry stores and serves it (compact JSON, UTF-8)."""
    text = json.dumps(manifest, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def check_manifest_size(name: PackageName, version: str, manifest: Mapping[str, Any]) -> None:
    """413 for a version object over :data:`~assay.limits.MAX_MANIFEST_BYTES` (the README is
    stored apart and not counted): every install of any version reads it in the packument."""
    size = manifest_size(manifest)
    if size > MAX_MANIFEST_BYTES:
        raise PayloadTooLarge(
            f"The manifest of {name.name}@{version} is {size} bytes, over this registry's "
            f"limit of {MAX_MANIFEST_BYTES} bytes per version (package.json without the README)",
            size=size,
            limit=MAX_MANIFEST_BYTES,
        )


def is_publish(body: Mapping[str, Any]) -> bool:
    """A PUT carrying attachments publishes; without them it updates metadata."""
    attachments = body.get("_attachments")
    return isinstance(attachments, dict) and bool(attachments)


def parse_publish(
    name: PackageName, body: Mapping[str, Any], limits: PublishLimits
) -> PublishedVersion:
    _check_document_name(name, body)
    versions = body.get("versions")
    if not isinstance(versions, dict) or len(versions) != 1:
        raise BadRequest("A publish must contain exactly one version under 'versions'")
    ((version, manifest),) = versions.items()
    if not isinstance(manifest, dict):
        raise BadRequest(f"versions[{version!r}] must be an object")
    if not is_version(version):
        raise BadRequest(f"Invalid version {version!r}: not a valid semver version")
    if manifest.get("name") != name.name:
        raise BadRequest(f"versions[{version!r}].name must be {name.name!r}")
    if manifest.get("version") != version:
        raise BadRequest(f"versions[{version!r}].version must be {version!r}")
    check_manifest_size(name, version, manifest)  # before any work on it

    attachments = body["_attachments"]
    expected_key = name.attachment_key(version)
    # libnpmpublish names the provenance attachment like the tarball, `.sigstore` for `.tgz`.
    provenance_key = expected_key.removesuffix(".tgz") + ".sigstore"
    if set(attachments) - {provenance_key} != {expected_key}:
        found = ", ".join(repr(k) for k in attachments)
        raise BadRequest(
            f"Expected an attachment named {expected_key!r} (and optionally "
            f"{provenance_key!r}), found {found}"
        )
    provenance = (
        _provenance_attachment(attachments[provenance_key])
        if provenance_key in attachments
        else None
    )
    tarball = _decode_attachment(attachments[expected_key], limits.max_tarball_bytes)

    sha512, sha1 = Digest.of(tarball, "sha512"), Digest.of(tarball, "sha1")
    dist = manifest.get("dist")
    if not isinstance(dist, dict):
        raise BadRequest(f"versions[{version!r}].dist is missing")
    _check_integrity(dist, sha512, sha1)

    try:
        contents = read_tarball(tarball, limits.tarball)
    except TarballError as exc:
        raise BadRequest(f"Invalid tarball: {exc.message}") from exc
    actual = tarball_manifest(contents)
    if actual.get("name") != name.name or not same_version(version, actual.get("version")):
        field = "name" if actual.get("name") != name.name else "version"
        raise BadRequest(
            f"The tarball's package.json is for {actual.get('name')}@{actual.get('version')}, "
            f"not {name.name}@{version} (versions[{version!r}].{field} differs from the "
            "tarball's)",
            field=field,
        )
    _check_confusion(version, manifest, actual, contents)

    stored = {k: v for k, v in actual.items() if k not in _CLIENT_ONLY}
    stored["name"], stored["version"] = name.name, version
    stored["_id"] = f"{name.name}@{version}"
    stored.update(_client_facts(manifest))
    stored["_hasShrinkwrap"] = contents.file("npm-shrinkwrap.json") is not None
    stored["dist"] = {
        "integrity": sha512.sri,
        "shasum": sha1.hex,
        "fileCount": len(contents.files),
        "unpackedSize": contents.unpacked_size,
    }
    check_manifest_size(name, version, stored)
    # The README shown is the tarball's (npm sends the one it packed, so they agree for every
    # real client); a request's `readme` is never displayed.
    readme = contents.readme
    return PublishedVersion(
        name=name,
        version=version,
        manifest=stored,
        tarball=tarball,
        contents=contents,
        sha512=sha512,
        sha1=sha1,
        readme=readme[:MAX_README_BYTES] if readme else None,
        tags=_tags(body, version),
        access=_access(body),
        provenance=provenance,
    )


def tarball_manifest(contents: TarballContents) -> dict[str, Any]:
    """The tarball's package.json as ``npm publish`` would have sent it (normalised)."""
    try:
        return normalised_tarball_manifest(contents)
    except ManifestError as exc:
        raise BadRequest(f"The tarball's package.json is invalid: {exc.message}") from exc


def _check_confusion(
    version: str,
    claimed: Mapping[str, Any],
    actual: Mapping[str, Any],
    contents: TarballContents,
) -> None:
    """Refuse a request whose manifest says otherwise than the tarball where it matters
    (:mod:`assay.npm.confusion`, the rule the mirror applies to upstream manifests too).

    Both sides go through the same normalisation first, so what the npm client sends (its own
    normalisation of the same package.json) always agrees; a difference is named by the field
    (as the request spelled it, for the ``bundledDependencies`` alias)."""
    try:
        field = manifest_difference(claimed, contents, actual)
    except ManifestError as exc:
        raise BadRequest(f"versions[{version!r}] is invalid: {exc.message}") from exc
    if field is None:
        return
    raise BadRequest(
        f"versions[{version!r}].{field} differs from the tarball's package.json: the registry "
        "serves the manifest in the tarball, so the request must describe the same package "
        "(publish with npm, or build the body from the packed package.json)",
        field=field,
    )


# What npm adds that the tarball cannot say, kept from the request when well-formed: the
# client's tool versions (libnpmpublish patchManifest), which say nothing about where the code
# came from. The body's `gitHead` (@npmcli/package-json's gitHead step) is a claim about the
# source, so it is never kept: a version with verified provenance gets the certificate's commit
# as `gitHead` instead (RegistryService._verify_provenance), every other version has none.
_TOOL_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,64}")


def _client_facts(manifest: Mapping[str, Any]) -> dict[str, str]:
    facts: dict[str, str] = {}
    for key in ("_nodeVersion", "_npmVersion"):
        value = manifest.get(key)
        if isinstance(value, str) and _TOOL_VERSION.fullmatch(value):
            facts[key] = value
    return facts


def previously_published(existing: Iterable[str], version: str) -> str | None:
    """The version among `existing` (published or unpublished) that `version` would publish
    over: the same one, or one that differs only in build metadata (``1.0.0+x`` and ``1.0.0``
    are one version to semver precedence and to npm, which drops build metadata when it
    cleans a version)."""
    wanted = Version.parse_or_none(version)
    for other in existing:
        if other == version or (wanted is not None and Version.parse_or_none(other) == wanted):
            return other
    return None


def _check_document_name(name: PackageName, body: Mapping[str, Any]) -> None:
    if body.get("name") != name.name:
        raise BadRequest(f"The document's name {body.get('name')!r} does not match the URL")
    if "_id" in body and body["_id"] != name.name:
        raise BadRequest(f"The document's _id {body['_id']!r} does not match the URL")


def _provenance_attachment(attachment: Any) -> str:
    """The bundle JSON of npm's `.sigstore` attachment (``data`` is the JSON *string*, §1.3)."""
    data = attachment.get("data") if isinstance(attachment, dict) else None
    if not isinstance(data, str) or not data:
        raise Unprocessable(
            "Error verifying sigstore provenance bundle: the .sigstore attachment has no data"
        )
    if len(data) > MAX_PROVENANCE_BYTES:
        raise Unprocessable(
            "Error verifying sigstore provenance bundle: the bundle is larger than "
            f"{MAX_PROVENANCE_BYTES} bytes"
        )
    return data


def _decode_attachment(attachment: Any, max_bytes: int) -> bytes:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        raise BadRequest("The tarball attachment must be an object with base64 'data'")
    data = attachment["data"]
    if len(data) > (max_bytes + 2) // 3 * 4 + 4:
        raise PayloadTooLarge(f"Tarball is larger than this registry's limit of {max_bytes} bytes")
    try:
        tarball = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("The tarball attachment's data is not valid base64") from exc
    if len(tarball) > max_bytes:
        raise PayloadTooLarge(f"Tarball is larger than this registry's limit of {max_bytes} bytes")
    if not tarball:
        raise BadRequest("The tarball attachment is empty")
    length = attachment.get("length")
    if length is not None and length != len(tarball):
        raise BadRequest(
            f"The tarball attachment's length {length!r} does not match its {len(tarball)} bytes"
        )
    return tarball


def _check_integrity(dist: Mapping[str, Any], sha512: Digest, sha1: Digest) -> None:
    integrity, shasum = dist.get("integrity"), dist.get("shasum")
    if integrity is None and shasum is None:
        raise BadRequest("dist.integrity (sha512) is missing")
    if integrity is not None:
        try:
            claimed = Digest.from_sri(integrity) if isinstance(integrity, str) else None
        except StatementError:
            claimed = None
        if claimed is None or claimed.algorithm != "sha512":
            raise BadRequest(f"dist.integrity must be a sha512 SRI string, got {integrity!r}")
        if claimed != sha512:
            raise BadRequest(
                f"dist.integrity {integrity} does not match the tarball (sha512 is {sha512.sri})"
            )
    if shasum is not None and (not isinstance(shasum, str) or shasum.lower() != sha1.hex):
        raise BadRequest(f"dist.shasum {shasum!r} does not match the tarball (sha1 is {sha1.hex})")


def _tags(body: Mapping[str, Any], version: str) -> dict[str, str]:
    tags = body.get("dist-tags", {"latest": version})
    if not isinstance(tags, dict):
        raise BadRequest("dist-tags must be an object")
    result: dict[str, str] = {}
    for tag, target in tags.items():
        check_tag(tag)
        if target != version:
            raise BadRequest(
                f"dist-tags.{tag} points at {target!r}; a publish can only tag {version}"
            )
        result[tag] = version
    return result


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > 256:
        raise BadRequest(f"Invalid dist-tag {tag!r}")
    if looks_like_range(tag):
        raise BadRequest(f"Tag name must not be a valid SemVer range: {tag}")
    if any(c in tag for c in "/\\%?#") or tag != tag.strip():
        raise BadRequest(f"Invalid dist-tag {tag!r}: must be URL-safe")
    return tag


def _access(body: Mapping[str, Any]) -> str | None:
    access = body.get("access")
    if access is None or access == "public":
        return access
    if access in {"restricted", "private"}:
        # No private packages here: storing them as public would publish what the user meant
        # to keep private, so refuse plainly instead.
        raise BadRequest("This registry hosts public packages only; publish with --access public")
    raise BadRequest(f"Invalid access {access!r}")
