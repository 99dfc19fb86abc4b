"""The mirror's policy comes before its manifest checks (``verify-manifests = "before-serve"``):
a version the policy refuses is held for the policy's reason, so its tarball answers 403 and
is never fetched from the uplink, not even by the background checks, while the versions the
policy allows are checked and listed as usual."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.mirrored import mirror_of
from tests.static_upstream import StaticUpstream

PACKAGES: dict[str, dict[str, dict[str, str]]] = {"alpha": {"1.0.0": {}, "1.1.0": {}}}


def uplinks(url: str) -> str:
    return (
        f'[uplinks.static]\nurl = "{url}/"\nttl = 300\nverify-manifests = "before-serve"\n\n'
        '[packages."**"]\nproxy = "static"\n\n[policy]\ndeny = ["alpha@1.1.0"]\n'
    )


def test_a_denied_version_is_never_fetched_nor_served_before_serve(tmp_path: Path) -> None:
    upstream = StaticUpstream(PACKAGES)
    with mirror_of(tmp_path, upstream, uplinks) as instance:
        packument = httpx.get(f"{instance.url}/alpha", timeout=60)
        assert packument.status_code == 200
        assert list(packument.json()["versions"]) == ["1.0.0"]  # checked, then listed
        denied = httpx.get(f"{instance.url}/alpha/-/alpha-1.1.0.tgz", timeout=60)
        assert denied.status_code == 403
        assert "denied by policy" in denied.json()["error"]
        assert upstream.requests["/alpha/-/alpha-1.1.0.tgz"] == 0
        assert upstream.requests["/alpha/-/alpha-1.0.0.tgz"] == 1
