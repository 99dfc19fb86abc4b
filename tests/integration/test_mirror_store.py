"""MirrorStore's contract on SQLite and PostgreSQL: what the mirror relies on — a name with a
local row, a staged publish or a live reservation is local; a verdict, once stored, is never
replaced by a later fetch; a tarball is recorded on its version; an eviction forgets a version
(and expires the packument) or a whole package."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from assay.storage.account_store import now_ms
from assay.storage.database import migrate, open_engine, sqlite_url, write_transaction
from assay.storage.mirror_store import MirrorStore, StoredUpstream, StoredVerdict
from assay.storage.trust_store import StoredPublisher, StoredStaged, TrustStore
from tests.services import Postgres


@dataclass
class Stores:
    mirror: MirrorStore
    trust: TrustStore
    engine: Engine


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "assay.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database("mirror")
    engine = open_engine(url)
    migrate(engine)
    try:
        yield Stores(MirrorStore(engine), TrustStore(engine), engine)
    finally:
        engine.dispose()


def _verdict(version: str, verdict: str = "verified", integrity: str = "sha512-a") -> StoredVerdict:
    return StoredVerdict(
        "left-pad", version, "npmjs", integrity, verdict, None, "verified", None, None, None,
        now_ms(),
    )  # fmt: skip


def _upstream(document: str, fetched_ms: int) -> StoredUpstream:
    return StoredUpstream("left-pad", "npmjs", document, '"e1"', None, fetched_ms, fetched_ms)


def test_local_claims(stores: Stores) -> None:
    assert stores.mirror.local_claim("free-name") is None
    stores.trust.add_publishers([_publisher("reserved", pending_until_ms=now_ms() + 60_000)])
    stores.trust.add_publishers([_publisher("lapsed", pending_until_ms=now_ms() - 1)])
    assert stores.mirror.local_claim("reserved") == "reserved by a trusted publisher"
    assert stores.mirror.local_claim("lapsed") is None
    stores.trust.add_staged(_staged("staged-name"))
    assert stores.mirror.local_claim("staged-name") == "staged here"


def test_verdicts_are_never_replaced(stores: Stores) -> None:
    store = stores.mirror
    store.save_packument(_upstream("{}", 1), [_verdict("1.0.0")])
    store.save_packument(
        _upstream('{"v": 2}', 2), [_verdict("1.0.0", "refused", "sha512-b"), _verdict("1.1.0")]
    )
    verdicts = store.verdicts("left-pad")
    assert verdicts["1.0.0"].verdict == "verified"
    assert verdicts["1.0.0"].integrity == "sha512-a"
    assert set(verdicts) == {"1.0.0", "1.1.0"}
    stored = store.upstream("left-pad")
    assert stored is not None
    assert (stored.document, stored.fetched_ms) == ('{"v": 2}', 2)
    store.confirm("left-pad", 3)
    assert store.upstream("left-pad").fetched_ms == 3  # type: ignore[union-attr]
    store.record_tarball("left-pad", "1.0.0", blob_key="tarballs/ab/cd", shasum="0" * 40, size=9,
                         manifest="f" * 64)  # fmt: skip
    row = store.verdicts("left-pad")["1.0.0"]
    assert (row.blob_key, row.size, row.manifest) == ("tarballs/ab/cd", 9, "f" * 64)
    assert store.counts() == {
        "packages": 1, "verified": 2, "tarballs": 1, "tarball_bytes": 9, "packument_chars": 8,
    }  # fmt: skip


def test_a_manifest_confusion_refuses_a_verified_version(stores: Stores) -> None:
    store = stores.mirror
    store.save_packument(_upstream("{}", 1), [_verdict("1.0.0"), _verdict("1.1.0", "refused")])
    store.record_tarball("left-pad", "1.0.0", blob_key="tarballs/ab/cd", shasum="0" * 40, size=9,
                         manifest="f" * 64)  # fmt: skip
    store.refuse("left-pad", "1.0.0", "manifest confusion: scripts differ")
    store.refuse("left-pad", "1.1.0", "never replaces another refusal")
    verdicts = store.verdicts("left-pad")
    row = verdicts["1.0.0"]
    assert (row.verdict, row.reason) == ("refused", "manifest confusion: scripts differ")
    assert (row.blob_key, row.shasum, row.size, row.manifest) == (None, None, None, None)
    assert verdicts["1.1.0"].reason != "never replaces another refusal"
    assert store.counts()["tarballs"] == 0


def test_evict_a_version_then_a_package(stores: Stores) -> None:
    store = stores.mirror
    store.save_packument(_upstream("{}", 5), [_verdict("1.0.0"), _verdict("1.1.0")])
    store.record_tarball("left-pad", "1.0.0", blob_key="tarballs/ab/cd", shasum="0" * 40, size=9,
                         manifest="f" * 64)  # fmt: skip
    assert store.packages() == [("left-pad", "npmjs", 5)]
    assert store.evict("left-pad", "1.0.0") == 1
    assert set(store.verdicts("left-pad")) == {"1.1.0"}
    stored = store.upstream("left-pad")
    assert stored is not None
    # Expired and unconditional: the next fetch brings a document to verify 1.0.0 from.
    assert (stored.etag, stored.last_modified, stored.fetched_ms) == (None, None, 0)
    assert store.evict("left-pad", "9.9.9") == 0
    assert store.evict("left-pad") == 2  # the last verdict and the packument
    assert store.upstream("left-pad") is None
    assert store.verdicts("left-pad") == {}
    assert store.packages() == []
    assert store.evict("left-pad") == 0


def _publisher(package: str, pending_until_ms: int | None) -> StoredPublisher:
    return StoredPublisher(
        id=str(uuid.uuid4()), package=package, provider="github",
        claims={"repository": "acme/x", "workflow_ref": {"file": "release.yml"}},
        permissions=("createPackage",), pins=None, created_by=None, created_ms=now_ms(),
        pending_until_ms=pending_until_ms,
    )  # fmt: skip


def _staged(package: str) -> StoredStaged:
    return StoredStaged(
        id=str(uuid.uuid4()), package=package, version="1.0.0", body={}, blob_key="k",
        integrity="sha512-x", size=1, stager={"user": "alice"}, created_ms=now_ms(),
    )  # fmt: skip


def test_cache_writes_do_not_wait_for_the_disk(stores: Stores) -> None:
    """The mirror's rows are written with write_transaction(durable=False): SQLite commits them
    with synchronous=NORMAL (WAL: no fsync per commit), PostgreSQL with synchronous_commit off;
    every other write, on the same pooled connections, stays durable."""
    engine = stores.engine
    sqlite = engine.dialect.name == "sqlite"
    query = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
    relaxed, durable = (1, 2) if sqlite else ("off", "on")  # NORMAL = 1, FULL = 2
    for _ in range(3):  # the pool hands the same connections back
        with write_transaction(engine, durable=False) as connection:
            assert connection.exec_driver_sql(query).scalar() == relaxed
        with write_transaction(engine) as connection:
            assert connection.exec_driver_sql(query).scalar() == durable
