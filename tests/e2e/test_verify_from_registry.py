"""The README's flow, end to end: `assay up`, a CI job publishes widget@1.0.0 with provenance,
then a consumer runs `assay verify widget@1.0.0 --registry URL` with no trust files at all.

The version's provenance is logged in the instance's own transparency log, so it verifies only
with the trust the instance serves (`/-/trust/trusted_root.json`, `/-/npm/v1/keys`) — the default
for any registry but npmjs.org, and the same rule `assay audit signatures` follows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.provenance.publish import PUBLISH_PREDICATE_TYPE
from tests.assay_up import Instance, free_port, running_instance, start, stop
from tests.e2e.test_provenance_facts import job_env as facts_job_env
from tests.e2e.test_provenance_facts import make_package, put, sign, statement_for
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job, fetch_token


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


# --- the consumer checks the statement against the certificate itself --------------------------


def _replace_provenance(db: Path, name: str, version: str, bundle: dict[str, Any]) -> None:
    """What a tampered (or upstream) registry might serve: another, validly signed bundle."""
    with sqlite3.connect(db) as connection:
        (stored,) = connection.execute(
            "SELECT attestations FROM registry_versions WHERE package = ? AND version = ?",
            (name, version),
        ).fetchone()
        attestations: list[dict[str, Any]] = json.loads(stored)
        (provenance,) = [a for a in attestations if a["predicateType"] != PUBLISH_PREDICATE_TYPE]
        provenance["bundle"] = bundle
        connection.execute(
            "UPDATE registry_versions SET attestations = ? WHERE package = ? AND version = ?",
            (json.dumps(attestations), name, version),
        )
    connection.close()


def test_a_registry_serving_a_contradicting_statement_is_refused(tmp_path: Path) -> None:
    """The issue's attack served by the registry rather than published through it: a statement
    that claims facebook/react, validly signed under a certificate for acme/liar. The registry
    would refuse it at publish; the consumer must not rely on that."""
    port = free_port()
    log = tmp_path / "assay-up.log"
    data = tmp_path / "data"
    consumer = job_env({}, tmp_path / "consumer-home")
    consumer["ASSAY_TRUST_PIN_DIR"] = str(tmp_path / "pins")
    instance = start(data, port, log)
    try:
        job = facts_job_env(instance, "github", "repository=acme/liar", "ref=refs/tags/v1.0.0")
        package = make_package(tmp_path / "packages", "liar", "1.0.0", "github:acme/liar")
        response = put(
            instance, package, sign(instance, statement_for(package, job), fetch_token(job))
        )
        assert response.status_code in (200, 201), response.text
        verify = ["verify", "liar@1.0.0", "--registry", f"{instance.url}/"]
        done = assay(*verify, env=consumer)
        assert done.returncode == 0, done.stderr

        lying = statement_for(package, job)
        workflow = lying["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
        workflow["repository"] = "https://github.com/facebook/react"
        bundle = sign(instance, lying, fetch_token(job))
        stop(instance)
        _replace_provenance(data / "assay.db", "liar", "1.0.0", bundle)
        instance = start(data, port, log)
        refused = assay(*verify, env=consumer)
        assert refused.returncode == 1, refused.stdout
        assert "contradicts its certificate" in refused.stderr
        assert "facebook/react" in refused.stderr
    finally:
        stop(instance)
