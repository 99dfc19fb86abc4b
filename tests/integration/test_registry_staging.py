"""Staged publishes over HTTP (httpx against uvicorn on loopback), on both storage backends.

The rules of registry/staging.py, each driven through the real routes: what a stage stores and
what it does not publish, who sees and reviews an item, what approval publishes (and as whom),
what rejection removes, and every refusal leaving nothing behind. The trusted-publisher path
is driven in process with a principal built from TrustStore rows (the token exchange that
mints such tokens over HTTP is tested with it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from assay.npm.names import PackageName
from assay.registry.accounts import (
    CREATE_PACKAGE,
    CREATE_STAGED_PACKAGE,
    TrustedPrincipal,
    hash_token,
)
from assay.registry.errors import Forbidden
from assay.registry.service import RegistryService
from assay.registry.staging import STAGED_PREFIX, StagedPublishes, StagePage
from assay.registry.trusted_publishing import trusted_publisher_record
from assay.settings import Settings
from assay.storage.account_store import now_ms
from assay.storage.registry_store import PackageChange
from assay.storage.trust_store import StoredOidcToken, StoredPublisher
from tests.services import RunningRegistry, running_registry
from tests.unit.registry.tarballs import publish_body, tarball


@dataclass
class Api:
    registry: RunningRegistry
    client: httpx.Client
    alice: str
    bob: str

    @property
    def service(self) -> RegistryService:
        return self.registry.service

    def send(
        self, method: str, path: str, token: str | None, body: Any = None, **params: Any
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        content = None if body is None else json.dumps(body).encode()
        if content is not None:
            headers["content-type"] = "application/json"
        return self.client.request(
            method, path, content=content, headers=headers, params=params or None
        )

    def publish(self, name: str, version: str, token: str | None = None) -> httpx.Response:
        return self.send(
            "PUT", "/" + name.replace("/", "%2f"), token or self.alice, publish_body(name, version)
        )

    def stage(self, name: str, body: Any, token: str | None = None) -> httpx.Response:
        path = "/-/stage/package/" + name.replace("/", "%2f")
        return self.send("POST", path, token or self.alice, body)

    def versions(self, name: str) -> list[str]:
        got = self.client.get("/" + name.replace("/", "%2f"))
        return list(got.json()["versions"]) if got.status_code == 200 else []

    def staged_blobs(self) -> list[str]:
        return sorted(info.key for info in self.service.blobs.list(STAGED_PREFIX))

    def audit(self, name: str) -> list[tuple[str, str]]:
        return [(e.actor, e.action) for e in self.service.trust_store.audit_events(name)][::-1]


@pytest.fixture
def api(registry_settings: Settings) -> Iterator[Api]:
    with running_registry(registry_settings) as registry:
        accounts = registry.service.accounts
        alice = accounts.add_user("alice", "alice@example.com", "alice-password")
        bob = accounts.add_user("bob", "bob@example.com", "bob-password")
        alice_token, _ = accounts.issue_token(alice)
        bob_token, _ = accounts.issue_token(bob)
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            yield Api(registry, client, alice_token, bob_token)


def test_stage_review_approve(api: Api) -> None:
    assert api.publish("lib", "1.0.0").status_code == 201
    body = publish_body("lib", "1.1.0", description="next", tags={"next": "1.1.0"})
    data = base64.b64decode(body["_attachments"]["lib-1.1.0.tgz"]["data"])

    staged = api.stage("lib", body)
    assert staged.status_code == 201, staged.text
    stage_id = staged.json()["stageId"]
    assert str(uuid.UUID(stage_id)) == stage_id
    assert staged.json()["message"]
    # Nothing is published: the packument and the version URL do not know it.
    assert api.versions("lib") == ["1.0.0"]
    assert api.client.get("/lib/1.1.0").status_code == 404
    assert api.client.get("/lib/-/lib-1.1.0.tgz").status_code == 404

    listed = api.send("GET", "/-/stage", api.alice, page=0, perPage=100)
    assert listed.status_code == 200
    assert listed.json()["total"] == 1
    (item,) = listed.json()["items"]
    assert item == {
        "id": stage_id,
        "packageName": "lib",
        "version": "1.1.0",
        "tag": "next",
        "createdAt": item["createdAt"],
        "actor": "alice",
        "actorType": "user",
        "access": "public",
        "shasum": hashlib.sha1(data).hexdigest(),  # noqa: S324 - npm's shasum
        "status": "staged",
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        "provenance": False,
    }
    assert item["createdAt"].endswith("Z")
    assert api.send("GET", f"/-/stage/{stage_id}", api.alice).json() == item
    # The id is accepted in upper case too (npm's UUID check is case-insensitive).
    assert api.send("GET", f"/-/stage/{stage_id.upper()}", api.alice).json() == item
    got = api.send("GET", f"/-/stage/{stage_id}/tarball", api.alice)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.content == data

    approved = api.send("POST", f"/-/stage/{stage_id}/approve", api.alice)
    assert approved.status_code == 201, approved.text
    assert approved.json()["message"]
    doc = api.client.get("/lib").json()
    assert list(doc["versions"]) == ["1.0.0", "1.1.0"]
    assert doc["dist-tags"] == {"latest": "1.0.0", "next": "1.1.0"}
    version = doc["versions"]["1.1.0"]
    assert version["_npmUser"] == {"name": "alice", "email": "alice@example.com"}
    assert version["dist"]["signatures"][0]["keyid"].startswith("SHA256:")
    assert api.client.get("/lib/-/lib-1.1.0.tgz").content == data
    # The staged row and its blob are gone; the audit trail has both steps.
    assert api.send("GET", f"/-/stage/{stage_id}", api.alice).status_code == 404
    assert api.send("GET", "/-/stage", api.alice).json() == {
        "items": [],
        "page": 0,
        "perPage": 10,
        "total": 0,
    }
    assert api.staged_blobs() == []
    assert api.audit("lib") == [("user:alice", "stage.add"), ("user:alice", "stage.approve")]


def test_approval_publishes_as_the_stager(api: Api) -> None:
    assert api.publish("shared", "1.0.0").status_code == 201
    bob = api.service.store.user_by_name("bob")
    assert bob is not None
    api.service.store.write_package(
        "shared",
        lambda state, _owner: PackageChange(
            maintainers=(*(m.id for m in state.maintainers), bob.id) if state else ()
        ),
    )
    stage_id = api.stage("shared", publish_body("shared", "2.0.0"), api.bob).json()["stageId"]
    # Another maintainer approves; the version records bob, who staged it.
    assert api.send("POST", f"/-/stage/{stage_id}/approve", api.alice).status_code == 201
    version = api.client.get("/shared/2.0.0").json()
    assert version["_npmUser"] == {"name": "bob", "email": "bob@example.com"}
    assert api.audit("shared") == [("user:bob", "stage.add"), ("user:alice", "stage.approve")]


def test_reject_removes_the_row_and_its_blob(api: Api) -> None:
    assert api.publish("lib", "1.0.0").status_code == 201
    stage_id = api.stage("lib", publish_body("lib", "1.1.0")).json()["stageId"]
    assert len(api.staged_blobs()) == 1
    rejected = api.send("DELETE", f"/-/stage/{stage_id}", api.alice)
    assert rejected.status_code == 204
    assert api.staged_blobs() == []
    assert api.send("GET", f"/-/stage/{stage_id}", api.alice).status_code == 404
    assert api.send("POST", f"/-/stage/{stage_id}/approve", api.alice).status_code == 404
    assert api.versions("lib") == ["1.0.0"]
    assert api.audit("lib") == [("user:alice", "stage.add"), ("user:alice", "stage.reject")]
    # The number was never published, so it can be staged again.
    assert api.stage("lib", publish_body("lib", "1.1.0")).status_code == 201


def test_refusals_store_nothing(api: Api) -> None:
    assert api.publish("lib", "1.0.0").status_code == 201

    def nothing_staged() -> None:
        assert api.service.trust_store.staged_list(None, 0, 100) == ([], 0)
        assert api.staged_blobs() == []

    # A name that does not exist yet: its first version is published directly.
    new = api.stage("brand-new", publish_body("brand-new", "1.0.0"))
    assert new.status_code == 404
    assert "does not exist" in new.json()["error"]
    # Over a published version, as for a publish.
    over = api.stage("lib", publish_body("lib", "1.0.0"))
    assert over.status_code == 403
    assert "previously published versions: 1.0.0" in over.json()["error"]
    # Not a maintainer.
    stranger = api.stage("lib", publish_body("lib", "1.2.0"), api.bob)
    assert stranger.status_code == 403
    assert "permission to publish 'lib'" in stranger.json()["error"]
    # Nobody.
    assert (
        api.send("POST", "/-/stage/package/lib", None, publish_body("lib", "1.2.0")).status_code
        == 401
    )
    # No tarball; a tarball that does not match its integrity; a body for another name.
    bare = publish_body("lib", "1.2.0")
    del bare["_attachments"]
    assert api.stage("lib", bare).status_code == 400
    wrong = publish_body("lib", "1.2.0", data=tarball("lib", "1.2.0"))
    wrong["versions"]["1.2.0"]["dist"]["integrity"] = (
        "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    )
    assert api.stage("lib", wrong).status_code == 400
    assert api.stage("other", publish_body("lib", "1.2.0")).status_code == 400
    # A provenance bundle that does not verify (this registry has no trusted roots).
    signed = publish_body("lib", "1.2.0")
    signed["_attachments"]["lib-1.2.0.sigstore"] = {
        "content_type": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "data": json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}),
    }
    assert api.stage("lib", signed).status_code == 422
    nothing_staged()

    # Staged once: the same version (or the same with other build metadata) is a conflict.
    assert api.stage("lib", publish_body("lib", "1.2.0")).status_code == 201
    again = api.stage("lib", publish_body("lib", "1.2.0"))
    assert again.status_code == 409
    assert "already staged" in again.json()["error"]
    assert api.stage("lib", publish_body("lib", "1.2.0+build.7")).status_code == 409
    assert len(api.staged_blobs()) == 1


def test_only_maintainers_see_or_review(api: Api) -> None:
    assert api.publish("lib", "1.0.0").status_code == 201
    stage_id = api.stage("lib", publish_body("lib", "1.1.0")).json()["stageId"]
    unknown = str(uuid.uuid4())
    # To a non-maintainer the item does not exist: the same 404 as an unknown id.
    for method, path in (
        ("GET", f"/-/stage/{stage_id}"),
        ("GET", f"/-/stage/{stage_id}/tarball"),
        ("POST", f"/-/stage/{stage_id}/approve"),
        ("DELETE", f"/-/stage/{stage_id}"),
    ):
        refused = api.send(method, path, api.bob)
        assert refused.status_code == 404, (method, path)
        assert refused.json() == api.send(method, path.replace(stage_id, unknown), api.alice).json()
        assert api.send(method, path, None).status_code == 401
        assert api.send(method, path.replace(stage_id, "not-a-uuid"), api.alice).status_code == 400
    assert api.send("GET", "/-/stage", api.bob).json()["items"] == []
    assert api.send("GET", "/-/stage", api.bob, package="lib").json()["total"] == 0
    assert api.send("GET", "/-/stage", None).status_code == 401
    assert api.versions("lib") == ["1.0.0"]

    # A read-only token looks but does not approve or reject.
    alice = api.service.store.user_by_name("alice")
    assert alice is not None
    readonly, _ = api.service.accounts.issue_token(alice, readonly=True)
    assert api.send("GET", f"/-/stage/{stage_id}", readonly).status_code == 200
    assert api.send("POST", f"/-/stage/{stage_id}/approve", readonly).status_code == 403
    assert api.send("DELETE", f"/-/stage/{stage_id}", readonly).status_code == 403
    assert api.versions("lib") == ["1.0.0"]
    assert api.audit("lib") == [("user:alice", "stage.add")]


def test_list_pages_and_filters(api: Api) -> None:
    for name in ("a-lib", "b-lib"):
        assert api.publish(name, "1.0.0").status_code == 201
    ids = [
        api.stage(name, publish_body(name, version)).json()["stageId"]
        for name, version in (("a-lib", "1.1.0"), ("b-lib", "1.1.0"), ("a-lib", "1.2.0"))
    ]
    # Newest first, as npm's API describes; npm stops at `total` or at a short page.
    first = api.send("GET", "/-/stage", api.alice, page=0, perPage=2).json()
    assert [i["id"] for i in first["items"]] == ids[::-1][:2]
    assert (first["total"], first["page"], first["perPage"]) == (3, 0, 2)
    second = api.send("GET", "/-/stage", api.alice, page=1, perPage=2).json()
    assert [i["id"] for i in second["items"]] == [ids[0]]
    only = api.send("GET", "/-/stage", api.alice, package="a-lib").json()
    assert [i["version"] for i in only["items"]] == ["1.2.0", "1.1.0"]
    assert api.send("GET", "/-/stage", api.alice, package="no-such").json()["total"] == 0
    for bad in ({"perPage": "101"}, {"perPage": "0"}, {"page": "-1"}, {"page": "x"}):
        assert api.send("GET", "/-/stage", api.alice, **bad).status_code == 400


def _trusted(service: RegistryService, package: str, permissions: tuple[str, ...]) -> Any:
    """A trusted publisher of `package` and a token the exchange could have minted for it."""
    publisher = StoredPublisher(
        id=str(uuid.uuid4()),
        package=package,
        provider="github",
        claims={"repository": "octo/lib", "workflow_ref": "release.yml"},
        permissions=permissions,
        pins=None,
        created_by=None,
        created_ms=now_ms(),
    )
    service.trust_store.add_publishers([publisher])
    secret = "assay_" + secrets.token_urlsafe(32)
    token = StoredOidcToken(
        key=secrets.token_hex(16),
        token_hash=hash_token(secret),
        package=package,
        publisher_id=publisher.id,
        permissions=permissions,
        identity={"repository": "octo/lib", "sha": "a" * 40, "run_id": "7"},
        preview=secret[:10],
        created_ms=now_ms(),
        expires_ms=now_ms() + 900_000,
    )
    service.trust_store.add_oidc_token(token)
    return TrustedPrincipal(token, publisher)


def test_a_trusted_publisher_stages_and_a_maintainer_approves(api: Api) -> None:
    assert api.publish("lib", "1.0.0").status_code == 201
    staging = StagedPublishes(api.service)
    name = PackageName("lib")

    # Only with createStagedPackage, and only for its own package.
    publish_only = _trusted(api.service, "lib", (CREATE_PACKAGE,))
    with pytest.raises(Forbidden, match="createStagedPackage"):
        staging.stage(name, publish_body("lib", "1.1.0"), publish_only)
    stager = _trusted(api.service, "lib", (CREATE_STAGED_PACKAGE,))
    with pytest.raises(Forbidden):
        staging.stage(PackageName("other"), publish_body("other", "1.0.0"), stager)
    assert api.staged_blobs() == []

    stage_id = staging.stage(name, publish_body("lib", "1.1.0"), stager)["stageId"]
    item = api.send("GET", f"/-/stage/{stage_id}", api.alice).json()
    assert (item["actor"], item["actorType"]) == ("github:octo/lib", "trusted automation")
    # The CI job never reviews, not even its own stage.
    for review in (staging.view, staging.tarball, staging.approve, staging.reject):
        with pytest.raises(Forbidden):
            review(stage_id, stager)
    with pytest.raises(Forbidden):
        staging.list(stager, StagePage(0, 10), None)

    assert api.send("POST", f"/-/stage/{stage_id}/approve", api.alice).status_code == 201
    state = api.service.store.load_package("lib")
    assert state is not None
    row = state.versions["1.1.0"]
    assert row.publisher_id is None
    assert row.trusted_publisher is not None
    # The exchange's record, so the packument's _npmUser reads as for a direct trusted publish.
    assert json.loads(row.trusted_publisher) == json.loads(trusted_publisher_record(stager))
    served = api.client.get("/lib").json()["versions"]["1.1.0"]["_npmUser"]
    assert served["trustedPublisher"] == {
        "id": "github",
        "oidcConfigId": f"oidc:{stager.publisher.id}",
    }
    assert api.versions("lib") == ["1.0.0", "1.1.0"]
    assert api.audit("lib") == [
        (f"trusted-publisher:{stager.publisher.id}", "stage.add"),
        ("user:alice", "stage.approve"),
    ]
