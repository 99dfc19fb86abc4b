"""Publishing with provenance, end to end against `assay up`: from an emulated CI job to a
version whose attestation the reference clients verify — and every spoofing attempt refused
with npm's 422, leaving nothing behind."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.provenance.ci import build_provenance
from assay.provenance.publish import PUBLISH_PREDICATE_TYPE
from assay.provenance.statement import Subject
from assay.publish.body import Package, load_package, publish_body
from assay.sign.config import SigningConfig
from assay.sign.signer import sign_statement
from tests.assay_up import Instance, running_instance
from tests.interop.test_sign import assay, both_verify, job_env
from tests.interop.test_sigstore_clients import ci_job, fetch_token

GITHUB_REPO = "acme/widget"
SAN = f"https://github.com/{GITHUB_REPO}/.github/workflows/release.yml@refs/tags/v1.0.0"


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


@pytest.fixture(scope="module")
def trusted_root(instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trust") / "trusted_root.json"
    path.write_bytes(httpx.get(f"{instance.url}/-/trust/trusted_root.json").content)
    return path


def admin_home(instance: Instance, home: Path) -> Path:
    token = (instance.data / "admin.token").read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    host = instance.url.split("://", 1)[1]
    (home / ".npmrc").write_text(f"registry={instance.url}/\n//{host}/:_authToken={token}\n")
    return home


def make_package(root: Path, name: str, version: str, repository: str) -> Path:
    folder = root / f"{name.replace('/', '_')}-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "repository": repository}
    (folder / "package.json").write_text(json.dumps(manifest))
    (folder / "index.js").write_text(f"module.exports = {version!r};\n")
    return folder


def test_github_job_publishes_a_version_both_clients_verify(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    home = admin_home(instance, tmp_path / "home")
    job = ci_job(instance, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
    package = make_package(tmp_path, "widget", "1.0.0", f"git+https://github.com/{GITHUB_REPO}.git")
    done = assay("publish", str(package), "--provenance", "--access", "public",
                 env=job_env(job, home))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "+ widget@1.0.0"

    served = httpx.get(f"{instance.url}/widget").json()["versions"]["1.0.0"]
    dist = served["dist"]
    verified = dist["attestations"]["provenance"].pop("verified")  # Assay's key, beside npm's
    assert verified["facts"]["ci"] == "emulated CI of this instance"
    # npm's gitHead is the certificate's commit, not whatever the body claimed.
    assert served["gitHead"] == verified["facts"]["source_repository_digest"]
    assert dist["attestations"] == {
        "url": f"{instance.url}/-/npm/v1/attestations/widget@1.0.0",
        "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
    }
    assert len(dist["signatures"]) == 1
    response = httpx.get(dist["attestations"]["url"])
    assert response.status_code == 200
    publish, attestation = response.json()["attestations"]
    # npmjs.org's order: the registry's publish attestation, then the provenance.
    assert publish["predicateType"] == PUBLISH_PREDICATE_TYPE
    assert publish["bundle"]["verificationMaterial"]["publicKey"] == {
        "hint": dist["signatures"][0]["keyid"]
    }
    assert attestation["predicateType"] == "https://slsa.dev/provenance/v1"
    bundle = tmp_path / "provenance.sigstore.json"
    bundle.write_text(json.dumps(attestation["bundle"]))
    statement = both_verify(trusted_root, bundle, SAN, f"{instance.url}/-/oidc")
    assert statement["subject"][0]["name"] == "pkg:npm/widget@1.0.0"
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"] == {
        "ref": "refs/tags/v1.0.0",
        "repository": f"https://github.com/{GITHUB_REPO}",
        "path": ".github/workflows/release.yml",
    }
    # And our own verifier, as a consumer runs it.
    saved = tmp_path / "attestations.json"
    saved.write_text(response.text)
    keys = tmp_path / "keys.json"
    keys.write_text(httpx.get(f"{instance.url}/-/npm/v1/keys").text)
    verified = assay("verify", "attestations", "--package", "widget@1.0.0",
                     "--integrity", dist["integrity"], "--trusted-root", str(trusted_root),
                     "--registry-keys", str(keys), str(saved), env=job_env({}, home))  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert PUBLISH_PREDICATE_TYPE in verified.stdout


def test_gitlab_job_publishes_with_provenance(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    home = admin_home(instance, tmp_path / "home")
    job = ci_job(instance, "gitlab", "project_path=team/gadget")
    package = make_package(tmp_path, "gadget", "0.1.0", "https://gitlab.com/team/gadget")
    done = assay("publish", str(package), "--provenance", "--access", "public",
                 env=job_env(job, home))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "from GitLab CI" in done.stderr
    url = f"{instance.url}/-/npm/v1/attestations/gadget@0.1.0"
    _, attestation = httpx.get(url).json()["attestations"]
    assert attestation["predicateType"] == "https://slsa.dev/provenance/v0.2"


def test_version_without_provenance_is_still_signed(instance: Instance, tmp_path: Path) -> None:
    home = admin_home(instance, tmp_path / "home")
    package = make_package(tmp_path, "plain-signed", "1.0.0", "acme/plain")
    assert assay("publish", str(package), env=job_env({}, home)).returncode == 0
    dist = httpx.get(f"{instance.url}/plain-signed").json()["versions"]["1.0.0"]["dist"]
    assert dist["signatures"][0]["keyid"].startswith("SHA256:")
    assert "attestations" not in dist
    assert httpx.get(f"{instance.url}/-/npm/v1/attestations/plain-signed@1.0.0").status_code == 404


# --- spoofing: every variant is a 422 in npm's words, and nothing is stored ------------------


def _signed(
    instance: Instance, package: Package, job: dict[str, str], rekor_version: int = 1
) -> dict[str, Any]:
    """The provenance bundle a CI job would make for ``package`` (as dict)."""
    subject = Subject(package.purl, {"sha512": package.sha512.hex})
    statement = build_provenance(job, subject)
    config = SigningConfig.fetch(instance.url)
    bundle = sign_statement(statement, fetch_token(job), config, rekor_version=rekor_version)
    return bundle.to_dict()


def _put(instance: Instance, package: Package, bundle: dict[str, Any]) -> httpx.Response:
    body = publish_body(package, f"{instance.url}/", access="public")
    key = f"{package.name}-{package.version}.sigstore"
    body["_attachments"][key] = {
        "content_type": bundle["mediaType"],
        "data": json.dumps(bundle),
        "length": len(json.dumps(bundle)),
    }
    token = (instance.data / "admin.token").read_text().strip()
    return httpx.put(
        f"{instance.url}/{package.name.replace('/', '%2f')}",
        json=body,
        headers={"authorization": f"Bearer {token}"},
    )


def _tamper_payload(bundle: dict[str, Any]) -> None:
    import base64

    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["ref"] = "x"
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()


def _alter_entry(bundle: dict[str, Any]) -> None:
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) - 3600)


def _drop_entries(bundle: dict[str, Any]) -> None:
    bundle["verificationMaterial"]["tlogEntries"] = []


SPOOFS: dict[str, tuple[str, Callable[[dict[str, Any]], None] | None, str]] = {
    # name: (package.json repository, change to the bundle, what the refusal must say)
    "repository mismatch": ("https://github.com/someone/else", None, "built from repository"),
    "altered envelope": (GITHUB_REPO, _tamper_payload, "step 19 (signature)"),
    "altered log entry": (GITHUB_REPO, _alter_entry, "step 17 (inclusion promise)"),
    "no log entry": (GITHUB_REPO, _drop_entries, "expected exactly one transparency log entry"),
}


def _flip_timestamp(bundle: dict[str, Any]) -> None:
    import base64

    stamps = bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    token = bytearray(base64.b64decode(stamps[0]["signedTimestamp"]))
    token[-10] ^= 1  # inside the TSA's signature
    stamps[0]["signedTimestamp"] = base64.b64encode(bytes(token)).decode()


def _alter_checkpoint(bundle: dict[str, Any]) -> None:
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    envelope = proof["checkpoint"]["envelope"]
    size = envelope.split("\n")[1]
    proof["checkpoint"]["envelope"] = envelope.replace(f"\n{size}\n", f"\n{int(size) + 1}\n", 1)


def _alter_inclusion_proof(bundle: dict[str, Any]) -> None:
    import base64

    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["rootHash"] = base64.b64encode(bytes(32)).decode()


def test_a_rekor_v2_bundle_with_a_timestamp_is_accepted(
    instance: Instance, trusted_root: Path, tmp_path: Path
) -> None:
    """Provenance logged through the Rekor v2 API and timestamped by the instance's TSA
    (`--rekor-version 2`): the registry verifies and accepts it like a v1 bundle."""
    home = admin_home(instance, tmp_path / "home")
    job = ci_job(instance, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
    package = make_package(
        tmp_path, "widget-v2", "1.0.0", f"git+https://github.com/{GITHUB_REPO}.git"
    )
    done = assay("publish", str(package), "--provenance", "--rekor-version", "2",
                 "--access", "public", env=job_env(job, home))  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = f"{instance.url}/-/npm/v1/attestations/widget-v2@1.0.0"
    _, attestation = httpx.get(url).json()["attestations"]
    material = attestation["bundle"]["verificationMaterial"]
    entry = material["tlogEntries"][0]
    assert entry["kindVersion"]["version"] == "0.0.2"
    assert entry.get("integratedTime", "0") == "0"
    assert "inclusionPromise" not in entry
    assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    # A consumer's `assay verify` accepts it, and its time is the TSA's (v2 has no log time).
    saved = tmp_path / "attestations.json"
    saved.write_text(httpx.get(url).text)
    keys = tmp_path / "keys.json"
    keys.write_text(httpx.get(f"{instance.url}/-/npm/v1/keys").text)
    integrity = httpx.get(f"{instance.url}/widget-v2").json()["versions"]["1.0.0"]["dist"]
    verified = assay("verify", "attestations", "--package", "widget-v2@1.0.0",
                     "--integrity", integrity["integrity"], "--trusted-root", str(trusted_root),
                     "--registry-keys", str(keys), str(saved), env=job_env({}, home))  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert ", timestamped " in verified.stdout


V2_SPOOFS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "altered timestamp": (_flip_timestamp, "timestamp"),
    "altered checkpoint": (_alter_checkpoint, "checkpoint"),
    "altered inclusion proof": (_alter_inclusion_proof, "inclusion"),
}


@pytest.mark.parametrize("case", sorted(V2_SPOOFS))
def test_a_tampered_rekor_v2_bundle_is_refused(
    instance: Instance, tmp_path: Path, case: str
) -> None:
    change, reason = V2_SPOOFS[case]
    name = "spoof-v2-" + case.replace(" ", "-")
    package = load_package(make_package(tmp_path, name, "1.0.0", GITHUB_REPO))
    job = ci_job(instance, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
    bundle = _signed(instance, package, job, rekor_version=2)
    change(bundle)
    response = _put(instance, package, bundle)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("Error verifying sigstore provenance bundle: ")
    assert reason in error.lower(), error
    assert httpx.get(f"{instance.url}/{name}").status_code == 404


@pytest.mark.parametrize("case", sorted(SPOOFS))
def test_spoofed_provenance_is_refused_and_nothing_stored(
    instance: Instance, tmp_path: Path, case: str
) -> None:
    repository, change, reason = SPOOFS[case]
    name = "spoof-" + case.replace(" ", "-")
    package = load_package(make_package(tmp_path, name, "1.0.0", repository))
    job = ci_job(instance, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
    bundle = _signed(instance, package, job)
    if change is not None:
        change(bundle)
    before = httpx.get(f"{instance.url}/-/tlog/api/v1/log").json()["treeSize"]
    blobs = sorted(p.name for p in (instance.data / "blobs").rglob("*") if p.is_file())
    response = _put(instance, package, bundle)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("Error verifying sigstore provenance bundle: ")
    assert reason in error, error
    assert httpx.get(f"{instance.url}/{name}").status_code == 404
    assert httpx.get(f"{instance.url}/-/tlog/api/v1/log").json()["treeSize"] == before
    assert sorted(p.name for p in (instance.data / "blobs").rglob("*") if p.is_file()) == blobs


def test_a_bundle_replayed_for_another_version_is_refused(
    instance: Instance, tmp_path: Path
) -> None:
    job = ci_job(instance, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
    first = load_package(make_package(tmp_path, "replayed", "1.0.0", GITHUB_REPO))
    bundle = _signed(instance, first, job)
    assert _put(instance, first, copy.deepcopy(bundle)).status_code in (200, 201)
    second = load_package(make_package(tmp_path, "replayed", "1.0.1", GITHUB_REPO))
    response = _put(instance, second, bundle)
    assert response.status_code == 422
    assert "pkg:npm/replayed@1.0.0" in response.json()["error"]
    other = load_package(make_package(tmp_path, "other-name", "1.0.0", GITHUB_REPO))
    assert _put(instance, other, bundle).status_code == 422
    assert "1.0.1" not in httpx.get(f"{instance.url}/replayed").json()["versions"]


def test_a_certificate_from_an_untrusted_ca_is_refused(instance: Instance, tmp_path: Path) -> None:
    package = load_package(make_package(tmp_path, "foreign-ca", "1.0.0", GITHUB_REPO))
    with running_instance(tmp_path / "foreign") as foreign:
        job = ci_job(foreign, "github", f"repository={GITHUB_REPO}", "ref=refs/tags/v1.0.0")
        subject = Subject(package.purl, {"sha512": package.sha512.hex})
        statement = build_provenance(job, subject)
        # Wholly foreign: the other instance's CA and log.
        elsewhere = sign_statement(statement, fetch_token(job), SigningConfig.fetch(foreign.url))
        # The other instance's certificate, entered in OUR log (which checks signatures, not
        # identities): only the certificate chain can catch it.
        mixed_config = SigningConfig(ca_url=foreign.url, tlog_url=f"{instance.url}/-/tlog")
        mixed = sign_statement(statement, fetch_token(job), mixed_config)
    response = _put(instance, package, elsewhere.to_dict())
    assert response.status_code == 422
    assert "from a log this registry does not trust" in response.json()["error"]
    response = _put(instance, package, mixed.to_dict())
    assert response.status_code == 422
    assert "step 11 (certificate chain)" in response.json()["error"], response.json()
    assert httpx.get(f"{instance.url}/foreign-ca").status_code == 404
