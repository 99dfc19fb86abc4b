"""Our signing client against `assay up`, judged by the reference verifiers.

`assay.sign` signs npm provenance statements with the instance's CA and log; sigstore-python
(`Verifier.verify_dsse`, which takes any statement, unlike `verify identity` whose artifact must
be a sha256 subject) and sigstore-js verify the bundles with the identity of the CI job. The
same runs through `assay provenance` in emulated GitHub Actions and GitLab CI jobs, and the
refusals outside CI carry npm's words. When the registry is up, `assay publish --provenance`
from a GitHub job reaches it end to end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sigstore.models import Bundle as PyBundle
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from starlette.types import Receive, Scope, Send

from assay.cli.main import main
from assay.provenance.bundle import Bundle
from assay.provenance.ci import build_provenance
from assay.provenance.statement import Statement, Subject
from assay.provenance.subject import npm_purl
from assay.publish.pack import pack_directory
from assay.sign.config import SigningConfig
from assay.sign.errors import SigningError, TokenError
from assay.sign.signer import sign_statement
from tests.assay_up import Instance
from tests.interop.test_sigstore_clients import GITHUB_SAN, ci_job, fetch_token, js_verify
from tests.servers import serve_app

PACKAGES = Path(__file__).parents[1] / "fixtures" / "packages"


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


@pytest.fixture(scope="module")
def trusted_root(instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trust") / "trusted_root.json"
    path.write_bytes(httpx.get(f"{instance.url}/-/trust/trusted_root.json").content)
    return path


def issuer(instance: Instance) -> str:
    return f"{instance.url}/-/oidc"


def py_verify_dsse(trusted_root: Path, bundle_json: str, san: str, oidc_issuer: str) -> bytes:
    """sigstore-python's verdict; returns the verified payload or raises."""
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(trusted_root)))
    payload_type, payload = verifier.verify_dsse(
        PyBundle.from_json(bundle_json), Identity(identity=san, issuer=oidc_issuer)
    )
    assert payload_type == "application/vnd.in-toto+json"
    return payload


def both_verify(trusted_root: Path, bundle: Path, san: str, oidc_issuer: str) -> dict[str, Any]:
    """Both reference clients accept ``bundle`` for ``san``; the statement it signs."""
    payload = py_verify_dsse(trusted_root, bundle.read_text(), san, oidc_issuer)
    result = js_verify(trusted_root, bundle, "-", san, oidc_issuer)
    assert result == {"ok": True, "san": san, "issuer": oidc_issuer}, result
    statement: dict[str, Any] = json.loads(payload)
    return statement


def job_env(job: dict[str, str], home: Path) -> dict[str, str]:
    """The process environment of a CI job: ours minus any real CI variables, plus the job's."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ACTIONS_", "GITLAB_", "CI_", "SIGSTORE_", "npm_config_"))
        and k not in ("CI", "RUNNER_ENVIRONMENT")
    }
    home.mkdir(parents=True, exist_ok=True)
    return {**base, "HOME": str(home), "npm_config_userconfig": str(home / ".npmrc"), **job}


def assay(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def copy_package(name: str, target: Path) -> Path:
    # Outside the repository, so that npm's gitHead step finds no enclosing git work tree.
    return Path(shutil.copytree(PACKAGES / name, target / name))


# --- the library -------------------------------------------------------------------------------


def test_signed_statement_verifies_in_both_clients(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    env = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    subject = Subject(npm_purl("@acme/widget", "1.0.0"), {"sha512": "ab" * 64})
    statement = build_provenance(env, subject)
    config = SigningConfig.fetch(instance.url)
    bundle = sign_statement(statement, fetch_token(env), config)

    path = tmp_path / "bundle.sigstore"
    path.write_text(bundle.to_json())
    signed = both_verify(trusted_root, path, GITHUB_SAN, issuer(instance))
    assert Statement.from_dict(signed) == statement
    assert base64.b64decode(json.loads(path.read_text())["dsseEnvelope"]["payload"]) == (
        statement.to_json()
    )

    # The shape npm 11 uploads (sigstore-js bundleToJSON): keys in protobuf-specs order, an
    # empty timestampVerificationData, no keyid on the keyless signature.
    document = json.loads(path.read_text())
    assert list(document) == ["mediaType", "verificationMaterial", "dsseEnvelope"]
    assert document["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    material = document["verificationMaterial"]
    assert list(material) == ["certificate", "tlogEntries", "timestampVerificationData"]
    assert material["timestampVerificationData"] == {}
    (entry,) = material["tlogEntries"]
    assert list(entry) == [
        "logIndex",
        "logId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "canonicalizedBody",
    ]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert list(entry["inclusionProof"]) == [
        "logIndex",
        "rootHash",
        "treeSize",
        "hashes",
        "checkpoint",
    ]
    assert list(document["dsseEnvelope"]) == ["payload", "payloadType", "signatures"]
    assert document["dsseEnvelope"]["signatures"][0].keys() == {"sig"}
    # Our own parser reads it back to the same text.
    assert Bundle.from_json(path.read_text()).to_json() == path.read_text()

    # The log has the entry the bundle names.
    logged = httpx.get(
        f"{instance.url}/-/tlog/api/v1/log/entries", params={"logIndex": entry["logIndex"]}
    ).json()
    assert next(iter(logged.values()))["body"] == entry["canonicalizedBody"]


def test_refusals_are_typed_and_clear(instance: Instance) -> None:
    config = SigningConfig.fetch(instance.url)
    subject = Subject(npm_purl("widget", "1.0.0"), {"sha512": "cd" * 64})
    env = ci_job(instance, "github", "repository=acme/widget")
    statement = build_provenance(env, subject)
    with pytest.raises(TokenError, match="not a JWT"):
        sign_statement(statement, "not-a-token", config)
    with pytest.raises(TokenError, match="audience"):
        sign_statement(statement, fetch_token(env, audience="npm:registry.example"), config)
    # A token the CA cannot verify: signed by someone else.
    header, claims, _ = fetch_token(env).split(".")
    with pytest.raises(SigningError, match=r"certificate authority refused .*\(401\)"):
        sign_statement(statement, f"{header}.{claims}.AAAA", config)
    nowhere = SigningConfig(ca_url="http://127.0.0.1:9", tlog_url="http://127.0.0.1:9")
    with pytest.raises(SigningError, match="cannot reach the certificate authority"):
        sign_statement(statement, fetch_token(env), nowhere)


def test_a_log_that_records_something_else_is_refused(instance: Instance) -> None:
    """The client checks that the log's entry is the envelope it sent (payload hash, signature,
    verifier, envelope hash): here a "log" answers every request with an earlier real entry."""
    config = SigningConfig.fetch(instance.url)
    env = ci_job(instance, "github", "repository=acme/widget")
    statement = build_provenance(env, Subject(npm_purl("widget", "1.0.0"), {"sha512": "ef" * 64}))
    signed = sign_statement(statement, fetch_token(env), config)
    index = signed.tlog_entries[0].log_index  # not 0: the session's log is shared
    earlier = httpx.get(f"{config.tlog_url}/api/v1/log/entries", params={"logIndex": index}).content

    async def replay(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": earlier})

    with serve_app(replay) as fake_log:
        lying = SigningConfig(ca_url=config.ca_url, tlog_url=fake_log)
        with pytest.raises(SigningError, match="does not record the envelope we sent"):
            sign_statement(statement, fetch_token(env), lying)


# --- assay provenance ---------------------------------------------------------------------------


def test_assay_provenance_in_a_github_job(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    package = copy_package("scoped", tmp_path)
    job = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    output = tmp_path / "out.sigstore"
    done = assay(
        "provenance",
        str(package),
        "--instance",
        instance.url,
        "--output",
        str(output),
        env=job_env(job, tmp_path / "home"),
    )
    assert done.returncode == 0, done.stderr
    assert (
        "Signed provenance statement with source and build information from GitHub Actions"
        in done.stderr
    )
    assert "Provenance statement published to transparency log: " in done.stderr
    statement = both_verify(trusted_root, output, GITHUB_SAN, issuer(instance))
    tarball = pack_directory(package).tarball
    assert statement["subject"] == [
        {
            "name": "pkg:npm/%40scope/x@3.0.0-beta.1",
            "digest": {"sha512": hashlib.sha512(tarball).hexdigest()},
        }
    ]
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"] == {
        "ref": "refs/tags/v1.0.0",
        "repository": "https://github.com/acme/widget",
        "path": ".github/workflows/release.yml",
    }


def test_assay_provenance_in_a_gitlab_job(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    package = copy_package("plain", tmp_path)
    job = ci_job(instance, "gitlab", "project_path=team/widget")
    trust_config = tmp_path / "client_trust_config.json"
    trust_config.write_bytes(httpx.get(f"{instance.url}/-/trust/client_trust_config.json").content)
    done = assay(
        "provenance",
        str(package),
        "--trust-config",
        str(trust_config),
        env=job_env(job, tmp_path / "home"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "from GitLab CI" in done.stderr
    output = tmp_path / "plain-1.0.0.sigstore"
    assert done.stdout.strip() == str(output)
    san = js_verify(trusted_root, output, "-")["san"]
    assert san.startswith("https://gitlab.com/team/widget//.gitlab-ci.yml@")
    statement = both_verify(trusted_root, output, san, issuer(instance))
    assert statement["predicateType"] == "https://slsa.dev/provenance/v0.2"
    assert statement["subject"][0]["name"] == "pkg:npm/plain@1.0.0"


def test_assay_provenance_in_a_generic_oidc_ci(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    """Our documented generic mode (docs/buildtypes/oidc-ci-v1.md): a CI system npm does not
    know, which names its build through ASSAY_CI_* and hands over an OIDC token."""
    package = copy_package("plain", tmp_path)
    token = fetch_token(ci_job(instance, "github", "repository=acme/widget"))
    job = {
        "CI": "true",
        "ASSAY_CI_NAME": "Buildkite",
        "ASSAY_CI_BUILDER_ID": "https://buildkite.com/acme/agents/hosted",
        "ASSAY_CI_SOURCE_REPOSITORY": "https://github.com/acme/widget",
        "ASSAY_CI_SOURCE_COMMIT": "ab" * 20,
        "ASSAY_CI_SOURCE_REF": "refs/heads/main",
        "ASSAY_CI_BUILD_FILE": ".buildkite/pipeline.yml",
        "ASSAY_CI_INVOCATION_ID": "https://buildkite.com/acme/widget/builds/42",
        "SIGSTORE_ID_TOKEN": token,
    }
    done = assay(
        "provenance", str(package), "--instance", instance.url,
        env=job_env(job, tmp_path / "home"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    output = tmp_path / "plain-1.0.0.sigstore"
    san = js_verify(trusted_root, output, "-")["san"]
    statement = both_verify(trusted_root, output, san, issuer(instance))
    build = statement["predicate"]["buildDefinition"]
    assert build["buildType"] == "https://assay.dev/buildtypes/oidc-ci/v1"
    assert build["externalParameters"]["source"]["path"] == ".buildkite/pipeline.yml"
    assert statement["subject"][0]["name"] == "pkg:npm/plain@1.0.0"


def test_assay_provenance_refuses_as_npm_does(instance: Instance, tmp_path: Path) -> None:
    package = copy_package("plain", tmp_path)
    home = tmp_path / "home"
    args = ("provenance", str(package), "--instance", instance.url, "-o", str(tmp_path / "b"))

    outside = assay(*args, env=job_env({}, home))
    assert outside.returncode == 1
    assert (
        "error: Automatic provenance generation not supported for provider: null" in outside.stderr
    )
    assert "code: EUSAGE" in outside.stderr
    assert "Traceback" not in outside.stderr

    github = ci_job(instance, "github", "repository=acme/widget")
    del github["ACTIONS_ID_TOKEN_REQUEST_URL"]
    no_permission = assay(*args, env=job_env(github, home))
    assert no_permission.returncode == 1
    assert (
        'Provenance generation in GitHub Actions requires "write" access to the "id-token" '
        "permission" in no_permission.stderr
    )

    gitlab = ci_job(instance, "gitlab", "project_path=team/widget")
    del gitlab["SIGSTORE_ID_TOKEN"]
    no_token = assay(*args, env=job_env(gitlab, home))
    assert no_token.returncode == 1
    assert (
        'Provenance generation in GitLab CI requires "SIGSTORE_ID_TOKEN" with "sigstore" '
        'audience to be present in "id_tokens".' in no_token.stderr
    )
    assert not (tmp_path / "b").exists()


def test_assay_provenance_timing(instance: Instance, tmp_path: Path) -> None:
    """Wall time of `assay provenance` (a process each) for a small package: reported, not
    asserted (DESIGN.md: never timed assertions in tests)."""
    package = copy_package("plain", tmp_path)
    job = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    env = job_env(job, tmp_path / "home")
    times = []
    for run in range(int(os.environ.get("ASSAY_SIGN_TIMING_RUNS", "3"))):
        start = time.perf_counter()
        done = assay(
            "provenance", str(package), "--instance", instance.url, "-o", str(tmp_path / f"{run}"),
            env=env,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr
    times.sort()
    print(f"assay provenance p50 over {len(times)} runs: {times[len(times) // 2] * 1000:.0f} ms")


# --- assay publish against the registry of `assay up` -------------------------------------------


def test_assay_publish_to_assay_up(instance: Instance, tmp_path: Path) -> None:
    """Plain publish lands a version; --provenance from a GitHub job reaches the registry,
    which refuses it when package.json names no repository (tests/e2e/test_publish_provenance.py
    has the versions that land)."""
    token = (instance.data / "admin.token").read_text().strip()
    # @scope is an organisation scope: the administrator assigns it (scope policy "user").
    assert main(["scope", "grant", "@scope", "admin", "--data-dir", str(instance.data)]) == 0
    home = tmp_path / "home"
    home.mkdir()
    host = instance.url.split("://", 1)[1]
    (home / ".npmrc").write_text(f"registry={instance.url}/\n//{host}/:_authToken={token}\n")
    plain = copy_package("plain", tmp_path)
    done = assay("publish", str(plain), env=job_env({}, home))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "+ plain@1.0.0"
    packument = httpx.get(f"{instance.url}/plain").json()
    integrity = packument["versions"]["1.0.0"]["dist"]["integrity"]
    tarball = pack_directory(plain).tarball
    assert integrity == "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    again = assay("publish", str(plain), env=job_env({}, home))
    assert again.returncode == 1
    assert "You cannot publish over the previously published versions: 1.0.0." in again.stderr

    scoped = copy_package("scoped", tmp_path)
    job = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    env = job_env(job, home)
    # A new package is not public yet: npm refuses provenance without --access public.
    private = assay("publish", str(scoped), "--provenance", "--tag", "beta", env=env)
    assert private.returncode == 1
    assert (
        "Can't generate provenance for new or private package, you must set `access` to public."
        in private.stderr
    )
    done = assay(
        "publish", str(scoped), "--provenance", "--tag", "beta", "--access", "public", env=env
    )
    assert "from GitHub Actions" in done.stderr
    assert "Provenance statement published to transparency log: " in done.stderr
    # The fixture's package.json names no repository, so the registry cannot match the
    # certificate's source repository to it: npm's 422, and nothing is stored.
    assert done.returncode == 1
    assert "422 Unprocessable" in done.stderr, done.stderr
    assert "Error verifying sigstore provenance bundle" in done.stderr
    assert "package.json has no repository.url" in done.stderr
    assert "code: E422" in done.stderr
    assert httpx.get(f"{instance.url}/@scope%2fx").status_code == 404
