"""RegistryService driven directly, in process, over a temporary SQLite database and blob directory.

Publish (ownership, immutability, registry signatures, provenance refused without a gate),
packuments and tarballs, dist-tags, deprecate, unpublish, owners, access and search — every
npm operation as the HTTP layer calls it, without the HTTP layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.npm.names import PackageName
from assay.registry.accounts import Principal
from assay.registry.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from assay.registry.search import SearchQuery
from assay.registry.service import RegistryService, Tarball, TarballStream
from assay.settings import Settings
from assay.verify.registry_signatures import verify_registry_signatures
from assay.verify.trust import RegistryKeys
from tests.unit.registry.tarballs import publish_body, tarball

PASSWORD = "correct horse battery"  # noqa: S105 - a test account's password
WIDGET = PackageName("widget")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RegistryService]:
    registry = RegistryService.open(Settings(data_dir=tmp_path / "data"))
    try:
        yield registry
    finally:
        registry.close()


def _principal(service: RegistryService, name: str, *, readonly: bool = False) -> Principal:
    user = service.store.user_by_name(name) or service.accounts.add_user(
        name, f"{name}@example.com", PASSWORD
    )
    secret, _ = service.accounts.issue_token(user, readonly=readonly)
    who = service.accounts.authenticate(f"Bearer {secret}", "127.0.0.1")
    assert isinstance(who, Principal)
    return who


@pytest.fixture
def alice(service: RegistryService) -> Principal:
    return _principal(service, "alice")


@pytest.fixture
def bob(service: RegistryService) -> Principal:
    return _principal(service, "bob")


def _publish(
    service: RegistryService, who: Principal | None, name: str, version: str, **options: Any
) -> dict[str, Any]:
    return service.put_package(PackageName(name), publish_body(name, version, **options), None, who)


def _bytes(served: Tarball | TarballStream) -> bytes:
    if isinstance(served, Tarball):
        return served.data
    chunks = served.open()
    assert chunks is not None
    return b"".join(chunks)


def _rev(service: RegistryService, name: PackageName) -> str:
    rev: str = service.packument(name).data["_rev"]
    return rev


# --- publish -------------------------------------------------------------------------------------


def test_publish_then_read(service: RegistryService, alice: Principal) -> None:
    assert _publish(service, alice, "widget", "1.0.0", description="a widget") == {
        "ok": True,
        "id": "widget",
    }
    data = service.packument(WIDGET).data
    assert data["dist-tags"] == {"latest": "1.0.0"}
    assert [m["name"] for m in data["maintainers"]] == ["alice"]
    manifest = service.version_manifest(WIDGET, "latest")
    assert manifest["version"] == "1.0.0"
    dist = manifest["dist"]
    assert dist["tarball"] == f"{service.origin}/widget/-/widget-1.0.0.tgz"
    served = service.tarball(WIDGET, "widget-1.0.0.tgz")
    packed = {"name": "widget", "version": "1.0.0", "description": "a widget"}
    assert _bytes(served) == tarball("widget", "1.0.0", package_json=packed)
    assert served.integrity == dist["integrity"]
    # Every version carries the registry's signature over "<name>@<version>:<integrity>",
    # which verifies with the keys /-/npm/v1/keys serves.
    keys = RegistryKeys.from_dict(service.keys.npm_keys())
    used = verify_registry_signatures(
        "widget", "1.0.0", dist["integrity"], dist["signatures"], keys
    )
    assert [k.keyid for k in used] == [service.keys.keyid]
    with pytest.raises(NotFound):
        service.version_manifest(WIDGET, "2.0.0")
    with pytest.raises(NotFound):
        service.tarball(WIDGET, "widget-2.0.0.tgz")
    with pytest.raises(NotFound):
        service.attestations(WIDGET, "1.0.0")  # published without provenance


def test_publish_needs_a_writer(service: RegistryService, alice: Principal) -> None:
    with pytest.raises(Unauthorized):
        _publish(service, None, "widget", "1.0.0")
    with pytest.raises(Forbidden):
        _publish(service, _principal(service, "alice", readonly=True), "widget", "1.0.0")
    with pytest.raises(NotFound):
        service.packument(WIDGET)


def test_versions_are_immutable_and_owned(
    service: RegistryService, alice: Principal, bob: Principal
) -> None:
    _publish(service, alice, "widget", "1.0.0")
    with pytest.raises(Forbidden, match="previously published"):
        _publish(
            service, alice, "widget", "1.0.0", data=tarball("widget", "1.0.0", files={"x": b"1"})
        )
    with pytest.raises(Forbidden, match="permission"):
        _publish(service, bob, "widget", "1.1.0")
    _publish(service, alice, "widget", "1.1.0")
    assert service.dist_tags(WIDGET) == {"latest": "1.1.0"}


def test_open_scope_policy(tmp_path: Path) -> None:
    registry = RegistryService.open(
        Settings(data_dir=tmp_path / "data", registry_scope_policy="open")
    )
    try:
        alice, bob = _principal(registry, "alice"), _principal(registry, "bob")
        _publish(registry, alice, "@team/one", "1.0.0")
        with pytest.raises(Forbidden, match="scope @team"):
            _publish(registry, bob, "@team/two", "1.0.0")
        _publish(registry, alice, "@team/two", "1.0.0")
    finally:
        registry.close()


def test_user_scope_policy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", registry_scope_policy="user")
    registry = RegistryService.open(settings)
    try:
        alice = _principal(registry, "alice")
        _publish(registry, alice, "@alice/mine", "1.0.0")
        with pytest.raises(Forbidden, match="own scope"):
            _publish(registry, alice, "@team/theirs", "1.0.0")
    finally:
        registry.close()


def test_provenance_refused_without_a_gate(service: RegistryService, alice: Principal) -> None:
    body = publish_body("widget", "1.0.0")
    body["_attachments"]["widget-1.0.0.sigstore"] = {
        "content_type": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "data": json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}),
    }
    with pytest.raises(Unprocessable, match="provenance"):
        service.put_package(WIDGET, body, None, alice)
    with pytest.raises(NotFound):  # a refused publish writes nothing
        service.packument(WIDGET)
    assert list(service.blobs.list()) == []


# --- dist-tags -----------------------------------------------------------------------------------


def test_dist_tags(service: RegistryService, alice: Principal, bob: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0")
    _publish(service, alice, "widget", "2.0.0-beta.1", tags={"next": "2.0.0-beta.1"})
    assert service.dist_tags(WIDGET) == {"latest": "1.0.0", "next": "2.0.0-beta.1"}
    assert service.set_dist_tag(WIDGET, "stable", "1.0.0", alice) == {"ok": True}
    assert service.dist_tags(WIDGET)["stable"] == "1.0.0"
    with pytest.raises(NotFound):
        service.set_dist_tag(WIDGET, "stable", "9.9.9", alice)
    with pytest.raises(BadRequest):
        service.set_dist_tag(WIDGET, "1.0.0", "1.0.0", alice)  # a tag may not look like a version
    with pytest.raises(BadRequest):
        service.set_dist_tag(WIDGET, "stable", {"version": "1.0.0"}, alice)
    with pytest.raises(Forbidden):
        service.set_dist_tag(WIDGET, "stable", "2.0.0-beta.1", bob)
    with pytest.raises(Unauthorized):
        service.set_dist_tag(WIDGET, "stable", "2.0.0-beta.1", None)
    service.delete_dist_tag(WIDGET, "next", alice)
    assert "next" not in service.dist_tags(WIDGET)
    with pytest.raises(NotFound):
        service.delete_dist_tag(WIDGET, "next", alice)
    with pytest.raises(BadRequest, match="latest"):
        service.delete_dist_tag(WIDGET, "latest", alice)
    with pytest.raises(NotFound):
        service.set_dist_tag(PackageName("absent"), "stable", "1.0.0", alice)


# --- metadata updates: deprecate, unpublish, owners ----------------------------------------------


def test_deprecate_and_undeprecate(service: RegistryService, alice: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0")
    document = service.packument(WIDGET).data
    body = {
        **document,
        "versions": {"1.0.0": {**document["versions"]["1.0.0"], "deprecated": "old"}},
    }
    service.put_package(WIDGET, body, None, alice)
    assert service.version_manifest(WIDGET, "1.0.0")["deprecated"] == "old"
    document = service.packument(WIDGET).data
    body = {**document, "versions": {"1.0.0": {**document["versions"]["1.0.0"], "deprecated": ""}}}
    service.put_package(WIDGET, body, None, alice)  # npm undeprecates with ""
    assert "deprecated" not in service.version_manifest(WIDGET, "1.0.0")


def test_unpublish_one_version(service: RegistryService, alice: Principal) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        _publish(service, alice, "widget", version)
    document = service.packument(WIDGET).data
    body = {**document, "versions": {v: document["versions"][v] for v in ("1.0.0", "1.1.0")}}
    with pytest.raises(BadRequest, match="_rev"):
        service.put_package(WIDGET, {k: v for k, v in body.items() if k != "_rev"}, None, alice)
    with pytest.raises(Conflict):
        service.put_package(WIDGET, body, "1-stale", alice)
    service.put_package(WIDGET, body, _rev(service, WIDGET), alice)
    # latest moves to the highest remaining version; the tarball is gone; the number stays used.
    assert service.dist_tags(WIDGET) == {"latest": "1.1.0"}
    with pytest.raises(NotFound):
        service.tarball(WIDGET, "widget-1.2.0.tgz")
    with pytest.raises(Forbidden, match="previously published"):
        _publish(service, alice, "widget", "1.2.0")
    assert service.delete_tarball(WIDGET, "widget-1.2.0.tgz", alice) == {"ok": True}
    with pytest.raises(BadRequest):
        service.delete_tarball(WIDGET, "widget-1.1.0.tgz", alice)  # still published


def test_unpublish_everything(service: RegistryService, alice: Principal, bob: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0")
    with pytest.raises(Forbidden):
        service.delete_package(WIDGET, _rev(service, WIDGET), bob)
    service.delete_package(WIDGET, _rev(service, WIDGET), alice)
    with pytest.raises(NotFound):
        service.packument(WIDGET)
    with pytest.raises(NotFound):
        service.delete_package(WIDGET, None, alice)


def test_owners(service: RegistryService, alice: Principal, bob: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0")
    document = service.packument(WIDGET).data
    owners = [{"name": "alice", "email": "a"}, {"name": "bob", "email": "b"}]
    service.put_package(WIDGET, {**document, "maintainers": owners}, None, alice)
    assert service.collaborators(WIDGET) == {"alice": "read-write", "bob": "read-write"}
    _publish(service, bob, "widget", "1.1.0")  # bob is an owner now
    for bad, error in (
        ([{"name": "nobody"}], NotFound),
        ([], BadRequest),
        ("bob", BadRequest),
    ):
        with pytest.raises(error):
            service.put_package(WIDGET, {"maintainers": bad}, None, alice)
    with pytest.raises(BadRequest):
        service.put_package(WIDGET, {"name": "other", "maintainers": owners}, None, alice)
    assert service.user_packages("bob") == {"widget": "read-write"}


# --- access and search ---------------------------------------------------------------------------


def test_access(service: RegistryService, alice: Principal, bob: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0")
    assert service.visibility(WIDGET) == {"public": True}
    assert service.set_access(WIDGET, {"access": "public"}, alice) == {"ok": True}
    for access in ("restricted", "private", "weird"):
        with pytest.raises(BadRequest):
            service.set_access(WIDGET, {"access": access}, alice)
    with pytest.raises(Forbidden):
        service.set_access(WIDGET, {"access": "public"}, bob)
    with pytest.raises(Unauthorized):
        service.set_access(WIDGET, {"access": "public"}, None)
    with pytest.raises(NotFound):
        service.visibility(PackageName("absent"))
    assert service.user_packages("alice") == {"widget": "read-write"}
    assert service.user_packages("bob") == {}
    with pytest.raises(NotFound):
        service.user_packages("nobody")


def test_search(service: RegistryService, alice: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0", description="turns things", keywords=["gadget"])
    _publish(service, alice, "gizmo", "1.0.0", description="something else")
    found = service.search(SearchQuery.parse("gadget", None, None))
    assert [o["package"]["name"] for o in found["objects"]] == ["widget"]
    assert found["total"] == 1
    everything = service.search(SearchQuery.parse("", None, None))
    assert {o["package"]["name"] for o in everything["objects"]} == {"widget", "gizmo"}


def test_packument_cache_follows_writes(service: RegistryService, alice: Principal) -> None:
    _publish(service, alice, "widget", "1.0.0")
    first = service.packument(WIDGET)
    assert service.cached_packument("widget") is first
    _publish(service, alice, "widget", "1.1.0")
    assert service.cached_packument("widget") is None  # every write invalidates
    assert "1.1.0" in service.packument(WIDGET).data["versions"]


def test_tarball_cache_is_bounded_by_bytes(service: RegistryService, alice: Principal) -> None:
    """Hot tarballs are kept by bytes (least recently used out first), none above the entry
    limit, and answered from memory only at the rev the packument cache has confirmed."""
    files = [f"widget-1.{minor}.0.tgz" for minor in range(3)]
    for minor in range(3):
        _publish(service, alice, "widget", f"1.{minor}.0")
    whole = [_bytes(service.tarball(WIDGET, name)) for name in files]
    sizes = [len(data) for data in whole]
    assert service.tarball_cache_bytes == sum(sizes)
    assert all(service.cached_tarball("widget", name) is not None for name in files)

    _publish(service, alice, "widget", "1.3.0")  # a new rev: nothing is served from memory
    assert service.cached_tarball("widget", files[0]) is None
    service.packument(WIDGET)
    assert service.cached_tarball("widget", files[0]) is None  # cached at the old rev

    budget = sizes[1] + sizes[2]
    service.settings = service.settings.model_copy(update={"registry_tarball_cache_bytes": budget})
    for name in files:  # read again at the new rev: the first is evicted to fit the third
        service.tarball(WIDGET, name)
        assert service.tarball_cache_bytes <= budget
    assert service.cached_tarball("widget", files[0]) is None
    assert service.cached_tarball("widget", files[2]) is not None

    service.settings = service.settings.model_copy(
        update={"registry_tarball_cache_entry_bytes": min(sizes) - 1}
    )
    streamed = service.tarball(WIDGET, files[0])  # too large to keep: streamed, not cached
    assert isinstance(streamed, TarballStream)
    assert streamed.size == sizes[0]
    assert _bytes(streamed) == whole[0]
    assert service.cached_tarball("widget", files[0]) is None
