"""The stock npm 11 client drives the trusted-publisher settings (`npm trust github|gitlab|
circleci|list|revoke`), and the package policy refuses what it says, against `assay up`."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.assay_up import Instance
from tests.e2e.test_npm_registry import Npm
from tests.e2e.test_publish_provenance import make_package
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job

pytestmark = [pytest.mark.npm]

ORG = "5c4c6b0a-3f7e-4c55-9a1e-0a8e2d3b4c01"
PROJECT = "5c4c6b0a-3f7e-4c55-9a1e-0a8e2d3b4c02"
PIPELINE = "5c4c6b0a-3f7e-4c55-9a1e-0a8e2d3b4c03"
CONTEXT = "5c4c6b0a-3f7e-4c55-9a1e-0a8e2d3b4c04"


def npm_user(instance: Instance, root: Path, name: str) -> Npm:
    """A new account (signed up as `npm adduser` does) and an npm configured with its token."""
    response = httpx.put(
        f"{instance.url}/-/user/org.couchdb.user:{name}",
        json={"name": name, "password": f"{name}-password", "email": f"{name}@example.com"},
    )
    assert response.status_code == 201, response.text
    npm = Npm(f"{instance.url}/", root / name)
    host = urlsplit(instance.url).netloc
    token = response.json()["token"]
    npm.userconfig.write_text(f"registry={instance.url}/\n//{host}/:_authToken={token}\n")
    return npm


def json_documents(text: str) -> list[dict[str, Any]]:
    """`npm trust list --json` prints one JSON object per configuration, one after another."""
    decoder = json.JSONDecoder()
    documents, index = [], 0
    text = text.strip()
    while index < len(text):
        document, index = decoder.raw_decode(text, index)
        documents.append(document)
        while index < len(text) and text[index].isspace():
            index += 1
    return documents


def test_npm_trust_configures_lists_and_revokes(assay_up: Instance, tmp_path: Path) -> None:
    suffix = secrets.token_hex(3)
    owner = npm_user(assay_up, tmp_path, f"owner-{suffix}")
    stranger = npm_user(assay_up, tmp_path, f"stranger-{suffix}")
    name = f"trusty-{suffix}"
    package = make_package(tmp_path, name, "1.0.0", "acme/widget")
    owner.run("publish", cwd=package)

    github = owner.run("trust", "github", name, "--file", "release.yml",
                       "--repository", "acme/widget", "--env", "production",
                       "--allow-publish", "--yes")  # fmt: skip
    assert "Trust configuration created successfully" in github.stdout
    owner.run("trust", "gitlab", name, "--file", ".gitlab-ci.yml", "--project",
              "team/sub/widget", "--allow-stage-publish", "--yes")  # fmt: skip
    owner.run("trust", "circleci", name, "--org-id", ORG, "--project-id", PROJECT,
              "--pipeline-definition-id", PIPELINE, "--vcs-origin", "github.com/acme/widget",
              "--context-id", CONTEXT, "--allow-publish", "--allow-stage-publish",
              "--yes")  # fmt: skip

    listed = json_documents(owner.run("trust", "list", name, "--json").stdout)
    assert [d["type"] for d in listed] == ["github", "gitlab", "circleci"]
    github_config, gitlab_config, circle_config = listed
    assert {k: v for k, v in github_config.items() if k != "id"} == {
        "type": "github",
        "file": "release.yml",
        "repository": "acme/widget",
        "environment": "production",
        "permissions": ["createPackage"],
    }
    assert gitlab_config["project"] == "team/sub/widget"
    assert gitlab_config["file"] == ".gitlab-ci.yml"
    assert gitlab_config["permissions"] == ["createStagedPackage"]
    assert circle_config["orgId"] == ORG
    assert circle_config["contextIds"] == [CONTEXT]
    assert circle_config["permissions"] == ["createPackage", "createStagedPackage"]
    # The plain listing too (what a person reads).
    text = owner.run("trust", "list", name).stdout
    assert "repository: acme/widget" in text
    assert "permissions: publish" in text

    # Someone else: refused in npm's words, with the registry's reason.
    denied = stranger.run("trust", "list", name, check=False)
    assert denied.returncode != 0
    assert "403" in denied.stderr
    assert "only its maintainers" in denied.stderr
    denied = stranger.run("trust", "github", name, "--file", "x.yml", "--repository",
                          "evil/widget", "--allow-publish", "--yes", check=False)  # fmt: skip
    assert denied.returncode != 0
    assert "403" in denied.stderr
    denied = stranger.run("trust", "revoke", name, "--id", github_config["id"], check=False)
    assert denied.returncode != 0

    owner.run("trust", "revoke", name, "--id", gitlab_config["id"])
    remaining = json_documents(owner.run("trust", "list", name, "--json").stdout)
    assert [d["id"] for d in remaining] == [github_config["id"], circle_config["id"]]
    missing = owner.run("trust", "revoke", name, "--id", gitlab_config["id"], check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr

    # The audit trail, as its maintainer reads it with assay.
    trail = assay("package", "audit-log", name, "--json", "--registry", f"{assay_up.url}/",
                  env=job_env({}, owner.home))  # fmt: skip
    assert trail.returncode == 0, trail.stderr
    actions = [(e["actor"], e["action"]) for e in json.loads(trail.stdout)]
    actor = f"user:owner-{suffix}"
    assert actions == [(actor, "trust.revoke")] + [(actor, "trust.add")] * 3


def test_no_provenance_downgrade_until_a_maintainer_lifts_it(
    assay_up: Instance, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(3)
    owner = npm_user(assay_up, tmp_path, f"keeper-{suffix}")
    name = f"kept-{suffix}"
    registry = f"{assay_up.url}/"
    job = ci_job(assay_up, "github", "repository=acme/kept", "ref=refs/tags/v1.0.0")
    signed = make_package(tmp_path, name, "1.0.0", "git+https://github.com/acme/kept.git")
    done = assay("publish", str(signed), "--provenance", "--access", "public",
                 env=job_env(job, owner.home))  # fmt: skip
    assert done.returncode == 0, done.stderr

    unsigned = make_package(tmp_path, name, "1.0.1", "git+https://github.com/acme/kept.git")
    refused = owner.run("publish", cwd=unsigned, check=False)
    assert refused.returncode != 0
    assert "422" in refused.stderr
    assert "provenance downgrade" in refused.stderr
    assert list(httpx.get(f"{registry}{name}").json()["versions"]) == ["1.0.0"]

    policy = assay("package", "policy", name, "--allow-provenance-downgrade",
                   "--registry", registry, env=job_env({}, owner.home))  # fmt: skip
    assert policy.returncode == 0, policy.stderr
    assert "allow-provenance-downgrade: yes" in policy.stdout
    owner.run("publish", cwd=unsigned)

    # require-trusted-publishing: a token publish is refused, naming the rule.
    policy = assay("package", "policy", name, "--require-trusted-publishing",
                   "--registry", registry, env=job_env({}, owner.home))  # fmt: skip
    assert policy.returncode == 0, policy.stderr
    later = make_package(tmp_path, name, "1.0.2", "git+https://github.com/acme/kept.git")
    refused = owner.run("publish", cwd=later, check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr
    assert "require-trusted-publishing" in refused.stderr
