"""One contract, every implementation: RegistryStore on SQLite and PostgreSQL, BlobStore on the
filesystem and S3 (SeaweedFS). Whatever the registry relies on is asserted here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assay.storage.account_store import StoreConflict, StoredToken
from assay.storage.blobs import (
    CHUNK_BYTES,
    BlobInfo,
    BlobKeyError,
    BlobStore,
    FileBlobStore,
    S3BlobStore,
)
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.registry_store import PackageChange, PackageState, RegistryStore, StoredVersion
from tests.services import Postgres, S3Server

# --- BlobStore ------------------------------------------------------------------------------


@pytest.fixture(params=["file", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    store: BlobStore
    if request.param == "file":
        store = FileBlobStore(tmp_path / "blobs")
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        store = S3BlobStore(
            s3.create_bucket("contract"),
            endpoint_url=s3.endpoint,
            access_key_id=s3.access_key,
            secret_access_key=s3.secret_key,
            prefix="pre/fix",
        )
    try:
        yield store
    finally:
        store.close()


def test_blob_put_get_list_delete(blobs: BlobStore) -> None:
    assert blobs.get("tarballs/aa/missing") is None
    blobs.put("tarballs/aa/one", b"first")
    blobs.put("tarballs/bb/two", b"\x00" * 70_000)
    blobs.put("other/three", b"3")
    assert blobs.get("tarballs/aa/one") == b"first"
    assert blobs.get("tarballs/bb/two") == b"\x00" * 70_000
    large = bytes(range(256)) * 2_500  # 640,000 bytes: several pieces
    blobs.put("tarballs/bb/large", large)
    pieces = blobs.chunks("tarballs/bb/large")
    assert pieces is not None
    read = list(pieces)
    assert b"".join(read) == large
    assert len(read) == -(-len(large) // CHUNK_BYTES)
    assert blobs.chunks("tarballs/aa/missing") is None
    early = blobs.chunks("tarballs/bb/large")
    assert early is not None
    assert next(early) == large[:CHUNK_BYTES]
    early.close()  # a consumer that stops early releases the file or connection
    untouched = blobs.chunks("tarballs/bb/large")
    assert untouched is not None
    untouched.close()  # before the first piece too (a HEAD, a 304)
    blobs.delete("tarballs/bb/large")
    listed = {info.key: info for info in blobs.list("tarballs/")}
    assert set(listed) == {"tarballs/aa/one", "tarballs/bb/two"}
    assert listed["tarballs/bb/two"].size == 70_000
    assert abs(listed["tarballs/aa/one"].modified - time.time()) < 120
    blobs.put("tarballs/aa/one", b"replaced")
    assert blobs.get("tarballs/aa/one") == b"replaced"
    blobs.delete("tarballs/aa/one")
    blobs.delete("tarballs/aa/one")  # deleting a missing blob is fine
    assert blobs.get("tarballs/aa/one") is None
    assert {info.key for info in blobs.list()} == {"tarballs/bb/two", "other/three"}


@pytest.mark.parametrize(
    "key", ["", "/abs", "a//b", "../x", "a/../b", "a/..", "A/b", "a\\b", "a/.hidden", "a b"]
)
def test_blob_keys_that_escape_or_are_odd_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(BlobKeyError):
        blobs.put(key, b"x")
    with pytest.raises(BlobKeyError):
        blobs.get(key)


def test_delete_unless_asks_about_the_blob_as_it_is_now(blobs: BlobStore) -> None:
    blobs.put("gc/a", b"old")
    seen: list[BlobInfo] = []

    def keep(info: BlobInfo) -> bool:
        seen.append(info)
        return True

    assert blobs.delete_unless("gc/a", keep) is False
    assert blobs.get("gc/a") == b"old"  # kept: put back
    assert [(i.key, i.size) for i in seen] == [("gc/a", 3)]
    assert blobs.delete_unless("gc/a", lambda info: False) is True
    assert blobs.get("gc/a") is None
    assert blobs.delete_unless("gc/a", lambda info: False) is False  # nothing there
    assert [info.key for info in blobs.list("gc/")] == []


def test_concurrent_puts_of_one_key_leave_one_whole_value(blobs: BlobStore) -> None:
    values = [bytes([i]) * 50_000 for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda v: blobs.put("tarballs/cc/same", v), values))
    assert blobs.get("tarballs/cc/same") in values
    assert [info.key for info in blobs.list("tarballs/cc/")] == ["tarballs/cc/same"]


# --- RegistryStore --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "assay.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database("contract")
    engine = open_engine(url)
    migrate(engine)
    try:
        yield RegistryStore(engine)
    finally:
        engine.dispose()


def _version(name: str, version: str, user: int, blob: str | None = None) -> StoredVersion:
    return StoredVersion(
        package=name,
        version=version,
        manifest='{"name": "%s", "version": "%s"}' % (name, version),  # noqa: UP031
        integrity="sha512-x",
        shasum="0" * 40,
        blob_key=blob or f"tarballs/00/{name}-{version}",
        filename=f"{name}-{version}.tgz",
        size=1,
        readme=None,
        deprecated=None,
        publisher_id=user,
        published_ms=1,
    )


def test_users_and_tokens(store: RegistryStore) -> None:
    alice = store.create_user("alice", "a@example.com", "hash")
    with pytest.raises(StoreConflict):
        store.create_user("alice", "other@example.com", "hash")
    assert store.user_by_name("alice") == alice
    assert store.user_by_id(alice.id) == alice
    token = StoredToken(
        "k1", "h" * 64, alice.id, "assay_abcd", "ci", True, ("10.0.0.0/8",), 5, None
    )
    store.add_token(token)
    assert store.token_by_hash("h" * 64) == (token, alice)
    assert store.tokens_of(alice.id) == [token]
    assert not store.delete_token(key="k1", user_id=alice.id + 1)
    assert store.delete_token(key="k1", user_id=alice.id)
    assert store.token_by_hash("h" * 64) is None


def test_write_package_applies_a_whole_change_or_nothing(store: RegistryStore) -> None:
    alice = store.create_user("alice", "a@example.com", "hash")
    bob = store.create_user("bob", "b@example.com", "hash")

    def create(state: PackageState | None, owner: int | None) -> PackageChange:
        assert state is None
        assert owner is None
        return PackageChange(
            create=True,
            new_versions=(_version("@s/p", "1.0.0", alice.id),),
            set_tags={"latest": "1.0.0"},
            maintainers=(alice.id,),
            claim_scope=("s", alice.id),
            description="desc",
            keywords=("k",),
        )

    assert store.write_package("@s/p", create).rev == 1
    assert store.scope_owner("s") == alice.id
    state = store.load_package("@s/p")
    assert state is not None
    assert (state.rev, list(state.versions), dict(state.dist_tags)) == (
        1,
        ["1.0.0"],
        {"latest": "1.0.0"},
    )
    assert [m.name for m in state.maintainers] == ["alice"]

    def refuse(state: PackageState | None, owner: int | None) -> PackageChange:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.write_package("@s/p", refuse)
    assert store.package_rev("@s/p") == 1

    # A change that violates a key is rolled back entirely (the version exists already).
    def duplicate(state: PackageState | None, owner: int | None) -> PackageChange:
        return PackageChange(
            new_versions=(_version("@s/p", "1.0.0", bob.id),), set_tags={"evil": "1.0.0"}
        )

    with pytest.raises(StoreConflict):
        store.write_package("@s/p", duplicate)
    after = store.load_package("@s/p")
    assert after is not None
    assert dict(after.dist_tags) == {"latest": "1.0.0"}
    assert after.rev == 1

    def more(state: PackageState | None, owner: int | None) -> PackageChange:
        assert owner == alice.id
        return PackageChange(
            new_versions=(_version("@s/p", "2.0.0", alice.id),),
            set_tags={"latest": "2.0.0", "old": "1.0.0"},
            maintainers=(alice.id, bob.id),
            deprecations={"1.0.0": "old"},
        )

    assert store.write_package("@s/p", more).rev == 2
    state = store.load_package("@s/p")
    assert state is not None
    assert state.versions["1.0.0"].deprecated == "old"
    assert [m.name for m in state.maintainers] == ["alice", "bob"]
    assert store.packages_of(bob.id) == ["@s/p"]
    assert store.search(["desc"], 10, 0) == (["@s/p"], 1)

    def unpublish(state: PackageState | None, owner: int | None) -> PackageChange:
        return PackageChange(unpublish=("1.0.0",))

    result = store.write_package("@s/p", unpublish)
    assert result.orphaned_blobs == ("tarballs/00/@s/p-1.0.0",)
    state = store.load_package("@s/p")
    assert state is not None
    assert not state.versions["1.0.0"].live
    assert dict(state.dist_tags) == {"latest": "2.0.0"}  # the tag on 1.0.0 went with it
    assert store.version_by_filename("@s/p", "@s/p-1.0.0.tgz") is not None
    assert store.referenced_blobs() == {"tarballs/00/@s/p-2.0.0"}


def test_concurrent_creators_of_one_package_serialize(store: RegistryStore) -> None:
    users = [store.create_user(f"u{i}", f"u{i}@example.com", "hash") for i in range(12)]
    seen: list[bool] = []
    lock = threading.Lock()

    def publish(index: int) -> None:
        def decide(state: PackageState | None, owner: int | None) -> PackageChange:
            with lock:
                seen.append(state is None)
            version = _version("shared", f"1.0.{index}", users[index].id)
            if state is None:
                return PackageChange(
                    create=True, new_versions=(version,), maintainers=(users[index].id,)
                )
            return PackageChange(new_versions=(version,))

        store.write_package("shared", decide)

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(publish, range(12)))
    state = store.load_package("shared")
    assert state is not None
    assert len(state.versions) == 12
    assert state.rev == 12
    assert len(state.maintainers) == 1  # exactly one creator
