"""TrustStore's contract on SQLite and PostgreSQL: what trusted publishing relies on — a jti is
claimed once even under concurrency, pins are set once, revoking a publisher revokes its tokens,
and a staged version is staged once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assay.storage.account_store import StoreConflict, now_ms
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.trust_store import (
    StoredOidcToken,
    StoredPolicy,
    StoredPublisher,
    StoredStaged,
    TrustStore,
    audit_event,
)
from tests.services import Postgres


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrustStore]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "assay.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database("trust")
    engine = open_engine(url)
    migrate(engine)
    try:
        yield TrustStore(engine)
    finally:
        engine.dispose()


def _publisher(package: str = "widget", pending_until_ms: int | None = None) -> StoredPublisher:
    return StoredPublisher(
        id=str(uuid.uuid4()),
        package=package,
        provider="github",
        claims={"repository": "acme/widget", "workflow_ref": {"file": "release.yml"}},
        permissions=("createPackage",),
        pins=None,
        created_by=None,
        created_ms=now_ms(),
        pending_until_ms=pending_until_ms,
    )


def _token(publisher: StoredPublisher, key: str, expires_ms: int) -> StoredOidcToken:
    return StoredOidcToken(
        key=key,
        token_hash=key * 2,
        package=publisher.package,
        publisher_id=publisher.id,
        permissions=publisher.permissions,
        identity={"repository": "acme/widget"},
        preview="assay_abcd",
        created_ms=now_ms(),
        expires_ms=expires_ms,
    )


def test_a_jti_is_claimed_exactly_once_under_concurrency(store: TrustStore) -> None:
    forget = now_ms() + 3_600_000
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda _: store.claim_jti("https://iss", "j-1", forget), range(16)))
    assert won.count(True) == 1
    assert store.claim_jti("https://other-issuer", "j-1", forget)  # per issuer
    # A claim past its forget-after time is swept, so the table stays bounded.
    assert store.claim_jti("https://iss", "old", now_ms() - 1)
    assert store.claim_jti("https://iss", "j-2", forget)
    assert store.claim_jti("https://iss", "old", forget)


def test_publishers_pins_and_revocation(store: TrustStore) -> None:
    first, second = _publisher(), _publisher()
    store.add_publishers([first, second], [audit_event("widget", "user:alice", "trust.add")])
    assert {p.id for p in store.publishers("widget")} == {first.id, second.id}
    assert store.publisher(first.id) == first
    assert store.pin_publisher(first.id, {"repository_id": "1"})
    assert not store.pin_publisher(first.id, {"repository_id": "2"})  # set once
    pinned = store.publisher(first.id)
    assert pinned is not None
    assert pinned.pins == {"repository_id": "1"}

    store.add_oidc_token(_token(first, "k1", now_ms() + 60_000))
    assert store.oidc_token_by_hash("k1k1") is not None
    assert [t.key for t in store.oidc_tokens(["widget"])] == ["k1"]
    assert not store.delete_publisher("other-package", first.id)
    assert store.delete_publisher("widget", first.id, [audit_event("widget", "u", "x")])
    assert store.oidc_token_by_hash("k1k1") is None  # its tokens went with it
    assert [e.action for e in store.audit_events("widget")] == ["x", "trust.add"]


def test_expired_tokens_are_not_listed(store: TrustStore) -> None:
    publisher = _publisher()
    store.add_publishers([publisher])
    store.add_oidc_token(_token(publisher, "old", now_ms() - 1))
    store.add_oidc_token(_token(publisher, "new", now_ms() + 60_000))
    assert [t.key for t in store.oidc_tokens(["widget"])] == ["new"]
    assert store.delete_oidc_token("new", ["widget"])
    assert not store.delete_oidc_token("new", ["widget"])


def test_pending_publishers_settle(store: TrustStore) -> None:
    live = _publisher("fresh", pending_until_ms=now_ms() + 60_000)
    lapsed = _publisher("stale", pending_until_ms=now_ms() - 1)
    store.add_publishers([live, lapsed])
    assert [p.id for p in store.pending_publishers(now_ms())] == [live.id]
    store.settle_pending("fresh")
    settled = store.publisher(live.id)
    assert settled is not None
    assert not settled.pending


def test_policy_defaults_and_updates(store: TrustStore) -> None:
    assert store.policy("widget") == StoredPolicy("widget")
    store.set_policy(StoredPolicy("widget", require_provenance=True, updated_ms=1))
    store.set_policy(StoredPolicy("widget", require_trusted_publishing=True, updated_ms=2))
    policy = store.policy("widget")
    assert policy.require_trusted_publishing
    assert not policy.require_provenance


def test_a_version_is_staged_once(store: TrustStore) -> None:
    def staged(staged_id: str) -> StoredStaged:
        return StoredStaged(
            id=staged_id,
            package="widget",
            version="1.0.0",
            body={"name": "widget"},
            blob_key="tarballs/aa/x",
            integrity="sha512-x",
            size=1,
            stager={"user": "alice"},
            created_ms=now_ms(),
        )

    store.add_staged(staged("a"))
    with pytest.raises(StoreConflict):
        store.add_staged(staged("b"))
    items, total = store.staged_list(["widget"], 0, 10)
    assert total == 1
    assert items[0].id == "a"
    assert store.staged_list(["other"], 0, 10) == ([], 0)
    assert store.delete_staged("a")
    assert store.staged("a") is None
