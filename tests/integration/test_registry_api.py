"""The registry over HTTP (httpx against uvicorn on loopback), on both backends.

What the npm client cannot easily be made to send: malformed and hostile publishes,
concurrent publishes, conditional requests, traversal attempts. After every refusal the
database and the blob store are checked to hold nothing.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assay.registry.scopes import ScopeAdmin
from assay.registry.service import CROSS_PROCESS_STALENESS, RegistryService
from assay.settings import Settings
from assay.storage.registry_store import TARBALL_PREFIX, sweep_orphans
from assay.storage.schema import registry_packages, registry_versions
from tests.services import RunningRegistry, running_registry
from tests.unit.registry.tarballs import publish_body, tarball


@dataclass
class Api:
    registry: RunningRegistry
    client: httpx.Client
    token: str

    @property
    def service(self) -> RegistryService:
        return self.registry.service

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    def publish(self, name: str, body: Any, token: str | None = None) -> httpx.Response:
        path = name.replace("/", "%2f")
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.put(
            f"/{path}",
            content=content,
            headers={**self.auth(token), "content-type": "application/json"},
        )

    def stored(self) -> tuple[int, int, list[str]]:
        """(package rows, version rows, blob keys)."""
        with self.service.store.engine.connect() as connection:
            packages = connection.execute(
                sa.select(sa.func.count()).select_from(registry_packages)
            ).scalar_one()
            versions = connection.execute(
                sa.select(sa.func.count()).select_from(registry_versions)
            ).scalar_one()
        blobs = sorted(info.key for info in self.service.blobs.list(TARBALL_PREFIX))
        return int(packages), int(versions), blobs


def _settings(registry_settings: Settings) -> Settings:
    # Small limits so that the size checks are cheap to reach.
    return registry_settings.model_copy(
        update={"registry_max_body_bytes": 256 * 1024, "registry_max_tarball_bytes": 64 * 1024}
    )


@pytest.fixture
def api(registry_settings: Settings) -> Iterator[Api]:
    with running_registry(_settings(registry_settings)) as registry:
        user = registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = registry.service.accounts.issue_token(user)
        ScopeAdmin(registry.service.store).grant("@team", "alice")  # an organisation scope
        with httpx.Client(
            base_url=registry.url, timeout=60, limits=httpx.Limits(max_connections=40)
        ) as client:
            yield Api(registry, client, token)


def test_packument_tarball_and_conditional_requests(api: Api) -> None:
    for version in ("1.0.0", "1.1.0"):
        body = publish_body(
            "@team/lib", version, description="a library", dependencies={"x": "^1"},
            scripts={"postinstall": "node setup.js"},
        )  # fmt: skip
        assert api.publish("@team/lib", body).status_code == 201

    full = api.client.get("/@team%2flib")
    assert full.status_code == 200
    assert full.headers["content-type"] == "application/json"
    doc = full.json()
    assert doc["name"] == doc["_id"] == "@team/lib"
    assert doc["dist-tags"] == {"latest": "1.1.0"}
    assert list(doc["versions"]) == ["1.0.0", "1.1.0"]
    assert set(doc["time"]) == {"created", "modified", "1.0.0", "1.1.0"}
    assert doc["maintainers"] == [{"name": "alice", "email": "alice@example.com"}]
    v1 = doc["versions"]["1.1.0"]
    assert v1["dist"]["tarball"] == f"{api.registry.url}@team/lib/-/lib-1.1.0.tgz"
    assert v1["_npmUser"] == {"name": "alice", "email": "alice@example.com"}
    assert v1["hasInstallScript"] is True
    assert doc["_rev"].startswith("2-")

    # Every spelling of a scoped name reaches the same document.
    for path in ("/@team/lib", "/%40team%2flib", "/@team%2Flib"):
        assert api.client.get(path).content == full.content

    corgi = api.client.get(
        "/@team%2flib", headers={"accept": "application/vnd.npm.install-v1+json"}
    )
    assert corgi.headers["content-type"] == "application/vnd.npm.install-v1+json"
    assert set(corgi.json()) == {"name", "modified", "dist-tags", "versions"}
    assert "description" not in corgi.json()["versions"]["1.0.0"]
    assert corgi.json()["versions"]["1.0.0"]["dependencies"] == {"x": "^1"}
    assert corgi.headers["etag"] != full.headers["etag"]

    cached = api.client.get("/@team%2flib", headers={"if-none-match": full.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""
    assert full.headers["last-modified"].endswith("GMT")

    # Tarballs: bytes, length, ETag, HEAD, 304; the packument's integrity is of these bytes.
    url = v1["dist"]["tarball"].removeprefix(api.registry.url.rstrip("/"))
    got = api.client.get(url)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert int(got.headers["content-length"]) == len(got.content)
    digest = base64.b64encode(hashlib.sha512(got.content).digest()).decode()
    assert v1["dist"]["integrity"] == f"sha512-{digest}"
    head = api.client.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.content == b""
    assert api.client.get(url, headers={"if-none-match": got.headers["etag"]}).status_code == 304
    assert api.client.get("/@team/lib/-/lib-9.9.9.tgz").json() == {"error": "Not found"}

    # One version by number or tag.
    assert api.client.get("/@team%2flib/latest").json()["version"] == "1.1.0"
    assert api.client.get("/@team%2flib/1.0.0").json()["version"] == "1.0.0"
    assert api.client.get("/missing-package").status_code == 404
    assert api.client.get("/-/package/@team%2flib/visibility").json() == {"public": True}


def _bad(name: str, **changes: Any) -> dict[str, Any]:
    return publish_body(name, "1.0.0", **changes)


def _tamper(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


BAD_PUBLISHES: list[tuple[str, str, Any, int, str]] = [
    ("malformed-json", "pkg", b'{"name": "pkg", "versions": ', 400, "Malformed JSON"),
    ("not-an-object", "pkg", b"[1, 2]", 400, "must be a JSON object"),
    ("nan", "pkg", b'{"name": NaN}', 400, "Malformed JSON"),
    (
        "no-attachments",
        "pkg",
        _tamper(_bad("pkg"), ("_attachments",), {}),
        400,
        "No tarball attached",
    ),
    (
        "integrity-mismatch",
        "pkg",
        _tamper(
            _bad("pkg"), ("versions", "1.0.0", "dist", "integrity"), "sha512-" + "A" * 86 + "=="
        ),
        400,
        "does not match the tarball",
    ),
    (
        "shasum-mismatch",
        "pkg",
        _tamper(_bad("pkg"), ("versions", "1.0.0", "dist", "shasum"), "0" * 40),
        400,
        "does not match the tarball",
    ),
    (
        "package-json-other-name",
        "pkg",
        _bad("pkg", data=tarball("other", "1.0.0")),
        400,
        "package.json is for other@1.0.0",
    ),
    (
        "package-json-other-version",
        "pkg",
        _bad("pkg", data=tarball("pkg", "6.6.6")),
        400,
        "package.json is for pkg@6.6.6",
    ),
    (
        "wrong-attachment-key",
        "pkg",
        {
            **_bad("pkg"),
            "_attachments": {"evil-1.0.0.tgz": _bad("pkg")["_attachments"]["pkg-1.0.0.tgz"]},
        },
        400,
        "Expected an attachment named 'pkg-1.0.0.tgz'",
    ),
    (
        "not-base64",
        "pkg",
        _tamper(_bad("pkg"), ("_attachments", "pkg-1.0.0.tgz", "data"), "!!!not base64!!!"),
        400,
        "not valid base64",
    ),
    ("not-a-tarball", "pkg", _bad("pkg", data=b"hello world"), 400, "Invalid tarball"),
    (
        "url-name-mismatch",
        "pkg",
        {**_bad("other"), "name": "other"},
        400,
        "does not match the URL",
    ),
    (
        "invalid-version",
        "pkg",
        publish_body("pkg", "1.0", data=tarball("pkg", "1.0")),
        400,
        "not a valid semver version",
    ),
    (
        "sigstore-bundle",
        "pkg",
        _tamper(
            _bad("pkg"),
            ("_attachments", "pkg-1.0.0.sigstore"),
            {"content_type": "application/vnd.dev.sigstore.bundle.v0.3+json", "data": "{}"},
        ),
        422,
        "Error verifying sigstore provenance bundle",
    ),
    (
        "tarball-too-large",
        "pkg",
        _bad(
            "pkg", data=tarball("pkg", "1.0.0", files={"big.bin": secrets.token_bytes(100 * 1024)})
        ),
        413,
        "limit",
    ),
    ("body-too-large", "pkg", b'{"name": "' + b"x" * (300 * 1024) + b'"}', 413, "limit"),
    ("restricted", "@a/pkg", {**_bad("@a/pkg"), "access": "restricted"}, 400, "public packages"),
    ("uppercase-name", "Pkg", _bad("Pkg"), 400, "capital letters"),
    ("core-module", "fs", _bad("fs"), 400, "core module"),
    ("blocked-name", "node_modules", _bad("node_modules"), 400, "not a valid package name"),
    ("leading-dot", ".hidden", _bad(".hidden"), 400, "cannot start with a period"),
]


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [case[1:] for case in BAD_PUBLISHES],
    ids=[case[0] for case in BAD_PUBLISHES],
)
def test_bad_publishes_are_refused_and_store_nothing(
    api: Api, name: str, body: Any, status: int, message: str
) -> None:
    response = api.publish(name, body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert api.stored() == (0, 0, [])


@pytest.mark.parametrize(
    "path",
    [
        "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e",
        "/%2e%2e%2fassay.db",
        "/pkg%5c..%5c..%5cassay.db",
        "/@scope%2f..",
        "/@..%2fx",
        "/pkg/-/..%2f..%2fassay.db",
        "/pkg/-/%2e%2e",
    ],
)
def test_traversal_attempts_are_refused(api: Api, path: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = api.client.request(
            method, path, content=b"{}", headers={**api.auth(), "content-type": "application/json"}
        )
        assert response.status_code in {400, 404}, (method, path, response.text)
        assert "error" in response.json()
    assert api.stored() == (0, 0, [])


def test_authentication_and_authorization(api: Api) -> None:
    body = publish_body("guarded", "1.0.0")
    anonymous = api.client.put("/guarded", json=body)
    assert anonymous.status_code == 401
    assert "logged in" in anonymous.json()["error"]
    bad = api.publish("guarded", body, token="assay_wrong")  # noqa: S106
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith("Bearer")
    user = api.service.store.user_by_name("alice")
    assert user is not None
    readonly, _ = api.service.accounts.issue_token(user, readonly=True)
    refused = api.publish("guarded", body, token=readonly)
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]
    elsewhere, _ = api.service.accounts.issue_token(user, cidr_whitelist=("10.1.0.0/16",))
    ip = api.publish("guarded", body, token=elsewhere)
    assert ip.status_code == 401
    assert ip.headers["www-authenticate"] == "ipaddress"
    assert api.stored() == (0, 0, [])
    here, _ = api.service.accounts.issue_token(user, cidr_whitelist=("127.0.0.0/8",))
    assert api.publish("guarded", body, token=here).status_code == 201
    whoami = api.client.get("/-/whoami", headers=api.auth(here))
    assert whoami.json() == {"username": "alice"}
    basic = base64.b64encode(b"alice:alice-password").decode()
    assert api.client.get("/-/whoami", headers={"authorization": f"Basic {basic}"}).json() == {
        "username": "alice"
    }
    wrong = base64.b64encode(b"alice:nope").decode()
    denied = api.client.get("/-/whoami", headers={"authorization": f"Basic {wrong}"})
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Basic")


def test_stale_revision_conflicts(api: Api) -> None:
    for version in ("1.0.0", "1.1.0"):
        assert api.publish("revs", publish_body("revs", version)).status_code == 201
    doc = api.client.get("/revs", params={"write": "true"}).json()
    stale = doc["_rev"]
    assert api.publish("revs", publish_body("revs", "1.2.0")).status_code == 201
    del doc["versions"]["1.0.0"]
    response = api.client.put(f"/revs/-rev/{stale}", json=doc, headers=api.auth())
    assert response.status_code == 409
    assert "changed since it was read" in response.json()["error"]
    assert list(api.client.get("/revs").json()["versions"]) == ["1.0.0", "1.1.0", "1.2.0"]


def test_32_concurrent_publishes_of_distinct_versions_all_land(api: Api) -> None:
    bodies = [publish_body("busy", f"1.0.{i}") for i in range(32)]
    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda body: api.publish("busy", body).status_code, bodies))
    assert statuses == [201] * 32
    doc = api.client.get("/busy").json()
    assert sorted(doc["versions"], key=lambda v: int(v.rsplit(".", 1)[1])) == [
        f"1.0.{i}" for i in range(32)
    ]
    packages, versions, blobs = api.stored()
    assert (packages, versions, len(blobs)) == (1, 32, 32)
    assert doc["_rev"].startswith("32-")


def test_32_concurrent_publishes_of_one_version_land_once(api: Api) -> None:
    # Different tarballs for the same version: exactly one may win.
    bodies = [
        publish_body("race", "1.0.0", data=tarball("race", "1.0.0", files={"n.txt": b"%d" % i}))
        for i in range(32)
    ]
    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda body: api.publish("race", body), bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [403] * 31
    for response in responses:
        if response.status_code == 403:
            assert response.json()["error"] == (
                "You cannot publish over the previously published versions: 1.0.0."
            )
    winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
    doc = api.client.get("/race").json()
    integrity = bodies[winner]["versions"]["1.0.0"]["dist"]["integrity"]
    assert doc["versions"]["1.0.0"]["dist"]["integrity"] == integrity
    # Losers that wrote their blob before losing left orphans; the sweep removes exactly those.
    sweep_orphans(api.service.store, api.service.blobs, modified_before=time.time() + 60)
    packages, versions, blobs = api.stored()
    assert (packages, versions) == (1, 1)
    assert len(blobs) == 1
    served = api.client.get("/race/-/race-1.0.0.tgz").content
    assert base64.b64encode(hashlib.sha512(served).digest()).decode() == integrity[7:]


def test_orphan_blobs_are_never_served_and_swept_after_grace(api: Api) -> None:
    assert api.publish("kept", publish_body("kept", "1.0.0")).status_code == 201
    orphan = tarball("ghost", "1.0.0")
    key = f"{TARBALL_PREFIX}00/{hashlib.sha512(orphan).hexdigest()}"
    api.service.blobs.put(key, orphan)  # as if a publish crashed before its commit
    assert api.client.get("/ghost/-/ghost-1.0.0.tgz").status_code == 404
    assert (
        sweep_orphans(api.service.store, api.service.blobs, modified_before=time.time() - 60) == []
    )
    swept = sweep_orphans(api.service.store, api.service.blobs, modified_before=time.time() + 60)
    assert swept == [key]
    assert len(api.stored()[2]) == 1
    assert api.client.get("/kept/-/kept-1.0.0.tgz").status_code == 200


def test_unpublished_versions_are_gone_and_never_reused(api: Api) -> None:
    for version in ("1.0.0", "2.0.0"):
        assert api.publish("gone", publish_body("gone", version)).status_code == 201
    doc = api.client.get("/gone", params={"write": "true"}).json()
    del doc["versions"]["2.0.0"]
    doc["dist-tags"] = {"latest": "1.0.0"}
    put = api.client.put(f"/gone/-rev/{doc['_rev']}", json=doc, headers=api.auth())
    assert put.status_code == 201
    assert api.client.get("/gone/-/gone-2.0.0.tgz").status_code == 404
    assert len(api.stored()[2]) == 1  # the unpublished tarball's blob is deleted
    again = api.publish("gone", publish_body("gone", "2.0.0"))
    assert again.status_code == 403
    rev = api.client.get("/gone").json()["_rev"]
    assert api.client.delete(f"/gone/-rev/{rev}", headers=api.auth()).status_code == 200
    assert api.client.get("/gone").json() == {"error": "Not found"}
    assert api.stored()[2] == []


def test_search_shape(api: Api) -> None:
    body = publish_body("searchable", "1.0.0", description="Finds things", keywords=["needle"])
    body["description"] = "Finds things"
    assert api.publish("searchable", body).status_code == 201
    assert api.publish("other", publish_body("other", "1.0.0")).status_code == 201
    result = api.client.get("/-/v1/search", params={"text": "needle", "size": "5"}).json()
    assert result["total"] == 1
    (entry,) = result["objects"]
    package = entry["package"]
    assert package["name"] == "searchable"
    assert package["version"] == "1.0.0"
    assert package["description"] == "Finds things"
    assert package["keywords"] == ["needle"]
    assert package["publisher"] == {"username": "alice", "email": "alice@example.com"}
    assert package["maintainers"] == [{"username": "alice", "email": "alice@example.com"}]
    assert {"final", "detail"} <= set(entry["score"])
    assert "searchScore" in entry
    assert api.client.get("/-/v1/search", params={"text": "x", "size": "0"}).status_code == 400


def test_scope_policy_user_and_closed_signup(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", registry_scope_policy="user", registry_allow_signup=False
    )
    with running_registry(settings) as registry, httpx.Client(base_url=registry.url) as client:
        user = registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = registry.service.accounts.issue_token(user)
        auth = {"authorization": f"Bearer {token}"}
        own = client.put("/@alice%2fa", json=publish_body("@alice/a", "1.0.0"), headers=auth)
        assert own.status_code == 201
        other = client.put("/@team%2fa", json=publish_body("@team/a", "1.0.0"), headers=auth)
        assert other.status_code == 403
        assert "your own scope @alice" in other.json()["error"]
        signup = client.put(
            "/-/user/org.couchdb.user:bob",
            json={"name": "bob", "password": "bob-password", "email": "bob@example.com"},
        )
        assert signup.status_code == 403
        assert "Sign-up is disabled" in signup.json()["error"]
        login = client.put(
            "/-/user/org.couchdb.user:alice",
            json={"name": "alice", "password": "alice-password"},
        )
        assert login.status_code == 201
        assert login.json()["token"].startswith("assay_")


def _raw(api: Api, method: str, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """A response and its bytes as sent (httpx would decode a gzip body)."""
    with api.client.stream(method, path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_packuments_in_gzip_and_identity(api: Api) -> None:
    """npm asks for `Accept-Encoding: gzip`: the same document, pre-compressed, each coding
    with its own strong ETag, chosen by the header's q-values (RFC 9110 §12.5.3)."""
    for version in ("1.0.0", "1.1.0"):
        assert api.publish("zipped", publish_body("zipped", version)).status_code == 201
    for _ in range(2):  # the first read builds the document, the second is the hot path's
        plain, body = _raw(api, "GET", "/zipped", **{"accept-encoding": "identity"})
        packed, squeezed = _raw(api, "GET", "/zipped", **{"accept-encoding": "gzip"})
        assert "content-encoding" not in plain.headers
        assert json.loads(body)["name"] == "zipped"
        assert packed.headers["content-encoding"] == "gzip"
        assert gzip.decompress(squeezed) == body
        assert int(packed.headers["content-length"]) == len(squeezed) < len(body)
        assert packed.headers["etag"] != plain.headers["etag"]
        for response in (plain, packed):
            assert response.headers["vary"] == "Accept, Accept-Encoding"
            assert response.headers["content-type"] == "application/json"
    corgi, _ = _raw(
        api,
        "GET",
        "/zipped",
        accept="application/vnd.npm.install-v1+json",
        **{"accept-encoding": "gzip"},
    )
    assert corgi.headers["content-encoding"] == "gzip"
    assert corgi.headers["etag"] not in {plain.headers["etag"], packed.headers["etag"]}

    chosen = {
        "gzip, deflate, br": True,  # npm (make-fetch-happen)
        "GZIP": True,
        "x-gzip": True,
        "*": True,
        "br;q=1.0, gzip;q=0.5": True,
        "gzip;q=0": False,
        "gzip;q=0.000": False,
        "gzip;q=0, *": False,  # refused by name: `*` does not bring it back
        "*;q=0": False,
        "deflate, br": False,
        "gzip;q=nonsense": False,
        "": False,
    }
    for header, gzipped in chosen.items():
        response, _ = _raw(api, "GET", "/zipped", **{"accept-encoding": header})
        assert (response.headers.get("content-encoding") == "gzip") is gzipped, header
        assert response.headers["etag"] == (packed if gzipped else plain).headers["etag"]

    # HEAD: the headers of the GET, no body.
    head, nothing = _raw(api, "HEAD", "/zipped", **{"accept-encoding": "gzip"})
    assert head.status_code == 200
    assert nothing == b""
    assert head.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == packed.headers["content-length"]
    assert head.headers["etag"] == packed.headers["etag"]

    # A 304 for the tag of either coding (the client's copy is current), with the tag it holds.
    for held in (plain.headers["etag"], packed.headers["etag"]):
        for encoding in ("gzip", "identity"):
            response, rest = _raw(
                api, "GET", "/zipped", **{"accept-encoding": encoding, "if-none-match": held}
            )
            assert response.status_code == 304
            assert rest == b""
            assert response.headers["etag"] == held
            assert "content-encoding" not in response.headers
    stale, _ = _raw(api, "GET", "/zipped", **{"accept-encoding": "gzip", "if-none-match": '"x"'})
    assert stale.status_code == 200


def test_hot_tarballs_stop_when_unpublished_elsewhere(
    api: Api, registry_settings: Settings
) -> None:
    """A tarball served from memory (on the event loop) is served only while the database says
    its version is live: another node's unpublish stops it within CROSS_PROCESS_STALENESS."""
    for version in ("1.0.0", "2.0.0"):
        assert api.publish("hot", publish_body("hot", version)).status_code == 201
    with (
        running_registry(_settings(registry_settings)) as other,
        httpx.Client(base_url=other.url, timeout=30) as reader,
    ):
        for _ in range(3):  # cold, then from memory
            assert reader.get("/hot/-/hot-2.0.0.tgz").status_code == 200
        assert other.service.cached_tarball("hot", "hot-2.0.0.tgz") is not None
        doc = api.client.get("/hot", params={"write": "true"}).json()
        del doc["versions"]["2.0.0"]
        doc["dist-tags"] = {"latest": "1.0.0"}
        put = api.client.put(f"/hot/-rev/{doc['_rev']}", json=doc, headers=api.auth())
        assert put.status_code == 201
        assert api.client.get("/hot/-/hot-2.0.0.tgz").status_code == 404  # the writer: now
        time.sleep(CROSS_PROCESS_STALENESS + 0.1)
        assert reader.get("/hot/-/hot-2.0.0.tgz").status_code == 404  # the other: in 1 s
        assert reader.get("/hot/-/hot-1.0.0.tgz").status_code == 200


def test_tarballs_too_large_to_cache_are_streamed(api: Api, registry_settings: Settings) -> None:
    """A tarball above ``registry_tarball_cache_entry_bytes`` is read from the blob store as it
    is sent, with its length, ETag, HEAD and 304 as for a cached one."""
    data = tarball("big", "1.0.0", files={"blob.bin": secrets.token_bytes(40_000)})
    assert api.publish("big", publish_body("big", "1.0.0", data=data)).status_code == 201
    small = _settings(registry_settings).model_copy(
        update={"registry_tarball_cache_entry_bytes": 1024}
    )
    with (
        running_registry(small) as other,
        httpx.Client(base_url=other.url, timeout=30) as reader,
    ):
        for _ in range(2):
            got = reader.get("/big/-/big-1.0.0.tgz")
            assert got.status_code == 200
            assert got.content == data
            assert got.headers["content-length"] == str(len(data))
            assert got.headers["content-type"] == "application/octet-stream"
            assert other.service.cached_tarball("big", "big-1.0.0.tgz") is None
        assert other.service.tarball_cache_bytes == 0
        head = reader.head("/big/-/big-1.0.0.tgz")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        assert head.content == b""
        again = reader.get("/big/-/big-1.0.0.tgz", headers={"if-none-match": got.headers["etag"]})
        assert again.status_code == 304
        assert reader.get("/big/-/big-9.0.0.tgz").status_code == 404
        # HEAD and 304 never read the blob (no file open, no S3 GET): with the blob gone
        # from under the row, they answer as before, and only a GET finds it missing.
        row = other.service.store.version_by_filename("big", "big-1.0.0.tgz")
        assert row is not None
        other.service.blobs.delete(row.blob_key)
        assert reader.head("/big/-/big-1.0.0.tgz").headers["content-length"] == str(len(data))
        etag = {"if-none-match": got.headers["etag"]}
        assert reader.get("/big/-/big-1.0.0.tgz", headers=etag).status_code == 304
        assert reader.get("/big/-/big-1.0.0.tgz").status_code == 404


def test_a_streamed_tarball_is_released_when_the_client_goes_away(tmp_path: Path) -> None:
    """A download abandoned half-way closes the blob at once (the file here), not whenever the
    garbage collector gets to it: a client that opens many and walks away holds nothing."""
    settings = Settings(data_dir=tmp_path / "data").model_copy(
        update={
            "registry_max_body_bytes": 8 * 1024 * 1024,
            "registry_max_tarball_bytes": 4 * 1024 * 1024,
            "registry_tarball_cache_entry_bytes": 1024,
        }
    )
    blobs = str(tmp_path / "data")

    def open_blobs() -> int:
        held = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                held += target.startswith(blobs) and not target.endswith((".db", "-wal", "-shm"))
        return held

    data = tarball("huge", "1.0.0", files={"blob.bin": secrets.token_bytes(2 * 1024 * 1024)})
    with running_registry(settings) as registry, httpx.Client(base_url=registry.url) as client:
        user = registry.service.accounts.add_user("alice", "alice@example.com", "alice-password")
        token, _ = registry.service.accounts.issue_token(user)
        published = client.put(
            "/huge",
            content=json.dumps(publish_body("huge", "1.0.0", data=data)),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert published.status_code == 201
        baseline = open_blobs()
        for _ in range(3):
            with client.stream("GET", "/huge/-/huge-1.0.0.tgz") as response:
                assert response.status_code == 200
                next(response.iter_raw(64 * 1024))  # a first piece, then the client leaves
        deadline = time.monotonic() + 5
        while open_blobs() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_blobs() == baseline
