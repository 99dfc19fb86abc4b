"""Bounded work per request (issue 15, part 1; docs/operations.md "Limits").

Each test is one finding of the issue, against our apps in process (httpx's ASGI transport,
which hands the app the request body chunk by chunk, so a test sees how much of it was read)
or under uvicorn on loopback:

* write routes authenticate from the headers before they read a body, and read at most their
  route's cap (the OIDC job route, the registry's small routes and the publish PUT);
* a version's manifest is at most 1 MiB, a packument at most the configured size, and the
  packument cache is bounded by bytes;
* search takes a few words and a bounded ``from``/``size``; integer parameters out of range
  are 400, never 500;
* the log page of a package is paginated and served from a fixed number of queries;
* failed logins are throttled per client and per user (429 with ``Retry-After``) and an unknown
  user costs the same scrypt work as a known one;
* log appends are limited per client, except for a writer holding the log's bearer secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assay.instance.app import create_instance_app
from assay.instance.layout import DataDir
from assay.instance.setup import initialize
from assay.keys import Signer, generate_ec
from assay.limits import MAX_MANIFEST_BYTES, OIDC_BODY_BYTES, SMALL_BODY_BYTES, RateLimit
from assay.limits import RateLimiter as Limiter
from assay.oidc.app import create_app as create_oidc_app
from assay.oidc.issuer import OIDCIssuer
from assay.oidc.jobs import FileJobStore, ensure_registration_secret
from assay.registry.app import create_app as create_registry_app
from assay.registry.service import RegistryService
from assay.settings import Settings
from assay.sign.clients import HttpLog
from assay.sign.errors import SigningError
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.tlog_store import TlogStore
from assay.tlog.app import create_app as create_tlog_app
from assay.tlog.sequencer import LogIdentity, Sequencer
from assay.tlog.service import LogService
from tests.rekord import hashedrekord
from tests.servers import loopback_socket, serve_app, socket_url
from tests.services import running_registry
from tests.unit.registry.tarballs import publish_body, tarball

MiB = 1024 * 1024
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Body:
    """A request body of ``total`` bytes in 1 MiB chunks that counts what the app pulled."""

    def __init__(self, total: int, chunk: bytes = b" " * MiB) -> None:
        self.total = total
        self.chunk = chunk
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.read < self.total:
            self.read += len(self.chunk)
            yield self.chunk

    @property
    def headers(self) -> dict[str, str]:
        return {"content-length": str(self.total), "content-type": "application/json"}


def _client(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url=base_url, timeout=120)


# --- bodies are read after authentication, up to the route's cap ---------------------------------


async def test_oidc_job_route_answers_401_without_reading_an_anonymous_body(
    tmp_path: Path,
) -> None:
    issuer = OIDCIssuer(
        "http://testserver/-/oidc", generate_ec(), jobs=FileJobStore(tmp_path / "jobs")
    )
    secret = ensure_registration_secret(tmp_path)
    async with _client(create_oidc_app(issuer, registration_secret=secret)) as client:
        huge = Body(160 * MiB)
        response = await client.post("/ci/jobs", content=huge, headers=huge.headers)
        assert response.status_code == 401
        assert "registration secret" in response.json()["error"]
        assert huge.read <= MiB  # nothing (at most the first chunk) of 160 MiB was pulled

        # With the secret, the body is read up to the cap and no further.
        authorized = {**huge.headers, "authorization": f"Bearer {secret}"}
        chunked = Body(4 * MiB, b"{" * (64 * 1024))
        response = await client.post(
            "/ci/jobs",
            content=chunked,
            headers={"authorization": f"Bearer {secret}", "content-type": "application/json"},
        )
        assert response.status_code == 413
        assert chunked.read <= OIDC_BODY_BYTES + 64 * 1024
        declared = Body(160 * MiB)
        response = await client.post("/ci/jobs", content=declared, headers=authorized)
        assert response.status_code == 413
        assert declared.read <= MiB
        # And a good registration still works.
        response = await client.post(
            "/ci/jobs", json={"provider": "github"}, headers={"authorization": f"Bearer {secret}"}
        )
        assert response.status_code == 201, response.text


@contextmanager
def _registry(settings: Settings) -> Iterator[tuple[RegistryService, str]]:
    service = RegistryService.open(settings)
    try:
        user = service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = service.accounts.issue_token(user)
        yield service, token
    finally:
        service.close()


async def test_registry_write_routes_authenticate_before_reading_the_body(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with _registry(settings) as (service, token):
        async with _client(create_registry_app(service, settings)) as client:
            # An anonymous publish under the body limit: 401 before any of it is read.
            for method, path in (
                ("PUT", "/pkg"),
                ("PUT", "/@scope%2fpkg/-rev/1-abc"),
                ("POST", "/-/npm/v1/tokens"),
                ("PUT", "/-/package/pkg/dist-tags/beta"),
                ("POST", "/-/package/pkg/access"),
            ):
                body = Body(40 * MiB)
                response = await client.request(method, path, content=body, headers=body.headers)
                assert response.status_code == 401, (method, path, response.text)
                assert "logged in" in response.json()["error"]
                assert body.read <= MiB, (method, path)

            # Authenticated, the small routes read no more than a few KiB.
            auth = {"authorization": f"Bearer {token}"}
            for method, path in (
                ("POST", "/-/npm/v1/tokens"),
                ("PUT", "/-/package/pkg/dist-tags/beta"),
                ("POST", "/-/package/pkg/access"),
                ("PUT", "/-/user/org.couchdb.user:bob"),
            ):
                body = Body(40 * MiB, b" " * 4096)
                response = await client.request(
                    method, path, content=body, headers={**auth, "content-type": "text/plain"}
                )
                assert response.status_code == 413, (method, path, response.text)
                assert str(SMALL_BODY_BYTES) in response.json()["error"]
                assert body.read <= SMALL_BODY_BYTES + 4096, (method, path)


# --- manifests, packuments and the packument cache ------------------------------------------------


def _put(client: httpx.Client, token: str, name: str, body: dict[str, Any]) -> httpx.Response:
    return client.put(
        f"/{name}",
        content=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )


def test_a_manifest_over_1_mib_is_refused(tmp_path: Path) -> None:
    with running_registry(Settings(data_dir=tmp_path / "data")) as registry:
        user = registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = registry.service.accounts.issue_token(user)
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            # The tarball reader keeps package.json under 1 MiB, but npm's normalisation grows
            # it: `directories.bin` becomes one `bin` entry per file (this one, 2.5 MB).
            files = {f"bin/{'b' * 200}{i}": b"#!/usr/bin/env node\n" for i in range(6000)}
            manifest = {"name": "big", "version": "1.0.0", "directories": {"bin": "bin"}}
            data = tarball("big", "1.0.0", files=files, package_json=manifest)
            body = publish_body("big", "1.0.0", data=data, directories={"bin": "bin"})
            response = _put(client, token, "big", body)
            assert response.status_code == 413, response.text
            assert f"limit of {MAX_MANIFEST_BYTES} bytes" in response.json()["error"]
            assert client.get("/big").status_code == 404
            # So does a package.json just under the reader's limit, once `dist` is added.
            edge = publish_body("big", "1.0.0", payload="x" * (MAX_MANIFEST_BYTES - 100))
            response = _put(client, token, "big", edge)
            assert response.status_code == 413, response.text
            assert client.get("/big").status_code == 404
            fits = publish_body("big", "1.0.0", payload="x" * (MAX_MANIFEST_BYTES // 2))
            assert _put(client, token, "big", fits).status_code == 201


def test_a_packument_stops_at_its_configured_size(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", registry_max_packument_bytes=700 * 1024)
    with running_registry(settings) as registry:
        user = registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = registry.service.accounts.issue_token(user)
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            for version in ("1.0.0", "1.0.1"):
                body = publish_body("grows", version, payload="y" * (300 * 1024))
                assert _put(client, token, "grows", body).status_code == 201
            third = publish_body("grows", "1.0.2", payload="y" * (300 * 1024))
            response = _put(client, token, "grows", third)
            assert response.status_code == 422, response.text
            assert "limit of 716800 bytes" in response.json()["error"]
            assert list(client.get("/grows").json()["versions"]) == ["1.0.0", "1.0.1"]
            # A small version still fits.
            assert _put(client, token, "grows", publish_body("grows", "1.0.3")).status_code == 201


def test_the_packument_cache_is_bounded_by_bytes(tmp_path: Path) -> None:
    budget = 64 * 1024
    settings = Settings(data_dir=tmp_path / "data", registry_packument_cache_bytes=budget)
    with running_registry(settings) as registry:
        service = registry.service
        user = service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = service.accounts.issue_token(user)
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            names = [f"pkg{i}" for i in range(12)]
            for name in names:
                body = publish_body(name, "1.0.0", payload="z" * (10 * 1024))
                assert _put(client, token, name, body).status_code == 201
            for _ in range(2):
                for name in names:
                    assert client.get(f"/{name}").json()["name"] == name
                    assert 0 < service.cache_bytes <= budget
            # One package larger than the whole cache is served, never kept.
            body = publish_body("huge", "1.0.0", payload="h" * (2 * budget))
            assert _put(client, token, "huge", body).status_code == 201
            assert client.get("/huge").status_code == 200
            assert service.cache_bytes <= budget
            assert service.cached_packument("huge") is None


# --- search and integer parameters ----------------------------------------------------------------


async def test_search_takes_a_few_words_and_bounded_offsets(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with _registry(settings) as (service, _token):
        async with _client(create_registry_app(service, settings)) as client:
            words = " ".join("a" * 20_000)  # 20,000 words: took 10 s of CPU, then a 500
            response = await client.get("/-/v1/search", params={"text": words})
            assert response.status_code == 400
            assert "at most" in response.json()["error"]
            eleven = " ".join(f"w{i}" for i in range(11))
            assert (await client.get("/-/v1/search", params={"text": eleven})).status_code == 400
            ten = " ".join(f"w{i}" for i in range(10))
            assert (await client.get("/-/v1/search", params={"text": ten})).status_code == 200
            for params in (
                {"text": "x", "from": "99999999999999999999999"},  # overflowed the query: 500
                {"text": "x", "from": "9223372036854775808"},
                {"text": "x", "from": "10001"},
                {"text": "x", "from": "-1"},
                {"text": "x", "size": "0"},
                {"text": "x", "size": "251"},
                {"text": "x", "size": "1e3"},
                {"text": "x" * 257},
            ):
                response = await client.get("/-/v1/search", params=params)
                assert response.status_code == 400, (params, response.text)
                assert "error" in response.json()
            ok = await client.get("/-/v1/search", params={"text": "x", "from": "10000"})
            assert ok.status_code == 200


async def test_token_exchanges_are_limited_per_client(tmp_path: Path) -> None:
    """The anonymous OIDC exchange verifies signatures: its callers are limited before any
    work (429 with Retry-After), whatever the token."""
    settings = Settings(
        data_dir=tmp_path / "data", token_exchanges_per_minute=1, token_exchange_burst=2
    )
    with _registry(settings) as (service, _token):
        async with _client(create_registry_app(service, settings)) as client:
            route = "/-/npm/v1/oidc/token/exchange/package/widget"
            answers = [
                await client.post(route, headers={"Authorization": "Bearer not.a.jwt"})
                for _ in range(3)
            ]
    assert all(a.status_code in {401, 404} for a in answers[:2])  # refused on their merits
    assert answers[2].status_code == 429
    assert int(answers[2].headers["Retry-After"]) > 0


@pytest.fixture
def log_app(tmp_path: Path) -> Iterator[tuple[LogService, TlogStore]]:
    engine = open_engine(sqlite_url(tmp_path / "log.db"))
    migrate(engine)
    store = TlogStore(engine)
    identity = LogIdentity(name="log.test", tree_id=42, signer=Signer(generate_ec()))
    yield LogService(store, identity, Sequencer(store, identity)), store
    engine.dispose()


def test_log_integer_parameters_out_of_range_are_400(
    log_app: tuple[LogService, TlogStore],
) -> None:
    service, _ = log_app
    with serve_app(create_tlog_app(service)) as url, httpx.Client(base_url=url) as client:
        assert client.post("/api/v1/log/entries", json=hashedrekord(b"one")).status_code == 201
        for query in (
            "logIndex=9999999999999999999",  # was a 500 (an overflow in the query)
            "logIndex=99999999999999999999999",
            "logIndex=-1",
            "logIndex=%D9%A3",  # an Arabic-Indic digit: int() takes it, we do not
            "logIndex=1_0",
        ):
            response = client.get(f"/api/v1/log/entries?{query}")
            assert response.status_code == 400, (query, response.text)
            assert response.json()["code"] == 400
        assert client.get("/api/v1/log/entries?logIndex=0").status_code == 200
        assert client.get("/api/v1/log/entries?logIndex=5").status_code == 404
        proof = client.get("/api/v1/log/proof?firstSize=1&lastSize=99999999999999999999")
        assert proof.status_code == 400
        found = client.post(
            "/api/v1/log/entries/retrieve", json={"logIndexes": [9999999999999999999, 0]}
        )
        assert found.status_code == 200
        assert len(found.json()) == 1


# --- log appends ----------------------------------------------------------------------------------


def test_log_appends_are_limited_per_client_but_not_for_the_writer_secret(
    log_app: tuple[LogService, TlogStore],
) -> None:
    service, _ = log_app
    appends = Limiter(RateLimit(burst=3, per_second=0.01), "log appends from this address")
    writer = secrets.token_urlsafe(16)
    app = create_tlog_app(service, appends=appends, writer_secret=writer)
    with serve_app(app) as url, httpx.Client(base_url=url) as client:
        for i in range(3):
            entry = hashedrekord(b"a%d" % i)
            assert client.post("/api/v1/log/entries", json=entry).status_code == 201
        refused = client.post("/api/v1/log/entries", json=hashedrekord(b"a3"))
        assert refused.status_code == 429
        assert refused.json()["code"] == 429
        assert "Too many log appends" in refused.json()["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 100
        # The refused entry was not appended; a trusted writer appends it.
        trusted = {"authorization": f"Bearer {writer}"}
        for i in range(3, 8):
            entry = hashedrekord(b"a%d" % i)
            response = client.post("/api/v1/log/entries", json=entry, headers=trusted)
            assert response.status_code == 201
        wrong = client.post(
            "/api/v1/log/entries",
            json=hashedrekord(b"a9"),
            headers={"authorization": "Bearer guess"},
        )
        assert wrong.status_code == 401
        assert client.get("/api/v1/log").json()["treeSize"] == 8
        # Another client (another loopback address) has its own budget.
        with httpx.Client(
            base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        ) as other:
            response = other.post("/api/v1/log/entries", json=hashedrekord(b"b"))
            assert response.status_code == 201


def test_the_registrys_http_log_writer_sends_the_writer_secret(
    log_app: tuple[LogService, TlogStore],
) -> None:
    service, _ = log_app
    writer = secrets.token_urlsafe(16)
    appends = Limiter(RateLimit(burst=1, per_second=0.01), "log appends from this address")
    with serve_app(create_tlog_app(service, appends=appends, writer_secret=writer)) as url:
        trusted = HttpLog(url, bearer=writer)
        for i in range(3):
            assert int(trusted.append(hashedrekord(b"t%d" % i))["logIndex"]) == i
        anonymous = HttpLog(url)
        anonymous.append(hashedrekord(b"anonymous"))
        with pytest.raises(SigningError, match="429"):
            anonymous.append(hashedrekord(b"anonymous again"))


# --- logins ---------------------------------------------------------------------------------------


def _login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    return client.put(
        f"/-/user/org.couchdb.user:{name}",
        json={"name": name, "password": password, "type": "user"},
    )


def test_failed_logins_are_throttled_per_client_and_per_user(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", login_failures_per_client=3, login_failures_per_user=5
    )
    with running_registry(settings) as registry:
        registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            assert _login(client, "alice", "alice-password").status_code == 201  # costs nothing
            for _ in range(3):
                assert _login(client, "alice", "wrong-password").status_code == 401
            limited = _login(client, "alice", "alice-password")
            assert limited.status_code == 429
            assert "Too many failed logins" in limited.json()["error"]
            assert int(limited.headers["retry-after"]) >= 1
            # Unknown users spend the same budget (no way around it by guessing names).
            assert _login(client, "nobody", "whatever-pass").status_code == 429
            basic = base64.b64encode(b"alice:wrong-password").decode()
            whoami = client.get("/-/whoami", headers={"authorization": f"Basic {basic}"})
            assert whoami.status_code == 429

        # Failures for one user from several addresses add up to the per-user budget.
        for address in ("127.0.0.2", "127.0.0.3"):
            transport = httpx.HTTPTransport(local_address=address)
            with httpx.Client(base_url=registry.url, transport=transport, timeout=60) as client:
                assert _login(client, "alice", "wrong-password").status_code == 401
        transport = httpx.HTTPTransport(local_address="127.0.0.4")
        with httpx.Client(base_url=registry.url, transport=transport, timeout=60) as client:
            assert _login(client, "alice", "alice-password").status_code == 429
            assert _login(client, "carol", "carol-wrong1").status_code == 401  # another user


def test_an_unknown_user_costs_the_same_scrypt_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    with running_registry(Settings(data_dir=tmp_path / "data")) as registry:
        registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            assert _login(client, "nobody", "whatever-pass").status_code == 401  # warm up
            monkeypatch.setattr(hashlib, "scrypt", counting)
            assert _login(client, "alice", "wrong-password").status_code == 401
            known = len(calls)
            assert _login(client, "nobody", "wrong-password").status_code == 401
            unknown = len(calls) - known
            basic = base64.b64encode(b"nobody:wrong-password").decode()
            assert (
                client.get("/-/whoami", headers={"authorization": f"Basic {basic}"}).status_code
                == 401
            )
            assert known == 1
            assert unknown == 1  # was 0: an unknown user answered 30x faster
            assert len(calls) == 3


# --- the log page of a package --------------------------------------------------------------------


@dataclass
class Served:
    url: str
    token: str


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Served]:
    data = tmp_path / "data"
    initialize(DataDir(data))
    sock = loopback_socket()
    url = socket_url(sock)
    settings = Settings(
        data_dir=data, public_url=url, tlog_appends_per_minute=1, tlog_append_burst=2
    )
    with serve_app(create_instance_app(settings), sock) as served:
        signup = httpx.put(
            f"{served}/-/user/org.couchdb.user:alice",
            json={"name": "alice", "password": "alice-password", "email": "a@example.com"},
        )
        assert signup.status_code == 201, signup.text
        yield Served(served, signup.json()["token"])


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


def test_the_log_page_of_a_package_is_paginated_and_indexed(instance: Served) -> None:
    with httpx.Client(base_url=instance.url, timeout=60) as client:
        for patch in range(150):
            body = publish_body("many", f"1.0.{patch}")
            assert _put(client, instance.token, "many", body).status_code == 201
        client.get("/many")  # the packument, cached as for any reader
        with counting_queries() as statements:
            first = client.get("/-/web/log/package/many")
        assert first.status_code == 200
        # Before: one full package load per version shown (hundreds of queries, 6 s).
        assert len(statements) <= 5, statements
        assert "Page 1 of 8" in first.text
        assert "1.0.149" in first.text
        assert ">1.0.129<" not in first.text
        assert 'href="/-/web/log/package/many?page=2"' in first.text
        last = client.get("/-/web/log/package/many", params={"page": "8"})
        assert last.status_code == 200
        assert ">1.0.0<" in last.text
        assert "Page 8 of 8" in last.text
        assert client.get("/-/web/log/package/many", params={"page": "9"}).status_code == 404
        for bad in ("0", "x", "99999999999999999999999"):
            response = client.get("/-/web/log/package/many", params={"page": bad})
            assert response.status_code == 400, bad
        # Integer parameters of the pages are bounded too.
        assert client.get("/-/web/log/entries/9999999999999999999").status_code == 400
        assert client.get("/-/web/search", params={"q": "many", "from": "1e9"}).status_code == 400


def test_the_instance_limits_log_appends_from_its_settings(instance: Served) -> None:
    with httpx.Client(base_url=f"{instance.url}/-/tlog", timeout=60) as client:
        statuses = [
            client.post("/api/v1/log/entries", json=hashedrekord(b"i%d" % i)).status_code
            for i in range(3)
        ]
        assert statuses == [201, 201, 429]
