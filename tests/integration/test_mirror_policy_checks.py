"""The mirror's policy comes before its manifest checks (``verify-manifests = "before-serve"``):
a version the policy refuses is held for the policy's reason, so its tarball answers 403 and
is never fetched from the uplink, not even by the background checks, while the versions the
policy allows are checked and listed as usual."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.assay_up import free_port, start, stop
from tests.servers import serve_app
from tests.static_upstream import StaticUpstream

PACKAGES: dict[str, dict[str, dict[str, str]]] = {"alpha": {"1.0.0": {}, "1.1.0": {}}}


def test_a_denied_version_is_never_fetched_nor_served_before_serve(tmp_path: Path) -> None:
    upstream = StaticUpstream(PACKAGES)
    with serve_app(upstream.app()) as url:
        upstream.url = url
        uplinks = tmp_path / "uplinks.toml"
        uplinks.write_text(
            f'[uplinks.static]\nurl = "{url}/"\nttl = 300\nverify-manifests = "before-serve"\n\n'
            '[packages."**"]\nproxy = "static"\n\n[policy]\ndeny = ["alpha@1.1.0"]\n'
        )
        (tmp_path / "trust").mkdir()
        instance = start(
            tmp_path / "data", free_port(), tmp_path / "assay-up.log",
            env={"ASSAY_UPLINKS_FILE": str(uplinks), "ASSAY_TRUST_DIR": str(tmp_path / "trust")},
        )  # fmt: skip
        try:
            packument = httpx.get(f"{instance.url}/alpha", timeout=60)
            assert packument.status_code == 200
            assert list(packument.json()["versions"]) == ["1.0.0"]  # checked, then listed
            denied = httpx.get(f"{instance.url}/alpha/-/alpha-1.1.0.tgz", timeout=60)
            assert denied.status_code == 403
            assert "denied by policy" in denied.json()["error"]
            assert upstream.requests["/alpha/-/alpha-1.1.0.tgz"] == 0
            assert upstream.requests["/alpha/-/alpha-1.0.0.tgz"] == 1
        finally:
            stop(instance)
