"""Provenance that states only what was verified (issue 10), against real `assay up` instances.

* A statement that claims another repository, commit, ref, workflow or run than its signing
  certificate is refused with npm's 422 and nothing is stored (the issue's attack: certificate
  ``mallory/evil``, statement ``facebook/react``).
* Only the configured OIDC issuers may sign; the instance's own only with CI emulation on,
  which is off by default (its job routes answer 404, ``assay ci-job`` says so).
* What was verified is stored with the version and shown in the packument.
* The source check, against a real git smart-HTTP server on loopback, in its three modes.
* A losing concurrent publish leaves no publish attestation in the log.
"""

from __future__ import annotations

import copy
import json
import secrets
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.npm.names import PackageName
from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer
from assay.provenance.ci import build_provenance
from assay.provenance.publish import PUBLISH_PREDICATE_TYPE
from assay.provenance.statement import Statement, Subject
from assay.publish.body import Package, load_package, publish_body
from assay.registry.service import RegistryService
from assay.settings import Settings
from assay.sign.config import SigningConfig
from assay.sign.errors import SigningError
from assay.sign.signer import sign_statement
from tests.assay_up import Instance, free_port, start, stop
from tests.gitserver import GitServer, free_port_url, git_server
from tests.interop.test_sigstore_clients import fetch_token

PREFIX = "Error verifying sigstore provenance bundle: "
EVIL = "mallory/evil"
REACT = "https://github.com/facebook/react"
REACT_COMMIT = "9e3b772b8cabbd8cadc7522ebe3dde3279e79d9e"


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with git_server(tmp_path_factory.mktemp("git")) as server:
        yield server


def _instance(root: Path, **env: str) -> Iterator[Instance]:
    root.mkdir(parents=True, exist_ok=True)
    running = start(root / "data", free_port(), root / "assay-up.log", env)
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """CI emulation on (tests.assay_up turns it on), source check off (the default)."""
    yield from _instance(tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="module")
def warn_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    yield from _instance(
        tmp_path_factory.mktemp("warn"),
        ASSAY_SOURCE_CHECK="warn",
        ASSAY_SOURCE_CHECK_TIMEOUT="5",
    )


@pytest.fixture(scope="module")
def require_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    yield from _instance(
        tmp_path_factory.mktemp("require"),
        ASSAY_SOURCE_CHECK="require",
        ASSAY_SOURCE_CHECK_TIMEOUT="5",
    )


# --- helpers ---------------------------------------------------------------------------------


def ci_job(
    instance: Instance, provider: str, *claims: str, server_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "assay", "ci-job", "--data", str(instance.data)]
    args += ["--url", f"{instance.url}/-/oidc", "--provider", provider]
    if server_url is not None:
        args += ["--server-url", server_url]
    for claim in claims:
        args += ["--claim", claim]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def job_env(
    instance: Instance, provider: str, *claims: str, server_url: str | None = None
) -> dict[str, str]:
    done = ci_job(instance, provider, *claims, server_url=server_url)
    assert done.returncode == 0, done.stderr
    env = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def make_package(root: Path, name: str, version: str, repository: str) -> Package:
    folder = root / f"{name.replace('/', '_')}-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "repository": repository}
    (folder / "package.json").write_text(json.dumps(manifest))
    (folder / "index.js").write_text(f"module.exports = {version!r};\n")
    return load_package(folder)


def statement_for(package: Package, env: dict[str, str]) -> dict[str, Any]:
    subject = Subject(package.purl, {"sha512": package.sha512.hex})
    return build_provenance(env, subject).to_dict()


def sign(instance: Instance, statement: dict[str, Any], token: str) -> dict[str, Any]:
    signed = sign_statement(
        Statement.from_dict(statement), token, SigningConfig.fetch(instance.url)
    )
    return signed.to_dict()


def put(
    instance: Instance, package: Package, bundle: dict[str, Any], body: dict[str, Any] | None = None
) -> httpx.Response:
    if body is None:
        body = publish_body(package, f"{instance.url}/", access="public")
        body["_attachments"][f"{package.name}-{package.version}.sigstore"] = {
            "content_type": bundle["mediaType"],
            "data": json.dumps(bundle),
            "length": len(json.dumps(bundle)),
        }
    token = (instance.data / "admin.token").read_text().strip()
    return httpx.put(
        f"{instance.url}/{package.name.replace('/', '%2f')}",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )


def tree_size(instance: Instance) -> int:
    size: int = httpx.get(f"{instance.url}/-/tlog/api/v1/log").json()["treeSize"]
    return size


def blobs(instance: Instance) -> list[str]:
    return sorted(p.name for p in (instance.data / "blobs").rglob("*") if p.is_file())


def assert_nothing_stored(instance: Instance, name: str, before: tuple[int, list[str]]) -> None:
    assert httpx.get(f"{instance.url}/{name}").status_code == 404
    assert (tree_size(instance), blobs(instance)) == before


def verified(instance: Instance, name: str, version: str) -> dict[str, Any]:
    document = httpx.get(f"{instance.url}/{name}").json()
    record: dict[str, Any] = document["versions"][version]["dist"]["attestations"]["provenance"][
        "verified"
    ]
    return record


# --- the statement must agree with the certificate ----------------------------------------------


def _workflow(statement: dict[str, Any]) -> dict[str, Any]:
    workflow: dict[str, Any] = statement["predicate"]["buildDefinition"]["externalParameters"][
        "workflow"
    ]
    return workflow


def _dependency(statement: dict[str, Any]) -> dict[str, Any]:
    dependency: dict[str, Any] = statement["predicate"]["buildDefinition"]["resolvedDependencies"][
        0
    ]
    return dependency


def _claim_react(statement: dict[str, Any]) -> None:
    """The issue's attack: everything the page shows says facebook/react."""
    _workflow(statement)["repository"] = REACT
    _dependency(statement)["uri"] = f"git+{REACT}@refs/tags/v1.0.0"
    _dependency(statement)["digest"]["gitCommit"] = REACT_COMMIT
    statement["predicate"]["runDetails"]["metadata"]["invocationId"] = (
        f"{REACT}/actions/runs/1/attempts/1"
    )


def _claim_commit(statement: dict[str, Any]) -> None:
    _dependency(statement)["digest"]["gitCommit"] = REACT_COMMIT


def _claim_ref(statement: dict[str, Any]) -> None:
    _workflow(statement)["ref"] = "refs/tags/v9.9.9"


def _claim_ref_in_uri(statement: dict[str, Any]) -> None:
    _dependency(statement)["uri"] = f"git+https://github.com/{EVIL}@refs/heads/release"


def _claim_workflow(statement: dict[str, Any]) -> None:
    _workflow(statement)["path"] = ".github/workflows/innocent.yml"


def _claim_run(statement: dict[str, Any]) -> None:
    statement["predicate"]["runDetails"]["metadata"]["invocationId"] = (
        "https://build-summary.example/looks-legit"
    )


ATTACKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "facebook/react": (_claim_react, "Failed to validate repository information"),
    "commit": (_claim_commit, "Failed to validate commit information"),
    "ref": (_claim_ref, "Failed to validate ref information"),
    "ref in the source URI": (_claim_ref_in_uri, "Failed to validate ref information"),
    "workflow path": (_claim_workflow, "Failed to validate workflow path information"),
    "run URI": (_claim_run, "Failed to validate run URI information"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_statement_that_disagrees_with_its_certificate_is_refused(
    instance: Instance, tmp_path: Path, attack: str
) -> None:
    change, reason = ATTACKS[attack]
    name = "claims-" + attack.lower().replace(" ", "-").replace("/", "-")
    # package.json names the certificate's repository, so only the statement lies.
    package = make_package(tmp_path, name, "1.0.0", f"https://github.com/{EVIL}")
    env = job_env(instance, "github", f"repository={EVIL}", "ref=refs/tags/v1.0.0")
    statement = statement_for(package, env)
    change(statement)
    bundle = sign(instance, statement, fetch_token(env))  # a genuine signature over the lie
    before = (tree_size(instance), blobs(instance))
    response = put(instance, package, bundle)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith(PREFIX + reason), error
    assert "from signing certificate" in error
    assert_nothing_stored(instance, name, before)


def test_a_gitlab_statement_claiming_another_project_is_refused(
    instance: Instance, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "gitlab-claims", "1.0.0", "https://gitlab.com/mallory/evil")
    env = job_env(instance, "gitlab", "project_path=mallory/evil")
    env["CI_PROJECT_URL"] = "https://gitlab.com/gitlab-org/gitlab"  # what the build says
    statement = statement_for(package, env)
    bundle = sign(instance, statement, env["SIGSTORE_ID_TOKEN"])
    before = (tree_size(instance), blobs(instance))
    response = put(instance, package, bundle)
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(
        PREFIX + "Failed to validate repository information"
    ), response.text
    assert_nothing_stored(instance, "gitlab-claims", before)


def test_the_tarball_repository_is_checked_not_the_request_body(
    instance: Instance, tmp_path: Path
) -> None:
    """A body manifest naming the certificate's repository cannot cover for the tarball's."""
    package = make_package(tmp_path, "body-repository", "1.0.0", "https://github.com/acme/other")
    env = job_env(instance, "github", f"repository={EVIL}", "ref=refs/tags/v1.0.0")
    bundle = sign(instance, statement_for(package, env), fetch_token(env))
    body = publish_body(package, f"{instance.url}/", access="public")
    body["versions"]["1.0.0"]["repository"] = f"https://github.com/{EVIL}"
    body["_attachments"]["body-repository-1.0.0.sigstore"] = {
        "content_type": bundle["mediaType"],
        "data": json.dumps(bundle),
    }
    before = (tree_size(instance), blobs(instance))
    response = put(instance, package, bundle, body)
    # Refused either as manifest confusion (400) or as a repository mismatch (422): never
    # accepted on the body's word.
    assert response.status_code in (400, 422), response.text
    if response.status_code == 422:
        assert "built from repository" in response.json()["error"]
    assert_nothing_stored(instance, "body-repository", before)


# --- facts stored and shown ---------------------------------------------------------------------


def test_the_verified_facts_are_stored_and_shown(instance: Instance, tmp_path: Path) -> None:
    package = make_package(tmp_path, "with-facts", "1.0.0", f"https://github.com/{EVIL}")
    env = job_env(instance, "github", f"repository={EVIL}", "ref=refs/tags/v1.0.0")
    bundle = sign(instance, statement_for(package, env), fetch_token(env))
    response = put(instance, package, bundle)
    assert response.status_code in (200, 201), response.text

    provenance = httpx.get(f"{instance.url}/with-facts").json()["versions"]["1.0.0"]["dist"][
        "attestations"
    ]["provenance"]
    assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
    record = provenance["verified"]
    facts = record["facts"]
    assert facts["ci"] == "emulated CI of this instance"
    assert facts["issuer"] == f"{instance.url}/-/oidc"
    assert facts["source_repository_uri"] == f"https://github.com/{EVIL}"
    assert facts["source_repository_digest"] == env["GITHUB_SHA"]
    assert facts["source_repository_ref"] == "refs/tags/v1.0.0"
    assert facts["run_invocation_uri"] == (
        f"https://github.com/{EVIL}/actions/runs/{env['GITHUB_RUN_ID']}/attempts/1"
    )
    assert set(record["statement"]["agreed"]) >= {"repository", "commit", "ref", "run URI"}
    assert record["source"] is None  # the source check is off here
    # The abbreviated document an install reads stays npm's size.
    corgi = httpx.get(
        f"{instance.url}/with-facts", headers={"accept": "application/vnd.npm.install-v1+json"}
    ).json()
    assert corgi["versions"]["1.0.0"]["dist"]["attestations"]["provenance"] == {
        "predicateType": "https://slsa.dev/provenance/v1"
    }
    # The accessor the web pages use, in process over the same data directory.
    service = RegistryService.open(Settings(data_dir=instance.data, public_url=instance.url))
    try:
        stored = service.version_facts(PackageName("with-facts"), "1.0.0")
    finally:
        service.close()
    assert stored is not None
    assert stored.facts.emulated
    assert stored.to_json() == record


# --- which CI may sign ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_emulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """The default: CI emulation off."""
    yield from _instance(tmp_path_factory.mktemp("plain"), ASSAY_CI_EMULATION="0")


def test_ci_emulation_is_off_by_default(no_emulation: Instance) -> None:
    response = httpx.post(f"{no_emulation.url}/-/oidc/ci/jobs", json={"provider": "github"})
    assert response.status_code == 404
    assert "CI emulation is off" in response.json()["error"]
    response = httpx.get(
        f"{no_emulation.url}/-/oidc/ci/token", headers={"authorization": "Bearer x"}
    )
    assert response.status_code == 404
    assert "CI emulation is off" in response.json()["error"]
    done = ci_job(no_emulation, "github")
    assert done.returncode != 0
    assert "CI emulation is off" in done.stderr
    assert "--ci-emulation" in done.stderr


def test_without_emulation_the_instances_own_tokens_get_no_certificate(
    no_emulation: Instance, tmp_path: Path
) -> None:
    """A token of the instance's own issuer (minted with its key: emulation being off, no route
    gives one out) gets no certificate from its CA, so nothing can be signed or published with
    it. (The registry's own refusal of an issuer that is not allowed, for certificates another
    trusted CA issued, is tests/unit/registry/test_provenance_gate.py.)"""
    package = make_package(tmp_path, "own-issuer", "1.0.0", f"https://github.com/{EVIL}")
    job = CIJob.github(EVIL, ref="refs/tags/v1.0.0")
    issuer_url = f"{no_emulation.url}/-/oidc"
    material = InstanceMaterial.load(DataDir(no_emulation.data))
    token = OIDCIssuer(issuer_url, material.oidc_key).mint(job.token_claims(), "sigstore")
    before = (tree_size(no_emulation), blobs(no_emulation))
    with pytest.raises(SigningError, match="is not trusted"):
        sign(no_emulation, statement_for(package, job.environment()), token)
    assert_nothing_stored(no_emulation, "own-issuer", before)


# --- the source commit exists -------------------------------------------------------------------


class SourcePublisher:
    """Signs a version built by an emulated job on ``server`` and PUTs it; remembers the log's
    size and the blobs between the two, so that a refusal can be shown to store nothing."""

    def __init__(self, instance: Instance, tmp_path: Path) -> None:
        self.instance = instance
        self.tmp_path = tmp_path
        self.before = (0, list[str]())

    def __call__(self, name: str, server: str, repository: str, sha: str) -> httpx.Response:
        instance = self.instance
        package = make_package(self.tmp_path, name, "1.0.0", f"{server}/{repository}")
        env = job_env(
            instance,
            "github",
            f"repository={repository}",
            "ref=refs/heads/main",
            f"sha={sha}",
            server_url=server,
        )
        bundle = sign(instance, statement_for(package, env), fetch_token(env))
        self.before = (tree_size(instance), blobs(instance))
        return put(instance, package, bundle)

    def assert_nothing_stored(self, name: str) -> None:
        assert_nothing_stored(self.instance, name, self.before)


def test_the_certificate_names_the_emulated_job_s_forge(
    instance: Instance, git: GitServer, tmp_path: Path
) -> None:
    repository = git.create_repository("acme/forge-url")
    response = SourcePublisher(instance, tmp_path)(
        "forge-url", git.url, "acme/forge-url", repository.head
    )
    assert response.status_code in (200, 201), response.text
    facts = verified(instance, "forge-url", "1.0.0")["facts"]
    assert facts["source_repository_uri"] == repository.url
    assert facts["signer_identity"].startswith(f"{git.url}/acme/forge-url/.github/workflows/")


def test_source_check_require(require_instance: Instance, git: GitServer, tmp_path: Path) -> None:
    instance = require_instance
    publish = SourcePublisher(instance, tmp_path)
    repository = git.create_repository("acme/required")
    # The commit exists (not a branch tip): published, the check recorded with its time.
    response = publish("source-ok", git.url, "acme/required", repository.commits[0])
    assert response.status_code in (200, 201), response.text
    source = verified(instance, "source-ok", "1.0.0")["source"]
    assert source["status"] == "exists"
    assert source["commit"] == repository.commits[0]
    assert source["repository"] == repository.url
    assert source["checked_at"]

    # A made-up commit: refused, nothing stored.
    response = publish("source-made-up", git.url, "acme/required", secrets.token_hex(20))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith(PREFIX), error
    assert "cannot be found" in error, error
    publish.assert_nothing_stored("source-made-up")

    # The forge is down: a retryable 503, never a silent pass.
    response = publish("source-down", free_port_url(), "acme/required", repository.head)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert "could not be reached" in response.json()["error"]
    assert "try again later" in response.json()["error"]
    publish.assert_nothing_stored("source-down")

    # A forge answering 503 is as unreachable.
    git.outage = 503
    try:
        response = publish("source-outage", git.url, "acme/required", repository.head)
    finally:
        git.outage = None
    assert response.status_code == 503, response.text
    publish.assert_nothing_stored("source-outage")


def test_source_check_warn(warn_instance: Instance, git: GitServer, tmp_path: Path) -> None:
    instance = warn_instance
    publish = SourcePublisher(instance, tmp_path)
    repository = git.create_repository("acme/warned")
    response = publish("warn-ok", git.url, "acme/warned", repository.head)
    assert response.status_code in (200, 201), response.text
    assert verified(instance, "warn-ok", "1.0.0")["source"]["status"] == "exists"

    made_up = secrets.token_hex(20)
    response = publish("warn-made-up", git.url, "acme/warned", made_up)
    assert response.status_code in (200, 201), response.text
    source = verified(instance, "warn-made-up", "1.0.0")["source"]
    assert source["status"] == "missing"  # published, and flagged as such
    assert source["commit"] == made_up

    response = publish("warn-down", free_port_url(), "acme/warned", repository.head)
    assert response.status_code in (200, 201), response.text
    assert verified(instance, "warn-down", "1.0.0")["source"]["status"] == "unreachable"


def test_source_check_off_records_nothing(
    instance: Instance, git: GitServer, tmp_path: Path
) -> None:
    publish = SourcePublisher(instance, tmp_path)
    response = publish("off-made-up", git.url, "acme/forge-url", secrets.token_hex(20))
    assert response.status_code in (200, 201), response.text
    assert verified(instance, "off-made-up", "1.0.0")["source"] is None


# --- the publish attestation is logged only for the winner ---------------------------------------


@pytest.fixture
def quiet_instance(tmp_path: Path) -> Iterator[Instance]:
    """An instance of its own: nothing else writes to its log while a test counts entries."""
    yield from _instance(tmp_path / "quiet")


def test_a_losing_concurrent_publish_logs_no_publish_attestation(
    quiet_instance: Instance, tmp_path: Path
) -> None:
    instance = quiet_instance
    package = make_package(tmp_path, "raced", "1.0.0", f"https://github.com/{EVIL}")
    env = job_env(instance, "github", f"repository={EVIL}", "ref=refs/tags/v1.0.0")
    bundle = sign(instance, statement_for(package, env), fetch_token(env))
    before = tree_size(instance)
    contenders = 6
    barrier = threading.Barrier(contenders)
    responses: list[httpx.Response] = []

    def publish() -> None:
        mine = copy.deepcopy(bundle)
        barrier.wait()
        responses.append(put(instance, package, mine))

    threads = [threading.Thread(target=publish) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    statuses = sorted(r.status_code for r in responses)
    assert len(statuses) == contenders
    winners = [s for s in statuses if s in (200, 201)]
    assert len(winners) == 1, [r.text for r in responses]
    assert all(s in (403, 409) for s in statuses if s not in (200, 201)), statuses
    # Exactly one new log entry: the winner's publish attestation.
    assert tree_size(instance) == before + 1
    attestations = httpx.get(f"{instance.url}/-/npm/v1/attestations/raced@1.0.0").json()
    kinds = [a["predicateType"] for a in attestations["attestations"]]
    assert kinds == [PUBLISH_PREDICATE_TYPE, "https://slsa.dev/provenance/v1"]
