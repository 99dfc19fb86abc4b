"""The operator's side of the mirror against `assay up`: `assay mirror prefetch` (a lockfile
and names), `status`, `report` and `evict` through the admin routes, who may call them, and
the web page of a mirrored package (the verdicts, held-back reasons, the uplink).

The upstream is tests/static_upstream.py: generated packages with real tarballs and no
signatures (an uplink that signs nothing, as a Verdaccio is). ``alpha@1.1.0`` is denied by the
mirror's policy; ``gamma@1.0.0``'s tarball is tampered upstream.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from assay.cli.main import main
from tests.assay_up import Instance
from tests.mirrored import mirror_of
from tests.static_upstream import StaticUpstream
from tests.unit.registry.tarballs import publish_body

PACKAGES: dict[str, dict[str, dict[str, str]]] = {
    "alpha": {"1.0.0": {}, "1.1.0": {}},
    "beta": {"1.0.0": {"alpha": "^1.0.0"}},
    "gamma": {"1.0.0": {}},
    "@corp/delta": {"2.0.0": {}},
}


@dataclass
class Mirror:
    instance: Instance
    upstream: StaticUpstream
    token_file: Path

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.instance.url + path, headers=headers, timeout=30)

    def admin(self, method: str, path: str, token: str | None = None) -> httpx.Response:
        secret = token if token is not None else self.token_file.read_text().strip()
        return httpx.request(
            method, f"{self.instance.url}/-/mirror/{path}",
            headers={"Authorization": f"Bearer {secret}"}, timeout=60,
        )  # fmt: skip


def uplinks(url: str) -> str:
    """Everything from the static upstream at ``url``, its packuments fresh for 300 s."""
    return f'[uplinks.static]\nurl = "{url}/"\nttl = 300\n\n[packages."**"]\nproxy = "static"\n'


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    upstream = StaticUpstream(PACKAGES, tampered={"gamma@1.0.0"})
    policy = '\n[policy]\ndeny = ["alpha@1.1.0"]\n'
    with mirror_of(tmp_path, upstream, lambda url: uplinks(url) + policy) as instance:
        yield Mirror(instance, upstream, instance.data / "admin.token")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def lockfile(path: Path, upstream: StaticUpstream, *specs: str) -> Path:
    packages: dict[str, object] = {"": {"name": "project", "version": "1.0.0"}}
    for spec in specs:
        name, _, version = spec.rpartition("@")
        dist = upstream.packument(name)["versions"][version]["dist"]
        packages[f"node_modules/{name}"] = {
            "version": version, "resolved": dist["tarball"], "integrity": dist["integrity"],
        }  # fmt: skip
    packages["node_modules/linked"] = {"link": True, "resolved": "../linked"}
    path.write_text(json.dumps({"name": "project", "lockfileVersion": 3, "packages": packages}))
    return path


def test_prefetch_warms_the_cache_for_an_offline_install(
    mirror: Mirror, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = mirror.instance.url
    lock = lockfile(
        tmp_path / "package-lock.json", mirror.upstream, "alpha@1.0.0", "beta@1.0.0",
        "@corp/delta@2.0.0",
    )  # fmt: skip
    code, out = run(capsys, "mirror", "prefetch", "--registry", url, str(lock))
    assert code == 0, out
    assert "cached  alpha@1.0.0" in out
    assert "3 verified and cached, 0 held back, 0 failed" in out
    assert mirror.upstream.requests["/alpha/-/alpha-1.0.0.tgz"] == 1
    assert mirror.upstream.requests["/@corp/delta/-/delta-2.0.0.tgz"] == 1

    # The uplink goes away: everything prefetched is served from the cache.
    mirror.upstream.down = True
    for path, expected in (
        ("/alpha/-/alpha-1.0.0.tgz", mirror.upstream.tarball_bytes("alpha", "1.0.0")),
        ("/beta/-/beta-1.0.0.tgz", mirror.upstream.tarball_bytes("beta", "1.0.0")),
        ("/@corp/delta/-/delta-2.0.0.tgz", mirror.upstream.tarball_bytes("@corp/delta", "2.0.0")),
    ):
        response = mirror.get(path)
        assert response.status_code == 200, response.text
        assert response.content == expected
    mirror.upstream.down = False

    # A lockfile integrity that is not what the mirror serves fails the prefetch.
    forged = json.loads(lock.read_text())
    forged["packages"]["node_modules/alpha"]["integrity"] = "sha512-" + "A" * 86 + "=="
    lock.write_text(json.dumps(forged))
    code, out = run(capsys, "mirror", "prefetch", "--registry", url, str(lock))
    assert code == 1
    assert "failed  alpha@1.0.0  tarball does not match the lockfile's integrity" in out


def test_prefetch_names_reports_held_and_failed(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    url = mirror.instance.url
    code, out = run(capsys, "mirror", "prefetch", "--registry", url, "alpha@1.1.0", "gamma",
                    "beta@latest", "nothing-here")  # fmt: skip
    assert code == 1, out
    assert "held    alpha@1.1.0" in out
    assert "deny" in out
    assert "failed  gamma@1.0.0" in out
    assert "does not match dist.integrity" in out
    assert "cached  beta@1.0.0" in out
    assert "failed  nothing-here" in out
    assert "1 verified and cached, 1 held back, 2 failed" in out
    code, out = run(capsys, "mirror", "prefetch", "--registry", url, "alpha@^1.0.0")
    assert code == 2
    assert "exact version or a dist-tag" in out


def test_status_report_and_evict(mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> None:
    url, token = mirror.instance.url, str(mirror.token_file)
    assert run(capsys, "mirror", "prefetch", "--registry", url, "alpha@1.0.0", "beta")[0] == 0
    assert mirror.get("/alpha").status_code == 200

    code, out = run(capsys, "mirror", "status", "--registry", url, "--token-file", token, "--json")
    assert code == 0, out
    status = json.loads(out)
    (uplink,) = status["uplinks"]
    assert uplink["name"] == "static"
    assert uplink["reachable"] is True
    assert uplink["packages"] == uplink["fresh"] == 2
    assert status["cache"]["packages"] == 2
    assert status["cache"]["verified"] == 3
    assert status["cache"]["tarballs"] == 2
    assert status["cache"]["tarball_bytes"] == len(
        mirror.upstream.tarball_bytes("alpha", "1.0.0")
    ) + len(mirror.upstream.tarball_bytes("beta", "1.0.0"))
    assert status["held"] == 1
    assert status["in_memory"] == 2
    assert 0 < status["in_memory_bytes"] <= 256 * 1024 * 1024  # limits.MIRROR_CACHE_BYTES
    code, out = run(capsys, "mirror", "status", "--registry", url, "--token-file", token)
    assert code == 0
    assert "uplink static" in out
    assert "reachable (HTTP 200" in out
    assert "held back: 1 versions" in out

    code, out = run(capsys, "mirror", "report", "--registry", url, "--token-file", token, "--json")
    assert code == 0
    (held,) = json.loads(out)["held"]
    assert (held["name"], held["version"], held["uplink"], held["kind"]) == (
        "alpha", "1.1.0", "static", "policy",
    )  # fmt: skip
    assert "deny" in held["reason"]
    code, out = run(capsys, "mirror", "report", "--registry", url, "--token-file", token)
    assert "alpha@1.1.0  policy" in out

    # Evict one version: the next read fetches the packument unconditionally, verifies the
    # version again and the next download fetches its tarball again.
    asked = mirror.upstream.requests["/alpha"]
    code, out = run(capsys, "mirror", "evict", "--registry", url, "--token-file", token,
                    "alpha@1.0.0")  # fmt: skip
    assert code == 0, out
    assert "evicted alpha@1.0.0 (1 rows)" in out
    assert list(mirror.get("/alpha").json()["versions"]) == ["1.0.0"]
    assert mirror.upstream.requests["/alpha"] == asked + 1
    assert mirror.get("/alpha/-/alpha-1.0.0.tgz").status_code == 200
    assert mirror.upstream.requests["/alpha/-/alpha-1.0.0.tgz"] == 2

    # Evict a package: its rows are gone, and it comes back from the uplink on demand.
    code, out = run(capsys, "mirror", "evict", "--registry", url, "--token-file", token, "beta")
    assert code == 0, out
    status = mirror.admin("GET", "status").json()
    assert status["cache"]["packages"] == 1
    assert mirror.get("/beta").status_code == 200
    assert mirror.upstream.requests["/beta"] == 2
    code, out = run(capsys, "mirror", "evict", "--registry", url, "--token-file", token, "zeta")
    assert code == 1
    assert "nothing cached for zeta" in out


def test_operator_routes_need_the_administrator(
    mirror: Mirror, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    unauthenticated = httpx.get(f"{mirror.instance.url}/-/mirror/status", timeout=30)
    assert unauthenticated.status_code == 401
    assert "error" in unauthenticated.json()
    wrong = "not-a-token"
    assert mirror.admin("GET", "held", token=wrong).status_code == 401
    data = ["--data-dir", str(mirror.instance.data)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    code, out = run(capsys, "user", "add", "bob", "--email", "bob@example.invalid",
                    "--password-stdin", *data)  # fmt: skip
    assert code == 0, out
    code, out = run(capsys, "token", "create", "--user", "bob", *data)
    bob = out.strip().splitlines()[-1]
    for method, path in (("GET", "status"), ("GET", "held"), ("DELETE", "packages/alpha")):
        response = mirror.admin(method, path, token=bob)
        assert response.status_code == 403, response.text
    code, out = run(capsys, "token", "create", "--user", "admin", "--read-only", *data)
    reader = out.strip().splitlines()[-1]
    assert mirror.admin("GET", "status", token=reader).status_code == 200
    assert mirror.admin("DELETE", "packages/alpha", token=reader).status_code == 403


def test_web_page_shows_the_verdicts(mirror: Mirror) -> None:
    assert mirror.get("/alpha").status_code == 200
    page = mirror.get("/-/web/package/alpha")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-testid="mirror-panel"' in html
    assert "Mirrored from static" in html
    assert mirror.upstream.url.split("://", 1)[1] in html
    assert 'data-version="1.1.0"' in html
    assert "Held back" in html
    assert "denied by policy (deny = &#39;alpha@1.1.0&#39;)" in html
    assert "✓ Verified on ingest" in html
    # A held-back version has no page (it is not served); a local package has no panel.
    assert mirror.get("/-/web/package/alpha/v/1.1.0").status_code == 404


def test_an_instance_without_a_mirror(
    assay_up: Instance, capsys: pytest.CaptureFixture[str]
) -> None:
    """No uplinks, no operator routes: the commands say so instead of a bare 404."""
    token = str(assay_up.data / "admin.token")
    for command in ("status", "report"):
        code, out = run(
            capsys, "mirror", command, "--registry", assay_up.url, "--token-file", token
        )
        assert code == 1
        assert "is a mirror configured on this instance?" in out


def test_a_publish_here_wins_at_once_over_the_copy_in_memory(mirror: Mirror) -> None:
    """A mirrored packument is served from memory on the registry's hot path; publishing the
    name here makes the very next read the local one (local wins), not a second later."""
    for _ in range(3):
        cached = mirror.get("/gamma")
        assert cached.headers["x-assay-mirror"] == "fresh"
    body = publish_body("gamma", "7.0.0")
    token = mirror.token_file.read_text().strip()
    published = httpx.put(
        f"{mirror.instance.url}/gamma", json=body,
        headers={"Authorization": f"Bearer {token}"}, timeout=60,
    )  # fmt: skip
    assert published.status_code in (200, 201), published.text
    local = mirror.get("/gamma")
    assert "x-assay-mirror" not in local.headers
    assert list(local.json()["versions"]) == ["7.0.0"]
    assert mirror.get("/gamma/-/gamma-1.0.0.tgz").status_code == 404


def test_upstream_packages_in_memory_are_bounded_by_bytes(tmp_path: Path) -> None:
    """`mirror_cache_bytes` bounds what the mirror holds in memory: with a budget no package
    fits in, every read is answered from the database's copy (the same bytes, within the TTL,
    with no new upstream request) and nothing stays in memory."""
    upstream = StaticUpstream(PACKAGES)
    env = {"ASSAY_MIRROR_CACHE_BYTES": "1"}
    with mirror_of(tmp_path, upstream, uplinks, env) as instance:
        mirror = Mirror(instance, upstream, instance.data / "admin.token")
        names = ["alpha", "beta", "@corp/delta"]
        first = {name: mirror.get(f"/{name}") for name in names}
        assert all(r.status_code == 200 for r in first.values())
        for name in names:
            again = mirror.get(f"/{name}")
            assert again.status_code == 200
            assert again.json() == first[name].json()
        assert [upstream.requests[f"/{name}"] for name in names] == [1, 1, 1]
        # Tarballs, held-back verdicts and attestations need the package too: read back.
        tarball = mirror.get("/alpha/-/alpha-1.0.0.tgz")
        assert tarball.status_code == 200
        assert tarball.content == upstream.tarball_bytes("alpha", "1.0.0")
        status = mirror.admin("GET", "status").json()
        assert (status["in_memory"], status["in_memory_bytes"]) == (0, 0)
        assert status["cache"]["packages"] == 3


def test_the_uplinks_claims_of_who_published_are_not_shown(mirror: Mirror) -> None:
    """The stand-in's packuments name `upstream` as maintainer and publisher: an upstream claim
    nothing verified, so neither the packument nor the package page repeats it."""
    packument = mirror.get("/alpha").json()
    assert "maintainers" not in packument
    assert all("_npmUser" not in m for m in packument["versions"].values())
    page = mirror.get("/-/web/package/alpha")
    assert page.status_code == 200
    assert "<li>upstream</li>" not in page.text
    assert " by upstream" not in page.text
