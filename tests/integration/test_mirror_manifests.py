"""Manifest confusion through the mirror, against `assay up`: an upstream version whose packument
says other ``dependencies``/``scripts``/``hasInstallScript`` than its tarball's package.json is
refused when its tarball is ingested (403, nothing stored, gone from the packument, listed by
``assay mirror report`` and on the package page); with ``verify-manifests = "before-serve"`` it
is never listed at all, and ``assay mirror prefetch`` checks a lockfile's versions before npm
asks for them.

The upstream is tests/static_upstream.py: ``confused@1.1.0``'s packument drops the
dependency its tarball declares, ``sneaky@1.0.0``'s hides the tarball's postinstall script and
``liar@1.0.0``'s claims an install script the tarball does not have; ``dist.integrity`` names
the tarballs' real bytes, so only the manifest check can tell.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.cli.main import main
from tests.assay_up import Instance
from tests.mirrored import mirror_of
from tests.static_upstream import StaticUpstream

PACKAGES: dict[str, dict[str, dict[str, str]]] = {
    "helper": {"1.0.0": {}},
    "confused": {"1.0.0": {"helper": "^1.0.0"}, "1.1.0": {"helper": "^1.0.0"}},
    "sneaky": {"1.0.0": {}},
    "liar": {"1.0.0": {}},
    "honest": {"1.0.0": {"helper": "^1.0.0"}, "1.1.0": {"helper": "^1.0.0"}},
}
CLAIMED: dict[str, dict[str, Any]] = {
    "confused@1.1.0": {"dependencies": {}},
    "liar@1.0.0": {"hasInstallScript": True},
}
PACKED = {"sneaky@1.0.0": {"scripts": {"postinstall": "node collect-secrets.js"}}}


def upstream() -> StaticUpstream:
    return StaticUpstream(PACKAGES, claimed=CLAIMED, packed=PACKED)


@contextmanager
def mirrored(tmp_path: Path, mode: str) -> Iterator[tuple[Instance, StaticUpstream]]:
    static = upstream()
    with mirror_of(
        tmp_path, static,
        lambda url: f'[uplinks.static]\nurl = "{url}/"\nttl = 300\nverify-manifests = "{mode}"\n'
        '\n[packages."**"]\nproxy = "static"\n',
    ) as instance:  # fmt: skip
        yield instance, static


def rows(instance: Instance, name: str) -> dict[str, tuple[str, str | None, str | None]]:
    with sqlite3.connect(instance.data / "assay.db") as db:
        found = {
            version: (verdict, reason, blob_key)
            for version, verdict, reason, blob_key in db.execute(
                "SELECT version, verdict, reason, blob_key FROM mirror_versions WHERE name = ?",
                (name,),
            )
        }
    db.close()
    return found


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_on_fetch_refuses_a_confused_tarball(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mirrored(tmp_path, "on-fetch") as (instance, static):
        url = instance.url
        # Listed until its tarball is fetched: on-fetch checks the manifest then.
        assert list(httpx.get(f"{url}/confused", timeout=30).json()["versions"]) == [
            "1.0.0", "1.1.0",
        ]  # fmt: skip
        refused = httpx.get(f"{url}/confused/-/confused-1.1.0.tgz", timeout=30)
        assert refused.status_code == 403
        assert refused.json()["error"] == (
            "confused@1.1.0 is held back by this registry's mirror: refused on ingest: "
            "manifest confusion: dependencies in the uplink's manifest differs from the "
            "tarball's package.json"
        )
        assert rows(instance, "confused")["1.1.0"][0] == "refused"
        assert rows(instance, "confused")["1.1.0"][2] is None  # no tarball stored
        blobs = [p for p in (instance.data / "blobs").rglob("*") if p.is_file()]
        assert static.tarball_bytes("confused", "1.1.0") not in [p.read_bytes() for p in blobs]
        # Gone from the packument from then on (both forms); asked again: still 403, no refetch.
        served = httpx.get(f"{url}/confused", timeout=30).json()
        assert list(served["versions"]) == ["1.0.0"]
        assert served["dist-tags"]["latest"] == "1.0.0"
        corgi = httpx.get(
            f"{url}/confused", headers={"Accept": "application/vnd.npm.install-v1+json"}, timeout=30
        ).json()
        assert list(corgi["versions"]) == ["1.0.0"]
        assert httpx.get(f"{url}/confused/-/confused-1.1.0.tgz", timeout=30).status_code == 403
        assert static.requests["/confused/-/confused-1.1.0.tgz"] == 1

        ok = httpx.get(f"{url}/confused/-/confused-1.0.0.tgz", timeout=30)
        assert ok.status_code == 200
        assert ok.content == static.tarball_bytes("confused", "1.0.0")
        assert rows(instance, "confused")["1.0.0"][2] is not None

        for path, field in (
            ("sneaky/-/sneaky-1.0.0.tgz", "scripts in the uplink's manifest"),
            ("liar/-/liar-1.0.0.tgz", "the uplink's hasInstallScript"),
        ):
            answer = httpx.get(f"{url}/{path}", timeout=30)
            assert answer.status_code == 403
            assert f"manifest confusion: {field}" in answer.json()["error"]

        token = str(instance.data / "admin.token")
        code, out = run(capsys, "mirror", "report", "--registry", url, "--token-file", token,
                        "--json")  # fmt: skip
        assert code == 0, out
        held = {(h["name"], h["version"]): h for h in json.loads(out)["held"]}
        assert held[("confused", "1.1.0")]["kind"] == "verification"
        assert "manifest confusion: dependencies" in held[("confused", "1.1.0")]["reason"]
        assert {("sneaky", "1.0.0"), ("liar", "1.0.0")} <= set(held)
        page = httpx.get(f"{url}/-/web/package/confused", timeout=30).text
        assert "manifest confusion: dependencies in the uplink" in page


def test_before_serve_lists_only_checked_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mirrored(tmp_path, "before-serve") as (instance, static):
        url = instance.url
        # The first request waits for the package's tarballs to be checked.
        served = httpx.get(f"{url}/confused", timeout=60)
        assert served.status_code == 200
        assert list(served.json()["versions"]) == ["1.0.0"]
        assert served.json()["dist-tags"]["latest"] == "1.0.0"
        assert rows(instance, "confused")["1.1.0"][0] == "refused"
        assert rows(instance, "confused")["1.0.0"][2] is not None  # checked and stored
        assert static.requests["/confused/-/confused-1.1.0.tgz"] == 1
        assert httpx.get(f"{url}/sneaky", timeout=60).json()["versions"] == {}

        # A lockfile prefetched: each version checked (and stored) before npm asks.
        packages: dict[str, object] = {"": {"name": "project", "version": "1.0.0"}}
        for name, version in (("honest", "1.0.0"), ("honest", "1.1.0"), ("liar", "1.0.0")):
            dist = static.packument(name)["versions"][version]["dist"]
            packages[f"node_modules/{name}"] = {
                "version": version, "resolved": dist["tarball"], "integrity": dist["integrity"],
            }  # fmt: skip
        lock = tmp_path / "package-lock.json"
        lock.write_text(json.dumps({"name": "p", "lockfileVersion": 3, "packages": packages}))
        code, out = run(capsys, "mirror", "prefetch", "--registry", url, str(lock))
        assert code == 1, out
        assert "cached  honest@1.1.0" in out
        assert "held    liar@1.0.0" in out
        assert "manifest confusion" in out
        assert set(httpx.get(f"{url}/honest", timeout=30).json()["versions"]) == {"1.0.0", "1.1.0"}
        assert static.requests["/honest/-/honest-1.1.0.tgz"] == 1
