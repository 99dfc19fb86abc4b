"""Staged publishes: ``npm stage publish|list|view|download|approve|reject`` (npm 11.15+).

A staged publish is a publish held back for a maintainer's review: the CI job (a maintainer's
token, or a trusted publisher whose exchanged token carries ``createStagedPackage``) uploads
the same document ``npm publish`` would, the registry checks it exactly as it would check that
publish (:meth:`RegistryService.check_publish`: parsing, limits, provenance verification,
ownership, "no publishing over a previous version"), keeps the tarball aside and answers with a
stage id. Nothing reaches the packument until a maintainer approves; the approval runs the
publish's checks again against the state of that moment and commits it like a direct publish
(registry signature, provenance, publish attestation), recording the *stager* as the version's
publisher (``_npmUser``, and ``trustedPublisher`` when a trusted publisher staged it).

The wire, pinned from npm's own source (``lib/commands/stage/*.js``,
``node_modules/libnpmpublish/lib/publish.js``, ``lib/utils/key-values.js`` ``logStageItem``,
``lib/utils/validate-uuid.js``) and npm's API description of ``/-/stage``:

* ``POST /-/stage/package/<escaped name>`` with the publish body → ``201 {"message", "stageId"}``
  (libnpmpublish reads ``stageId`` from the JSON answer).
* ``GET /-/stage?page=&perPage=&package=`` → ``{"items", "page", "perPage", "total"}``, newest
  first; ``npm stage list`` asks for ``perPage=100`` and stops at ``total`` or a short page.
* ``GET /-/stage/<id>`` → one item: ``id, packageName, version, tag, createdAt, actor,
  actorType, access, shasum, status`` (every other key ``logStageItem`` prints as it is).
* ``GET /-/stage/<id>/tarball`` → the bytes (``npm stage download`` writes them to a file).
* ``POST /-/stage/<id>/approve`` → ``201 {"message"}``; ``DELETE /-/stage/<id>`` → 204.

Rules (docs/registry-rules.md, docs/trusted-publishing.md):

* Only a package that exists can be staged (its maintainers are its reviewers); the first
  version of a new name is published directly.
* Only the package's maintainers see, download, approve or reject its staged versions; to
  anyone else an item does not exist (404, the same answer as for an unknown id). A
  trusted-publishing token never reviews (it can only stage); a read-only token may look but
  not approve or reject.
* A version already published (or unpublished: numbers are never reused) is refused at staging
  (403, as for a publish); one already staged is refused with 409.
* Assay has no two-factor authentication, so approve and reject ask for no OTP.
* Every stage, approval and rejection is written to the package's audit trail.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import FormatError
from assay.limits import parse_int
from assay.npm.names import PackageName
from assay.registry.accounts import (
    CREATE_STAGED_PACKAGE,
    Caller,
    Principal,
    TrustedPrincipal,
    require,
)
from assay.registry.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from assay.registry.packuments import iso
from assay.registry.publish import PublishedVersion, is_publish, previously_published
from assay.registry.trusted_publishing import trusted_publisher_record
from assay.storage.account_store import StoreConflict, StoredUser, now_ms
from assay.storage.trust_store import StoredStaged, audit_event

if TYPE_CHECKING:
    from assay.registry.service import RegistryService

# npm's lib/utils/validate-uuid.js: the client refuses any other stage id before asking.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# npm's API description of GET /-/stage: perPage defaults to 10, at most 100.
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
STAGED_PREFIX = "staged/"
"""Blob keys of staged tarballs: ``staged/<stage id>.tgz``, apart from the content-addressed
``tarballs/`` of live versions, so a rejection deletes its own blob and nothing else, and the
orphan sweep of ``tarballs/`` never touches a staged one."""

_NOT_FOUND = "No staged package version found with the provided ID."
USER = "user"
TRUSTED_AUTOMATION = "trusted automation"  # npm's actorType for a trusted publisher


@dataclass(frozen=True, slots=True)
class StagePage:
    """``page`` and ``perPage`` of ``GET /-/stage``, checked."""

    page: int
    per_page: int

    @classmethod
    def parse(cls, page: str | None, per_page: str | None) -> StagePage:
        number = _integer("page", page, 0, 0, MAX_PAGE)
        size = _integer("perPage", per_page, DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        return cls(number, size)


def _integer(field: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        return parse_int(value, field, minimum=low, maximum=high)
    except FormatError as exc:
        raise BadRequest(exc.message) from exc


def check_stage_id(stage_id: str) -> str:
    """A stage id is a UUID (npm validates it too); anything else is a client error."""
    if not _UUID.fullmatch(stage_id):
        raise BadRequest("stage-id must be a valid UUID")
    return stage_id.lower()


def trusted_publisher_json(principal: TrustedPrincipal) -> dict[str, Any]:
    """What a trusted publish records in ``registry_versions.trusted_publisher`` (the exchange's
    record: npm's ``_npmUser`` with ``trustedPublisher``, and the verified OIDC identity), kept
    with the staged row so that the approved version shows the same."""
    record: dict[str, Any] = json.loads(trusted_publisher_record(principal))
    return record


def _stager(who: Caller) -> tuple[dict[str, Any], str]:
    """The stager as stored with the staged row, and as the audit trail names it."""
    if isinstance(who, TrustedPrincipal):
        identity = who.token.identity
        repository = identity.get("repository") or who.publisher.claims.get("repository")
        name = f"{who.publisher.provider}:{repository}" if repository else who.publisher.id
        stager = {
            "type": TRUSTED_AUTOMATION,
            "name": str(name),
            "publisherId": who.publisher.id,
            "trustedPublisher": trusted_publisher_json(who),
        }
        return stager, f"trusted-publisher:{who.publisher.id}"
    return {"type": USER, "name": who.user.name, "userId": who.user.id}, f"user:{who.user.name}"


def _stored_body(body: Mapping[str, Any], published: PublishedVersion) -> dict[str, Any]:
    """The publish document as kept with the staged row: the tarball's bytes go to the blob
    store (only its length stays), and ``dist.shasum`` is the one computed from the bytes."""
    tarball_key = published.name.attachment_key(published.version)
    attachments = dict(body["_attachments"])
    attachments[tarball_key] = {
        "content_type": "application/octet-stream",
        "length": len(published.tarball),
    }
    ((version, manifest),) = body["versions"].items()
    manifest = {**manifest, "dist": {**manifest["dist"], "shasum": published.sha1.hex}}
    return {**body, "versions": {version: manifest}, "_attachments": attachments}


def _publish_body(staged: StoredStaged, tarball: bytes) -> dict[str, Any]:
    """The publish document again, with the tarball's bytes back in their attachment."""
    name = PackageName.parse(staged.package)
    key = name.attachment_key(staged.version)
    attachments = dict(staged.body["_attachments"])
    attachments[key] = {
        "content_type": "application/octet-stream",
        "data": base64.b64encode(tarball).decode("ascii"),
        "length": len(tarball),
    }
    return {**staged.body, "_attachments": attachments}


def stage_item(staged: StoredStaged) -> dict[str, Any]:
    """A staged publish as ``npm stage list`` and ``npm stage view`` show it."""
    body = staged.body
    manifest = body["versions"][staged.version]
    tags = [t for t, target in (body.get("dist-tags") or {}).items() if target == staged.version]
    name = PackageName.parse(staged.package)
    provenance_key = name.attachment_key(staged.version).removesuffix(".tgz") + ".sigstore"
    return {
        "id": staged.id,
        "packageName": staged.package,
        "version": staged.version,
        "tag": tags[0] if tags else "latest",
        "createdAt": iso(staged.created_ms),
        "actor": staged.stager.get("name"),
        "actorType": staged.stager.get("type"),
        "access": "public",
        "shasum": manifest["dist"]["shasum"],
        "status": "staged",
        # Assay's additions (logStageItem prints them as they are): the tarball's sha512 and
        # whether a provenance bundle came with it (verified when it was staged, and again
        # when it is approved).
        "integrity": staged.integrity,
        "provenance": provenance_key in body["_attachments"],
    }


class StagedPublishes:
    """The ``/-/stage`` routes' operations over a :class:`RegistryService`."""

    def __init__(self, service: RegistryService) -> None:
        self.service = service
        self.trust = service.trust_store

    # --- stage -------------------------------------------------------------------------------

    def stage(
        self, name: PackageName, body: Mapping[str, Any], who: Caller | None
    ) -> dict[str, Any]:
        """``POST /-/stage/package/<name>``: check the publish, keep it aside, answer its id."""
        authority = self._stager_authority(name, who)
        if not is_publish(body):
            raise BadRequest(
                "A staged publish carries its tarball in _attachments, like a publish "
                "(use `npm stage publish`)"
            )
        assert who is not None  # noqa: S101 - _stager_authority refused nobody
        published = self.service.parse_publish(name, body)
        self.service.check_publish(
            name,
            published,
            authority,
            publisher_id=authority.id if authority is not None else None,
            trusted=who if isinstance(who, TrustedPrincipal) else None,
            existing_only=True,
        )
        staged_versions, _ = self.trust.staged_list([name.name], 0, 10_000)
        taken = previously_published([s.version for s in staged_versions], published.version)
        if taken is not None:
            raise Conflict(f"{name.name}@{taken} is already staged; approve or reject it first")
        stager, actor = _stager(who)
        stage_id = str(uuid.uuid4())
        key = f"{STAGED_PREFIX}{stage_id}.tgz"
        staged = StoredStaged(
            id=stage_id,
            package=name.name,
            version=published.version,
            body=_stored_body(body, published),
            blob_key=key,
            integrity=published.sha512.sri,
            size=len(published.tarball),
            stager=stager,
            created_ms=now_ms(),
        )
        event = audit_event(
            name.name, actor, "stage.add", stageId=stage_id, version=published.version
        )
        self.service.blobs.put(key, published.tarball)
        try:
            self.trust.add_staged(staged, [event])
        except StoreConflict as exc:
            self.service.blobs.delete(key)
            raise Conflict(
                f"{name.name}@{published.version} is already staged; approve or reject it first"
            ) from exc
        return {"message": "Package version staged successfully.", "stageId": stage_id}

    @staticmethod
    def _stager_authority(name: PackageName, who: Caller | None) -> StoredUser | None:
        """The user whose ownership the stage is checked against, or None for a trusted
        publisher whose token may stage `name` (checked here)."""
        if isinstance(who, TrustedPrincipal):
            if not who.may(CREATE_STAGED_PACKAGE, name.name):
                raise Forbidden(
                    f"This trusted-publishing token may not stage {name.name}: its publisher "
                    "lacks the createStagedPackage permission for that package"
                )
            return None
        return require(who, "stage packages").user

    # --- review ------------------------------------------------------------------------------

    def list(self, who: Caller | None, page: StagePage, package: str | None) -> dict[str, Any]:
        """``GET /-/stage``: the staged versions of the packages `who` maintains."""
        reviewer = self._reviewer(who, "list staged packages", write=False)
        packages = self.service.store.packages_of(reviewer.user.id)
        if package is not None:
            wanted = PackageName.parse(package).name
            packages = [wanted] if wanted in packages else []
        items: list[dict[str, Any]] = []
        total = 0
        if packages:
            rows, total = self.trust.staged_list(
                packages, page.page * page.per_page, page.per_page, newest_first=True
            )
            items = [stage_item(row) for row in rows]
        return {"items": items, "page": page.page, "perPage": page.per_page, "total": total}

    def view(self, stage_id: str, who: Caller | None) -> dict[str, Any]:
        """``GET /-/stage/<id>``."""
        reviewer = self._reviewer(who, "view staged packages", write=False)
        return stage_item(self._visible(stage_id, reviewer))

    def tarball(self, stage_id: str, who: Caller | None) -> bytes:
        """``GET /-/stage/<id>/tarball``: the bytes as staged."""
        reviewer = self._reviewer(who, "download staged packages", write=False)
        staged = self._visible(stage_id, reviewer)
        data = self.service.blobs.get(staged.blob_key)
        if data is None:
            raise NotFound(_NOT_FOUND)
        return data

    def approve(self, stage_id: str, who: Caller | None) -> dict[str, Any]:
        """``POST /-/stage/<id>/approve``: publish the staged version, as its stager, checked
        again in full against the state of this moment; then the staged row and blob go."""
        reviewer = self._reviewer(who, "approve staged packages", write=True)
        staged = self._visible(stage_id, reviewer)
        data = self.service.blobs.get(staged.blob_key)
        if data is None:
            raise NotFound(_NOT_FOUND)
        name = PackageName.parse(staged.package)
        published = self.service.parse_publish(name, _publish_body(staged, data))
        if published.version != staged.version:  # the stored document is the registry's own
            raise Conflict("The staged document does not match its version; reject it")
        trusted = staged.stager.get("trustedPublisher")
        user_id = staged.stager.get("userId")
        check = self.service.check_publish(
            name,
            published,
            reviewer.user,
            publisher_id=user_id if isinstance(user_id, int) else None,
            trusted_publisher=None
            if trusted is None
            else json.dumps(trusted, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
        )
        self.service.commit_publish(check)
        event = audit_event(
            name.name,
            f"user:{reviewer.user.name}",
            "stage.approve",
            stageId=staged.id,
            version=staged.version,
            stager=staged.stager.get("name"),
        )
        self.trust.delete_staged(staged.id, [event])
        self._delete_blob(staged.blob_key)
        return {
            "message": "Package version approved and published successfully.",
            "id": name.name,
            "version": staged.version,
        }

    def reject(self, stage_id: str, who: Caller | None) -> None:
        """``DELETE /-/stage/<id>``: the staged row and its tarball go; nothing is published."""
        reviewer = self._reviewer(who, "reject staged packages", write=True)
        staged = self._visible(stage_id, reviewer)
        event = audit_event(
            staged.package,
            f"user:{reviewer.user.name}",
            "stage.reject",
            stageId=staged.id,
            version=staged.version,
            stager=staged.stager.get("name"),
        )
        if not self.trust.delete_staged(staged.id, [event]):
            raise NotFound(_NOT_FOUND)  # a concurrent approve or reject took it
        self._delete_blob(staged.blob_key)

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _reviewer(who: Caller | None, action: str, *, write: bool) -> Principal:
        if who is None:
            raise Unauthorized(f"You must be logged in to {action}. Run `npm login` first.")
        if isinstance(who, TrustedPrincipal):
            # A CI job stages; only a person reviews (the point of staging).
            raise Forbidden(
                f"This token was issued by trusted publishing for {who.package}; "
                f"it can only publish or stage that package, not {action}"
            )
        return require(who, action, write=write)

    def _visible(self, stage_id: str, reviewer: Principal) -> StoredStaged:
        """The staged row if `reviewer` maintains its package; to anyone else it does not
        exist (the same 404 as an unknown id, so ids cannot be probed)."""
        staged = self.trust.staged(check_stage_id(stage_id))
        if staged is None:
            raise NotFound(_NOT_FOUND)
        state = self.service.store.load_package(staged.package)
        if state is None or reviewer.user.id not in {m.id for m in state.maintainers}:
            raise NotFound(_NOT_FOUND)
        return staged

    def _delete_blob(self, key: str) -> None:
        # Best effort: a staged blob left behind is never served (no row names it).
        with contextlib.suppress(Exception):
            self.service.blobs.delete(key)


__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "STAGED_PREFIX",
    "StagePage",
    "StagedPublishes",
    "check_stage_id",
    "stage_item",
    "trusted_publisher_json",
]
