"""The unmodified npm client's staged publishes against `assay up`: ``npm stage publish``,
``list``, ``view``, ``download``, ``approve`` and ``reject`` (npm 11.15+, lib/commands/stage).

A maintainer stages a version: nothing appears in the packument, the staging commands show it,
``npm stage download`` writes the very bytes staged; another account can neither see nor approve
it; the maintainer rejects one staged version and approves another, which then installs like any
version and carries the registry's signature (``npm audit signatures`` verifies it offline with
the instance's TUF material, as in test_npm_audit_signatures.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.provenance.publish import PUBLISH_PREDICATE_TYPE
from assay.publish.body import Package, load_package, publish_body
from tests.assay_up import Instance, free_port
from tests.e2e.test_npm_audit_signatures import audit, exports, npm_proxy
from tests.e2e.test_npm_registry import Npm, make_package
from tests.e2e.test_publish_provenance import GITHUB_REPO
from tests.e2e.test_publish_provenance import _signed as signed_bundle
from tests.e2e.test_publish_provenance import make_package as provenance_package
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job

pytestmark = [pytest.mark.npm]

_STAGED = re.compile(r"\+ (\S+) \(staged with id ([0-9a-f-]{36})\)")


def _account(instance: Instance, tmp_path: Path, name: str) -> Npm:
    """A fresh account on the shared instance (created over the npm login API), as npm."""
    password = secrets.token_urlsafe(12)
    created = httpx.put(
        f"{instance.url}/-/user/org.couchdb.user:{name}",
        json={"name": name, "password": password, "email": f"{name}@example.com"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    npm = Npm(f"{instance.url}/", tmp_path / name)
    host = instance.url.removeprefix("http:")
    npm.userconfig.write_text(f"{host}/:_authToken={created.json()['token']}\n")
    return npm


def _stage(npm: Npm, directory: Path) -> str:
    result = npm.run("stage", "publish", cwd=directory)
    match = _STAGED.search(result.stdout)
    assert match is not None, result.stdout + result.stderr
    return match[2]


def test_stage_list_view_download_approve_reject(assay_up: Instance, tmp_path: Path) -> None:
    suffix = secrets.token_hex(4)
    name = f"stage-demo-{suffix}"
    maintainer = _account(assay_up, tmp_path, f"stager-{suffix}")
    stranger = _account(assay_up, tmp_path, f"stranger-{suffix}")
    packages = tmp_path / "packages"
    maintainer.run("publish", cwd=make_package(packages, name, "1.0.0"))

    stage_id = _stage(maintainer, make_package(packages, name, "1.1.0"))
    # Staged, not published: the packument and npm's view know only 1.0.0.
    assert maintainer.json("view", name, "versions") == ["1.0.0"]

    listed = maintainer.json("stage", "list")
    assert isinstance(listed, list)
    assert [item["id"] for item in listed] == [stage_id]
    (item,) = listed
    assert (item["packageName"], item["version"], item["tag"]) == (name, "1.1.0", "latest")
    assert (item["actor"], item["actorType"], item["status"]) == (
        f"stager-{suffix}",
        "user",
        "staged",
    )
    assert maintainer.json("stage", "list", name) == listed
    assert maintainer.json("stage", "view", stage_id) == item
    # npm's own rendering of an item (lib/utils/key-values.js logStageItem).
    shown = maintainer.run("stage", "view", stage_id).stdout
    assert f"package name: {name}" in shown
    assert f"staged by: stager-{suffix} (user)" in shown

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    maintainer.run("stage", "download", stage_id, cwd=downloads)
    (written,) = downloads.iterdir()
    assert written.name == f"{name}-1.1.0-{stage_id}.tgz"
    assert hashlib.sha1(written.read_bytes()).hexdigest() == item["shasum"]  # noqa: S324

    # Another account sees nothing and cannot approve or reject.
    assert stranger.json("stage", "list") == []
    for command in ("view", "approve", "reject"):
        refused = stranger.run("stage", command, stage_id, check=False)
        assert refused.returncode == 1
        assert "404 Not Found" in refused.stderr, refused.stderr
    assert maintainer.json("view", name, "versions") == ["1.0.0"]

    # A second staged version is rejected: it disappears, nothing is published.
    second = _stage(maintainer, make_package(packages, name, "1.2.0"))
    rejected = maintainer.run("stage", "reject", second)
    assert f"Staged package {second} has been rejected." in rejected.stdout
    assert maintainer.run("stage", "view", second, check=False).returncode == 1

    # Approval publishes the first, as its stager; the packument and an install see it.
    approved = maintainer.run("stage", "approve", stage_id)
    assert f"Staged package {stage_id} approved and published successfully." in approved.stdout
    view = maintainer.json("view", name)
    assert isinstance(view, dict)
    assert view["versions"] == ["1.0.0", "1.1.0"]
    assert view["dist-tags"] == {"latest": "1.1.0"}
    assert view["_npmUser"] == f"stager-{suffix} <stager-{suffix}@example.com>"
    assert view["dist"]["shasum"] == item["shasum"]
    assert maintainer.json("stage", "list", name) == []

    consumer = Npm(f"{assay_up.url}/", tmp_path / "consumer")
    project = tmp_path / "project"
    project.mkdir()
    (project / "package.json").write_text('{"name": "project", "version": "1.0.0"}')
    consumer.run("install", "--no-audit", f"{name}@1.1.0", cwd=project)
    lock = json.loads((project / "package-lock.json").read_text())["packages"]
    assert lock[f"node_modules/{name}"]["version"] == "1.1.0"

    # The approved version carries the registry's signature, verified by npm itself.
    proxy_port = free_port()
    cache = Path(consumer.env["npm_config_cache"])
    seeded = assay(
        "trust", "npm-cache", "--cache", str(cache), "--data", str(assay_up.data),
        "--proxy-port", str(proxy_port), env=job_env({}, tmp_path / "seed"),
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    env = exports(seeded.stdout)
    with npm_proxy(assay_up.data, proxy_port, tmp_path / "npm-proxy.log"):
        result = audit(consumer, project, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 package has a verified registry signature" in result.stdout, result.stdout


def test_a_staged_version_with_provenance_is_verified_at_stage_and_at_approval(
    assay_up: Instance, tmp_path: Path
) -> None:
    """Provenance is checked when a version is staged (a spoofed bundle stages nothing) and
    again when it is approved; the approved version carries it and the publish attestation,
    exactly like a direct publish with provenance."""
    name = f"stage-signed-{secrets.token_hex(4)}"
    token = (assay_up.data / "admin.token").read_text().strip()
    headers = {"authorization": f"Bearer {token}"}

    def body(package: Package, bundle: dict[str, Any] | None) -> dict[str, Any]:
        document = publish_body(package, f"{assay_up.url}/", access="public")
        if bundle is not None:
            key = f"{name}-{package.version}.sigstore"
            document["_attachments"][key] = {
                "content_type": bundle["mediaType"],
                "data": json.dumps(bundle),
            }
        return document

    first = load_package(provenance_package(tmp_path / "plain", name, "1.0.0", GITHUB_REPO))
    published = httpx.put(f"{assay_up.url}/{name}", json=body(first, None), headers=headers)
    assert published.status_code == 201, published.text
    package = load_package(provenance_package(tmp_path / "signed", name, "1.1.0", GITHUB_REPO))
    job = ci_job(assay_up, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.1.0")
    bundle = signed_bundle(assay_up, package, job)
    stage_url = f"{assay_up.url}/-/stage/package/{name}"

    spoofed = json.loads(json.dumps(bundle))
    spoofed["verificationMaterial"]["tlogEntries"] = []
    refused = httpx.post(stage_url, json=body(package, spoofed), headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"].startswith("Error verifying sigstore provenance bundle: ")
    listed = httpx.get(f"{assay_up.url}/-/stage", params={"package": name}, headers=headers)
    assert listed.json()["total"] == 0

    staged = httpx.post(stage_url, json=body(package, bundle), headers=headers)
    assert staged.status_code == 201, staged.text
    stage_id = staged.json()["stageId"]
    item = httpx.get(f"{assay_up.url}/-/stage/{stage_id}", headers=headers).json()
    assert item["provenance"] is True
    assert httpx.get(f"{assay_up.url}/-/npm/v1/attestations/{name}@1.1.0").status_code == 404

    approved = httpx.post(f"{assay_up.url}/-/stage/{stage_id}/approve", headers=headers)
    assert approved.status_code == 201, approved.text
    dist = httpx.get(f"{assay_up.url}/{name}/1.1.0").json()["dist"]
    assert dist["attestations"]["provenance"]["predicateType"] == "https://slsa.dev/provenance/v1"
    assert dist["signatures"]
    attestations = httpx.get(f"{assay_up.url}/-/npm/v1/attestations/{name}@1.1.0").json()
    assert [a["predicateType"] for a in attestations["attestations"]] == [
        PUBLISH_PREDICATE_TYPE,
        "https://slsa.dev/provenance/v1",
    ]
