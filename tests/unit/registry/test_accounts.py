"""registry/accounts.py driven directly, in process, over a temporary SQLite database.

Users, passwords (scrypt at rest), tokens (SHA-256 at rest, constant-time comparison, read-only,
expiry, CIDR limits, revocation), the principal of an ``Authorization`` header and the npm
login flows — no HTTP, no subprocess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from assay.registry.accounts import (
    Accounts,
    Principal,
    hash_token,
    require,
    same_hash,
    verify_password,
)
from assay.registry.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from assay.registry.service import RegistryService
from assay.settings import Settings
from assay.storage.account_store import StoredUser, now_ms
from assay.storage.schema import registry_tokens, registry_users

PASSWORD = "correct horse battery"  # noqa: S105 - a test account's password


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RegistryService]:
    registry = RegistryService.open(Settings(data_dir=tmp_path / "data"))
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def accounts(service: RegistryService) -> Accounts:
    return service.accounts


@pytest.fixture
def alice(accounts: Accounts) -> StoredUser:
    return accounts.add_user("alice", "alice@example.com", PASSWORD)


def _basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def _bearer(accounts: Accounts, secret: str, ip: str | None = "127.0.0.1") -> Principal:
    who = accounts.authenticate(f"Bearer {secret}", ip)
    assert isinstance(who, Principal)
    return who


# --- users ---------------------------------------------------------------------------------------


def test_add_user_hashes_the_password_at_rest(service: RegistryService, alice: StoredUser) -> None:
    with service.store.engine.connect() as connection:
        stored = connection.execute(
            sa.select(registry_users.c.password_hash).where(registry_users.c.name == "alice")
        ).scalar_one()
    assert PASSWORD not in stored
    assert stored.startswith("scrypt$15$8$1$")
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "!", stored)
    assert not verify_password(PASSWORD, "scrypt$broken")
    assert alice.password_hash == stored


@pytest.mark.parametrize(
    ("name", "email", "password"),
    [
        ("Alice", "a@example.com", PASSWORD),  # upper case
        ("a b", "a@example.com", PASSWORD),
        ("x" * 215, "a@example.com", PASSWORD),
        ("bob", "not-an-address", PASSWORD),
        ("bob", "b@example.com", "short"),
    ],
)
def test_add_user_refuses_bad_input(
    accounts: Accounts, name: str, email: str, password: str
) -> None:
    with pytest.raises(BadRequest):
        accounts.add_user(name, email, password)


def test_add_user_twice_conflicts(accounts: Accounts, alice: StoredUser) -> None:
    with pytest.raises(Conflict):
        accounts.add_user("alice", "other@example.com", PASSWORD)


def test_profile_and_whoami(accounts: Accounts, alice: StoredUser) -> None:
    secret, _ = accounts.issue_token(alice)
    herself = _bearer(accounts, secret)
    assert accounts.user_profile("alice", herself) == {
        "_id": "org.couchdb.user:alice",
        "name": "alice",
        "email": "alice@example.com",
    }
    # Anyone else (anonymous, or another user) sees the name only.
    bob = accounts.add_user("bob", "bob@example.com", PASSWORD)
    bob_secret, _ = accounts.issue_token(bob)
    for who in (None, _bearer(accounts, bob_secret)):
        assert accounts.user_profile("alice", who) == {
            "_id": "org.couchdb.user:alice",
            "name": "alice",
        }
    with pytest.raises(NotFound):
        accounts.user_profile("nobody", herself)
    assert accounts.whoami(herself) == {"username": "alice"}
    with pytest.raises(Unauthorized):
        accounts.whoami(None)


# --- login ---------------------------------------------------------------------------------------


def test_couch_login_creates_then_logs_in(accounts: Accounts) -> None:
    body = {"name": "carol", "password": PASSWORD, "email": "carol@example.com"}
    created = accounts.couch_login("carol", body)
    assert created["ok"] is True
    assert _bearer(accounts, created["token"]).user.name == "carol"
    # npm login is "adduser" of an existing user, with or without an e-mail address.
    again = accounts.couch_login("carol", {"name": "carol", "password": PASSWORD})
    assert again["token"] != created["token"]
    assert _bearer(accounts, again["token"]).user.name == "carol"


@pytest.mark.parametrize(
    ("url_name", "body", "error"),
    [
        ("alice", {"name": "alice", "password": "wrong password"}, Unauthorized),
        ("alice", {"name": "alice", "password": "wrong", "email": "x@example.com"}, Unauthorized),
        ("nobody", {"name": "nobody", "password": PASSWORD}, Unauthorized),  # unknown, no e-mail
        ("alice", {"name": "mallory", "password": PASSWORD}, BadRequest),  # URL ≠ body
        ("alice", {"name": "alice", "password": ""}, BadRequest),
        ("alice", {"name": "alice"}, BadRequest),
    ],
)
def test_couch_login_failures(
    accounts: Accounts,
    alice: StoredUser,
    url_name: str,
    body: dict[str, str],
    error: type[Exception],
) -> None:
    with pytest.raises(error) as raised:
        accounts.couch_login(url_name, body)
    if error is Unauthorized:
        # The same answer whether the user exists or not: no user enumeration.
        assert "Incorrect username or password" in str(raised.value)


def test_signup_can_be_disabled(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", registry_allow_signup=False)
    registry = RegistryService.open(settings)
    try:
        body = {"name": "dave", "password": PASSWORD, "email": "dave@example.com"}
        with pytest.raises(Forbidden):
            registry.accounts.couch_login("dave", body)
        assert registry.store.user_by_name("dave") is None
    finally:
        registry.close()


def test_basic_authentication(accounts: Accounts, alice: StoredUser) -> None:
    who = accounts.authenticate(_basic("alice", PASSWORD), None)
    assert isinstance(who, Principal)
    assert (who.user.name, who.token, who.readonly) == ("alice", None, False)
    for bad in (_basic("alice", "nope"), _basic("nobody", PASSWORD), "Basic !!!", "Basic YWxpY2U="):
        with pytest.raises(Unauthorized):
            accounts.authenticate(bad, None)
    with pytest.raises(Unauthorized):
        accounts.authenticate("Digest abc", None)
    assert accounts.authenticate(None, None) is None
    assert accounts.authenticate("", None) is None


# --- tokens --------------------------------------------------------------------------------------


def test_tokens_are_stored_as_sha256_only(
    service: RegistryService, accounts: Accounts, alice: StoredUser
) -> None:
    secret, stored = accounts.issue_token(alice, name="ci")
    assert secret.startswith("assay_")
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(stored.preview)
    assert len(stored.preview) < len(secret) // 2
    with service.store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(sa.select(registry_tokens))]
    assert len(rows) == 1
    assert all(secret not in str(value) for value in rows[0].values())
    # npm token list shows the key and the preview, never the secret.
    listed = accounts.list_tokens(_bearer(accounts, secret))
    assert listed["total"] == 1
    assert secret not in str(listed)
    assert listed["objects"][0]["token"] == stored.preview
    assert listed["objects"][0]["key"] == stored.key


def test_token_hashes_are_compared_in_constant_time(
    accounts: Accounts, alice: StoredUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    secret, _ = accounts.issue_token(alice)
    _bearer(accounts, secret)
    assert calls == [(hash_token(secret).encode(), hash_token(secret).encode())]
    assert same_hash("ab", "ab")
    assert not same_hash("ab", "ac")


def test_unknown_token_is_refused(accounts: Accounts, alice: StoredUser) -> None:
    accounts.issue_token(alice)
    with pytest.raises(Unauthorized) as raised:
        accounts.authenticate("Bearer assay_not-a-token", "127.0.0.1")
    assert raised.value.challenge is not None


def test_read_only_tokens_never_write(accounts: Accounts, alice: StoredUser) -> None:
    secret, _ = accounts.issue_token(alice, readonly=True)
    who = _bearer(accounts, secret)
    assert who.readonly
    assert require(who, "look", write=False) is who
    with pytest.raises(Forbidden):
        require(who, "publish packages")
    with pytest.raises(Forbidden):
        accounts.create_token({"password": PASSWORD}, who)
    with pytest.raises(Unauthorized):
        require(None, "publish packages")
    assert accounts.list_tokens(who)["total"] == 1


def test_expired_token_is_refused(
    service: RegistryService, accounts: Accounts, alice: StoredUser
) -> None:
    secret, _ = accounts.issue_token(alice, expires_ms=now_ms() - 1)
    with pytest.raises(Unauthorized, match="expired"):
        accounts.authenticate(f"Bearer {secret}", "127.0.0.1")


def test_cidr_limited_token(accounts: Accounts, alice: StoredUser) -> None:
    secret, _ = accounts.issue_token(alice, cidr_whitelist=("10.1.0.0/16",))
    assert _bearer(accounts, secret, "10.1.2.3").user.name == "alice"
    for elsewhere in ("127.0.0.1", None, "not-an-ip"):
        with pytest.raises(Unauthorized) as raised:
            accounts.authenticate(f"Bearer {secret}", elsewhere)
        assert raised.value.challenge == "ipaddress"


def test_create_token_needs_the_password(accounts: Accounts, alice: StoredUser) -> None:
    login, _ = accounts.issue_token(alice)
    who = _bearer(accounts, login)
    for body in ({}, {"password": "wrong password"}, {"password": 42}):
        with pytest.raises(Unauthorized):
            accounts.create_token(body, who)
    with pytest.raises(BadRequest):
        accounts.create_token([PASSWORD], who)
    created = accounts.create_token(
        {
            "password": PASSWORD,
            "packages_and_scopes_permission": "read-only",
            "name": "deploy",
            "cidr_whitelist": ["192.168.1.7/24"],
            "expires": 7,
        },
        who,
    )
    assert created["readonly"] is True
    assert created["name"] == "deploy"
    assert created["cidr_whitelist"] == ["192.168.1.0/24"]
    assert "expires" in created
    assert _bearer(accounts, created["token"], "192.168.1.9").readonly


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD, "expires": 0},
        {"password": PASSWORD, "expires": "soon"},
        {"password": PASSWORD, "cidr_whitelist": ["::1/128"]},
        {"password": PASSWORD, "cidr_whitelist": ["10.0.0.300/8"]},
        {"password": PASSWORD, "cidr_whitelist": "10.0.0.0/8"},
    ],
)
def test_create_token_refuses_bad_options(
    accounts: Accounts, alice: StoredUser, body: dict[str, object]
) -> None:
    login, _ = accounts.issue_token(alice)
    with pytest.raises(BadRequest):
        accounts.create_token(body, _bearer(accounts, login))


def test_revoke_by_key_by_secret_and_logout(accounts: Accounts, alice: StoredUser) -> None:
    bob = accounts.add_user("bob", "bob@example.com", PASSWORD)
    login, _ = accounts.issue_token(alice)
    who = _bearer(accounts, login)
    by_key, stored = accounts.issue_token(alice)
    by_secret, _ = accounts.issue_token(alice)
    bobs, bob_stored = accounts.issue_token(bob)

    # Another user's token is not yours to revoke, whether named by key or by secret.
    with pytest.raises(NotFound):
        accounts.delete_token(bob_stored.key, who)
    with pytest.raises(NotFound):
        accounts.delete_token(bobs, who)
    assert _bearer(accounts, bobs).user.name == "bob"

    accounts.delete_token(stored.key, who)
    accounts.delete_token(by_secret, who)
    for revoked in (by_key, by_secret):
        with pytest.raises(Unauthorized, match="revoked"):
            accounts.authenticate(f"Bearer {revoked}", "127.0.0.1")
    with pytest.raises(NotFound):
        accounts.delete_token(stored.key, who)
    with pytest.raises(Unauthorized):
        accounts.delete_token(stored.key, None)

    accounts.logout(login)  # npm logout: the token is its own credential
    with pytest.raises(Unauthorized):
        accounts.authenticate(f"Bearer {login}", "127.0.0.1")
    accounts.logout(login)  # twice is harmless
