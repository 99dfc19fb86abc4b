"""The README's flow, end to end: `assay up`, a CI job publishes widget@1.0.0 with provenance,
then a consumer runs `assay verify widget@1.0.0 --registry URL` with no trust files at all.

The version's provenance is logged in the instance's own transparency log, so it verifies only
with the trust the instance serves (`/-/trust/trusted_root.json`, `/-/npm/v1/keys`) — the default
for any registry but npmjs.org, and the same rule `assay audit signatures` follows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.provenance.publish import PUBLISH_PREDICATE_TYPE
from tests.assay_up import Instance, running_instance
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with running_instance(tmp_path_factory.mktemp("instance")) as running:
        yield running


def test_readme_publish_then_verify_from_the_registry(instance: Instance, tmp_path: Path) -> None:
    registry = f"{instance.url}/"
    package = tmp_path / "widget"
    package.mkdir()
    manifest = {"name": "widget", "version": "1.0.0", "repository": "github:acme/widget"}
    (package / "package.json").write_text(json.dumps(manifest))
    (package / "index.js").write_text("module.exports = 1;\n")
    job = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    token = (instance.data / "admin.token").read_text().strip()
    args = ["--provenance", "--access", "public", "--registry", registry, "--token", token]
    published = assay("publish", *args, str(package), env=job_env(job, tmp_path / "ci"))
    assert published.returncode == 0, published.stderr

    consumer = job_env({}, tmp_path / "consumer")  # no CI, no .npmrc, no trust files
    verified = assay("verify", "widget@1.0.0", "--registry", registry, env=consumer)
    assert verified.returncode == 0, verified.stderr
    assert "verified registry signature" in verified.stdout
    assert f"verified {PUBLISH_PREDICATE_TYPE}" in verified.stdout
    assert "verified https://slsa.dev/provenance/v1" in verified.stdout
    assert "https://github.com/acme/widget/.github/workflows/release.yml" in verified.stdout

    policy = ["--repository", "github.com/acme/widget", "--ref", "refs/tags/v*"]
    with_policy = assay("verify", "widget@1.0.0", "--registry", registry, *policy, env=consumer)
    assert with_policy.returncode == 0, with_policy.stderr
    other = ["--repository", "github.com/evil/widget"]
    refused = assay("verify", "widget@1.0.0", "--registry", registry, *other, env=consumer)
    assert refused.returncode == 1
    assert "repository" in refused.stderr
