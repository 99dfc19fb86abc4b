"""The unmodified npm client through an Assay mirror of another Assay instance.

Two `assay up` processes: the upstream, where a maintainer publishes one package with
provenance from an emulated GitHub Actions job and one without, and the mirror
(``ASSAY_UPLINK_URL=<upstream>``), where another package is published locally. A project that
depends on all three installs through one ``.npmrc`` line; the stock ``npm audit signatures``
against the mirror verifies the upstream versions' registry signatures and attestations (the
mirror serves the upstream's keys and trusted root beside its own); with the upstream gone,
what was cached still installs.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.assay_up import free_port, start, stop
from tests.e2e.test_audit import allow_downgrade
from tests.e2e.test_npm_audit_signatures import audit, exports, npm_proxy, publish_with_provenance
from tests.e2e.test_npm_registry import Npm, make_package
from tests.interop.test_sign import assay, job_env
from tests.mirrored import mirror_instance
from tests.servers import serve_app
from tests.static_upstream import StaticUpstream

pytestmark = [pytest.mark.npm]


def test_npm_installs_and_audits_through_the_mirror(tmp_path: Path) -> None:
    upstream = start(tmp_path / "upstream" / "data", free_port(), tmp_path / "upstream.log")
    mirror = None
    try:
        token = (upstream.data / "admin.token").read_text().strip()
        host = upstream.url.split("://", 1)[1]
        maintainer = Npm(f"{upstream.url}/", tmp_path / "maintainer")
        maintainer.userconfig.write_text(f"//{host}/:_authToken={token}\n")
        plain = make_package(tmp_path / "packages", "upstream-plain", "1.0.0")
        maintainer.run("publish", cwd=plain)
        publish_with_provenance(upstream, tmp_path / "ci", "upstream-widget", "1.0.0")

        port, proxy_port = free_port(), free_port()
        data = tmp_path / "mirror" / "data"
        mirror = start(data, port, tmp_path / "mirror.log", env={"ASSAY_UPLINK_URL": upstream.url})
        registry = f"{mirror.url}/"
        local_token = (data / "admin.token").read_text().strip()
        local = Npm(registry, tmp_path / "local-maintainer")
        local.userconfig.write_text(f"//127.0.0.1:{port}/:_authToken={local_token}\n")
        local.run("publish", cwd=make_package(tmp_path / "local", "local-lib", "1.0.0"))

        consumer = Npm(registry, tmp_path / "consumer")
        project = tmp_path / "project"
        project.mkdir()
        (project / ".npmrc").write_text(f"registry={registry}\n")
        (project / "package.json").write_text(json.dumps({
            "name": "project", "version": "1.0.0",
            "dependencies": {"upstream-widget": "^1.0.0", "upstream-plain": "^1.0.0",
                             "local-lib": "^1.0.0"},
        }))  # fmt: skip
        consumer.run("install", "--no-audit", cwd=project)
        lock = json.loads((project / "package-lock.json").read_text())
        for name in ("upstream-widget", "upstream-plain", "local-lib"):
            entry = lock["packages"][f"node_modules/{name}"]
            assert entry["resolved"].startswith(registry), entry
            assert (project / "node_modules" / name / "package.json").is_file()
        with sqlite3.connect(data / "assay.db") as db:
            verdicts = {
                name: (verdict, signatures, provenance)
                for name, verdict, signatures, provenance in db.execute(
                    "SELECT name, verdict, signatures, provenance FROM mirror_versions"
                )
            }
        db.close()
        assert verdicts == {
            "upstream-plain": ("verified", "verified", None),
            "upstream-widget": ("verified", "verified", "https://slsa.dev/provenance/v1"),
        }
        served = httpx.get(f"{mirror.url}/upstream-widget", timeout=30)
        assert served.headers["x-assay-mirror"] == "fresh"
        assert served.json()["versions"]["1.0.0"]["dist"]["attestations"]["url"].startswith(
            mirror.url
        )

        # The stock npm audit signatures, against the mirror only, with the mirror's TUF
        # repository planted in npm's cache (tests/e2e/test_npm_audit_signatures.py).
        cache = Path(consumer.env["npm_config_cache"])
        seeded = assay("trust", "npm-cache", "--cache", str(cache), "--data", str(data),
                       "--proxy-port", str(proxy_port),
                       env=job_env({}, tmp_path / "x"))  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
        env = exports(seeded.stdout)
        with npm_proxy(data, proxy_port, tmp_path / "npm-proxy.log"):
            result = audit(consumer, project, env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert re.fullmatch(
                r"audited 3 packages in \ds\n\n"
                r"3 packages have verified registry signatures\n\n"
                r"1 package has a verified attestation\n"
                r"\(use --json --include-attestations to view attestation details\)\n\n?",
                result.stdout,
            ), result.stdout

        # The upstream goes away: what the mirror cached (packuments, tarballs) still installs.
        stop(upstream)
        offline = Npm(registry, tmp_path / "consumer-2")
        again = tmp_path / "project-2"
        again.mkdir()
        (again / ".npmrc").write_text(f"registry={registry}\n")
        (again / "package.json").write_text((project / "package.json").read_text())
        offline.run("install", "--no-audit", cwd=again)
        assert (again / "node_modules" / "upstream-widget" / "package.json").is_file()
    finally:
        if mirror is not None:
            stop(mirror)
        stop(upstream)


def test_policy_holds_versions_and_npm_picks_the_allowed_one(tmp_path: Path) -> None:
    """A provenance downgrade and a version younger than min-release-age are left out of the
    served packuments: npm resolves ``^1.0.0`` to 1.0.0, and their tarballs answer 403."""
    upstream = start(tmp_path / "upstream" / "data", free_port(), tmp_path / "upstream.log")
    try:
        token = (upstream.data / "admin.token").read_text().strip()
        host = upstream.url.split("://", 1)[1]
        maintainer = Npm(f"{upstream.url}/", tmp_path / "maintainer")
        maintainer.userconfig.write_text(f"//{host}/:_authToken={token}\n")
        publish_with_provenance(upstream, tmp_path / "ci", "guarded", "1.0.0")
        allow_downgrade(upstream, "guarded")  # the upstream's own rule would refuse it
        maintainer.run("publish", cwd=make_package(tmp_path / "p", "guarded", "1.1.0"))
        for version in ("1.0.0", "1.1.0"):
            maintainer.run("publish", cwd=make_package(tmp_path / "p", "fresh-pkg", version))

        with mirror_instance(
            tmp_path / "mirror",
            f'[uplinks.team]\nurl = "{upstream.url}/"\n\n[packages."**"]\nproxy = "team"\n\n'
            '[policy]\nmin-release-age = "1h"\nallow = ["fresh-pkg@1.0.0", "guarded@1.0.0"]\n'
            "deny = []\n\n[policy.downgrade]\ncheck = true\n",
        ) as mirror:
            registry = f"{mirror.url}/"
            guarded = httpx.get(f"{mirror.url}/guarded", timeout=30).json()
            assert list(guarded["versions"]) == ["1.0.0"]
            assert guarded["dist-tags"]["latest"] == "1.0.0"
            refused = httpx.get(f"{mirror.url}/guarded/-/guarded-1.1.0.tgz", timeout=30)
            assert refused.status_code == 403
            assert "downgrade" in refused.json()["error"]
            young = httpx.get(f"{mirror.url}/fresh-pkg/-/fresh-pkg-1.1.0.tgz", timeout=30)
            assert young.status_code == 403
            assert "min-release-age" in young.json()["error"]

            consumer = Npm(registry, tmp_path / "consumer")
            project = tmp_path / "project"
            project.mkdir()
            (project / "package.json").write_text(json.dumps({
                "name": "project", "version": "1.0.0",
                "dependencies": {"guarded": "^1.0.0", "fresh-pkg": "^1.0.0"},
            }))  # fmt: skip
            consumer.run("install", "--no-audit", cwd=project)
            for name in ("guarded", "fresh-pkg"):
                manifest = json.loads(
                    (project / "node_modules" / name / "package.json").read_text()
                )
                assert manifest["version"] == "1.0.0"
            failed = consumer.run(
                "install", "--no-audit", "fresh-pkg@1.1.0", cwd=project, check=False
            )
            assert failed.returncode != 0
            assert "ETARGET" in failed.stderr
    finally:
        stop(upstream)


def test_a_confused_manifest_never_reaches_npm(tmp_path: Path) -> None:
    """An upstream version whose packument hides the dependency and the postinstall script its
    tarball has (manifest confusion; ``dist.integrity`` names the real bytes): on-fetch, npm's
    first install of it fails on the tarball's 403 with the reason, nothing of it is stored or
    run, and the next install resolves the range to the consistent version; before-serve, npm
    never sees it."""
    marker = "require('fs').writeFileSync(process.env.INIT_CWD + '/pwned', '')"
    static = StaticUpstream(
        {"helper": {"1.0.0": {}},
         "widget": {"1.0.0": {"helper": "^1.0.0"}, "1.1.0": {"helper": "^1.0.0"}}},
        claimed={"widget@1.1.0": {"dependencies": {}}},
        packed={"widget@1.1.0": {"scripts": {"postinstall": f'node -e "{marker}"'}}},
    )  # fmt: skip
    manifest = {"name": "project", "version": "1.0.0", "dependencies": {"widget": "^1.0.0"}}

    def project(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "package.json").write_text(json.dumps(manifest))
        return folder

    with serve_app(static.app()) as url:
        static.url = url
        mirror = start(tmp_path / "on-fetch", free_port(), tmp_path / "on-fetch.log",
                       env={"ASSAY_UPLINK_URL": url})  # fmt: skip
        try:
            registry = f"{mirror.url}/"
            first = project("first")
            failed = Npm(registry, tmp_path / "npm-1").run("install", cwd=first, check=False)
            assert failed.returncode != 0
            assert "E403" in failed.stderr, failed.stderr
            assert "manifest confusion: dependencies" in failed.stderr, failed.stderr
            assert not (first / "pwned").exists()
            assert not (first / "node_modules" / "widget").exists()
            with sqlite3.connect(mirror.data / "assay.db") as db:
                row = db.execute(
                    "SELECT verdict, blob_key FROM mirror_versions WHERE version = '1.1.0'"
                ).fetchone()
            db.close()
            assert row == ("refused", None)

            second = project("second")
            Npm(registry, tmp_path / "npm-2").run("install", cwd=second)
            installed = json.loads((second / "node_modules/widget/package.json").read_text())
            assert installed["version"] == "1.0.0"
            assert (second / "node_modules/helper/package.json").is_file()
            assert not (second / "pwned").exists()
        finally:
            stop(mirror)

        with mirror_instance(
            tmp_path / "before-serve",
            f'[uplinks.static]\nurl = "{url}/"\nverify-manifests = "before-serve"\n\n'
            '[packages."**"]\nproxy = "static"\n',
        ) as checked:
            third = project("third")
            Npm(f"{checked.url}/", tmp_path / "npm-3").run("install", cwd=third)
            installed = json.loads((third / "node_modules/widget/package.json").read_text())
            assert installed["version"] == "1.0.0"
            assert not (third / "pwned").exists()
