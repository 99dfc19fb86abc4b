"""`assay up` mirroring a stand-in for registry.npmjs.org (tests/npmjs_fake.py: the real npm
signatures and public-good attestations), verified with npm's bundled keys and the public-good
trusted root, as an uplink with ``trust = "npmjs"`` is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.assay_up import Instance
from tests.mirrored import mirror_of
from tests.npmjs_fake import FakeNpmjs

TTL = 2


@dataclass
class Mirror:
    instance: Instance
    upstream: FakeNpmjs

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.instance.url + path, headers=headers, timeout=30)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    upstream = FakeNpmjs()
    with mirror_of(
        tmp_path, upstream,
        lambda url: f'[uplinks.npmjs]\nurl = "{url}/"\ntrust = "npmjs"\nttl = {TTL}\n'
        "stale-while-revalidate = 0\n\n"
        '[packages."@acme/*"]\nproxy = []\n\n[packages."**"]\nproxy = "npmjs"\n',
    ) as instance:  # fmt: skip
        yield Mirror(instance, upstream)


def test_verified_versions_served_with_npm_signatures(mirror: Mirror) -> None:
    response = mirror.get("/sigstore")
    assert response.status_code == 200, response.text
    assert response.headers["x-assay-mirror"] == "fresh"
    packument = response.json()
    # 0.9.0 carries a signature over another integrity: held back, never listed.
    assert list(packument["versions"]) == ["1.0.0"]
    assert packument["dist-tags"] == {"latest": "1.0.0"}
    assert set(packument["time"]) == {"created", "modified", "1.0.0"}
    dist = packument["versions"]["1.0.0"]["dist"]
    upstream = mirror.upstream.packument("sigstore")["versions"]["1.0.0"]["dist"]
    assert dist["signatures"] == upstream["signatures"]
    assert dist["integrity"] == upstream["integrity"]
    origin = mirror.instance.url
    assert dist["tarball"] == f"{origin}/sigstore/-/sigstore-1.0.0.tgz"
    assert dist["attestations"]["url"] == f"{origin}/-/npm/v1/attestations/sigstore@1.0.0"
    # The abbreviated document npm install asks for: the same versions.
    corgi = mirror.get("/sigstore", accept="application/vnd.npm.install-v1+json").json()
    assert list(corgi["versions"]) == ["1.0.0"]

    attestations = mirror.get("/-/npm/v1/attestations/sigstore@1.0.0")
    assert attestations.json() == mirror.upstream.attestations["sigstore@1.0.0"]

    held = mirror.get("/sigstore/-/sigstore-0.9.0.tgz")
    assert held.status_code == 403
    assert "EINTEGRITYSIGNATURE" in held.json()["error"]

    keys = {k["keyid"] for k in mirror.get("/-/npm/v1/keys").json()["keys"]}
    assert "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA" in keys
    assert len(keys) >= 2  # the instance's own key beside npm's


def test_bad_attestation_held_back(mirror: Mirror) -> None:
    packument = mirror.get("/tuf-js").json()
    assert packument["versions"] == {}
    assert "latest" not in packument["dist-tags"]
    held = mirror.get("/tuf-js/-/tuf-js-1.0.0.tgz")
    assert held.status_code == 403
    assert "EATTESTATIONVERIFY" in held.json()["error"]
    assert mirror.get("/-/npm/v1/attestations/tuf-js@1.0.0").status_code == 404


def test_tampered_tarball_never_stored_or_served(mirror: Mirror) -> None:
    assert mirror.get("/sigstore").status_code == 200
    for attempt in (1, 2):
        response = mirror.get("/sigstore/-/sigstore-1.0.0.tgz")
        assert response.status_code == 503
        assert "does not match dist.integrity" in response.json()["error"]
        # Not stored: the second download asks the uplink again.
        assert mirror.upstream.requests["/sigstore/-/sigstore-1.0.0.tgz"] == attempt
    blobs = mirror.instance.data / "blobs"
    assert not [p for p in blobs.rglob("*") if p.is_file()] if blobs.exists() else True


def test_one_upstream_fetch_for_32_concurrent_requests(mirror: Mirror) -> None:
    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda _: mirror.get("/kms-demo"), range(32)))
    assert {r.status_code for r in responses} == {200}
    assert {tuple(r.json()["versions"]) for r in responses} == {("1.0.0",)}
    assert mirror.upstream.requests["/kms-demo"] == 1


def test_upstream_down_serves_cached_with_header(mirror: Mirror) -> None:
    first = mirror.get("/node-fetch")
    assert first.status_code == 200
    mirror.upstream.down = True
    time.sleep(TTL + 0.2)
    stale = mirror.get("/node-fetch")
    assert stale.status_code == 200
    assert stale.headers["x-assay-mirror"] == "stale"
    assert stale.json()["versions"] == first.json()["versions"]
    # A package never fetched cannot be served: 503, with npm's retry hint.
    cold = mirror.get("/kms-demo")
    assert cold.status_code == 503
    assert "retry-after" in cold.headers
    mirror.upstream.down = False
    time.sleep(5.2)  # the mirror's back-off after a failure
    assert mirror.get("/node-fetch").headers["x-assay-mirror"] == "fresh"
    # Revalidation was conditional: the unchanged packument came back as a 304.
    assert mirror.upstream.requests["/node-fetch"] >= 2


def test_local_package_never_shadowed(mirror: Mirror, tmp_path: Path) -> None:
    """A name published here is served from here, whatever an uplink has under it; a name
    the rules keep local is never asked upstream."""
    home, folder = tmp_path / "home", tmp_path / "light-cycle"
    home.mkdir()
    folder.mkdir()
    token = (mirror.instance.data / "admin.token").read_text().strip()
    host = mirror.instance.url.split("://", 1)[1]
    (home / ".npmrc").write_text(f"registry={mirror.instance.url}/\n//{host}/:_authToken={token}\n")
    (folder / "package.json").write_text(
        json.dumps({"name": "light-cycle", "version": "9.9.9", "license": "MIT"})
    )
    (folder / "index.js").write_text("module.exports = 'local';\n")
    env = {**os.environ, "HOME": str(home), "npm_config_userconfig": str(home / ".npmrc")}
    done = subprocess.run(
        [sys.executable, "-m", "assay", "publish", str(folder)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # (The publisher's own read of the packument before its PUT may have reached the uplink:
    # until then the name was not local.)
    asked = mirror.upstream.requests["/light-cycle"]
    for _ in range(3):
        packument = mirror.get("/light-cycle")
        assert "x-assay-mirror" not in packument.headers
        assert list(packument.json()["versions"]) == ["9.9.9"]
    assert mirror.get("/light-cycle/-/light-cycle-1.4.2.tgz").status_code == 404
    assert mirror.upstream.requests["/light-cycle"] == asked
    assert mirror.get("/@acme/anything").status_code == 404
    assert mirror.upstream.requests["/@acme%2fanything"] == 0
    assert mirror.upstream.requests["/@acme/anything"] == 0


def test_web_page_shows_the_facts_verified_on_ingest(mirror: Mirror) -> None:
    """The package page of a mirrored package: each version's verdict and, for the shown
    version, the provenance facts read from the certificate the mirror verified on ingest."""
    assert mirror.get("/sigstore").status_code == 200
    page = mirror.get("/-/web/package/sigstore")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Mirrored from npmjs" in html
    assert 'data-version="0.9.0"' in html
    assert "EINTEGRITYSIGNATURE" in html  # the held-back version, and why
    assert "✓ Verified on ingest" in html
    assert "Built and signed on GitHub Actions" in html
    assert 'data-testid="source-repository"><a href="https://github.com/sigstore/sigstore-js"' in (
        html
    )
    assert "Verified on ingest</dt>" in html
    details = mirror.get("/-/web/package/sigstore/v/1.0.0/provenance")
    assert details.status_code == 200, details.text
    assert "Verified by this registry on ingest (mirror)" in details.text
    assert "github.com/sigstore/sigstore-js" in details.text
