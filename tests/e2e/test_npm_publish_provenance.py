"""The stock `npm publish --provenance` signs against the instance's own Sigstore.

npm's bundled sigstore-js signs against https://fulcio.sigstore.dev and
https://rekor.sigstore.dev with no setting to change them. `assay trust npm-proxy` answers
those two hosts (and the TUF mirror) from the instance: with its environment (``https_proxy``,
``no_proxy``, ``NODE_EXTRA_CA_CERTS``), an emulated GitHub Actions or GitLab CI job runs the
unmodified `npm publish --provenance --access public`; the registry verifies the bundle against
the instance's trusted root and accepts the version; and the unmodified `npm audit signatures`,
trusting the instance through `assay trust npm-cache` and the same proxy, reports the registry
signature and the attestation verified.

Nothing reaches the real network: the proxy refuses every CONNECT but its three hosts (asserted
from its log), the registry and the job's token endpoint are on 127.0.0.1 (``no_proxy``), and
npm runs with ``--fetch-retries=0``.

How the job authenticates to the registry is :func:`maintainer_token`, one small function: the
token-less variant (trusted publishing) swaps it for one that registers a trusted publisher.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.assay_up import Instance, free_port
from tests.e2e.test_npm_audit_signatures import audit, exports, npm_proxy
from tests.e2e.test_npm_registry import Npm
from tests.e2e.test_npm_trust import npm_user
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job

pytestmark = [pytest.mark.npm]

HOSTS = ("tuf-repo-cdn.sigstore.dev", "fulcio.sigstore.dev", "rekor.sigstore.dev")


@dataclass(frozen=True)
class Proxy:
    env: dict[str, str]
    port: int
    log: Path

    def requests(self) -> list[str]:
        """What the proxy was asked, in order (its ``npm trust proxy: …`` log lines)."""
        prefix = "npm trust proxy: "
        lines = self.log.read_text().splitlines()
        return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


@pytest.fixture(scope="module")
def proxy(instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """`assay trust npm-proxy` for the instance, as a real process."""
    port, log = free_port(), tmp_path_factory.mktemp("npm-proxy") / "npm-proxy.log"
    with npm_proxy(instance.data, port, log) as env:
        yield Proxy(env, port, log)


# --- how the job authenticates to the registry ---------------------------------------------------

Auth = Callable[[Instance, Path, str], None]


def maintainer_token(instance: Instance, home: Path, package: str) -> None:
    """A long-lived maintainer token in the job's ``.npmrc`` (``NODE_AUTH_TOKEN`` as
    setup-node writes it). The trusted-publishing variant writes only ``registry=`` and
    registers a trusted publisher for ``package`` instead."""
    token = (instance.data / "admin.token").read_text().strip()
    host = instance.url.split("://", 1)[1]
    (home / ".npmrc").write_text(f"registry={instance.url}/\n//{host}/:_authToken={token}\n")


# --- the job -------------------------------------------------------------------------------------


def make_package(root: Path, name: str, version: str, repository: str) -> Path:
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "license": "MIT", "repository": repository}
    (folder / "package.json").write_text(json.dumps(manifest))
    (folder / "index.js").write_text(f"module.exports = {version!r};\n")
    return folder


def npm_publish(
    job: dict[str, str], proxy: Proxy, folder: Path, home: Path
) -> subprocess.CompletedProcess[str]:
    """The stock client, as the job's last step runs it, with the proxy's environment."""
    env = {
        **job_env(job, home),
        **proxy.env,
        "NO_COLOR": "1",
        "npm_config_cache": str(home / "cache"),
        "npm_config_update_notifier": "false",
    }
    return subprocess.run(
        ["npm", "publish", "--provenance", "--access", "public", "--fetch-retries=0"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def published(
    instance: Instance, proxy: Proxy, job: dict[str, str], name: str, repository: str,
    *, workdir: Path, auth: Auth = maintainer_token,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    home = workdir / "home"
    home.mkdir(parents=True)
    auth(instance, home, name)
    folder = make_package(workdir, name, "1.0.0", repository)
    done = npm_publish(job, proxy, folder, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"+ {name}@1.0.0" in done.stdout
    return done


def attestation(instance: Instance, name: str, predicate_type: str) -> dict[str, Any]:
    """The version's provenance attestation as the registry serves it; checks the packument."""
    dist = httpx.get(f"{instance.url}/{name}").json()["versions"]["1.0.0"]["dist"]
    assert dist["attestations"]["url"] == f"{instance.url}/-/npm/v1/attestations/{name}@1.0.0"
    assert dist["attestations"]["provenance"]["predicateType"] == predicate_type
    assert len(dist["signatures"]) == 1
    attestations = httpx.get(dist["attestations"]["url"]).json()["attestations"]
    (provenance,) = (a for a in attestations if a["predicateType"] == predicate_type)
    bundle: dict[str, Any] = provenance["bundle"]
    return bundle


def check_signed_by_the_instance(instance: Instance, proxy: Proxy, bundle: dict[str, Any]) -> None:
    """The bundle's certificate is the instance CA's, its entry is in the instance's log, and
    the proxy's own CA (which only terminated TLS) is nowhere in it."""
    root = httpx.get(f"{instance.url}/-/trust/trusted_root.json").json()
    (ca,) = root["certificateAuthorities"]
    intermediate = x509.load_der_x509_certificate(
        base64.b64decode(ca["certChain"]["certificates"][0]["rawBytes"])
    )
    leaf = x509.load_der_x509_certificate(
        base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    )
    assert leaf.issuer == intermediate.subject
    leaf.verify_directly_issued_by(intermediate)
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    assert entry["logId"]["keyId"] == root["tlogs"][0]["logId"]["keyId"]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith(
        instance.url.split("://", 1)[1]
    )
    proxy_ca = x509.load_pem_x509_certificate(Path(proxy.env["NODE_EXTRA_CA_CERTS"]).read_bytes())
    assert base64.b64encode(
        proxy_ca.public_bytes(serialization.Encoding.DER)
    ).decode() not in json.dumps(bundle)


def audit_reports_verified(instance: Instance, proxy: Proxy, name: str, workdir: Path) -> None:
    """A consumer installs the version; the stock `npm audit signatures`, trusting the
    instance (`assay trust npm-cache` + the proxy), verifies its signature and attestation."""
    consumer = Npm(f"{instance.url}/", workdir / "consumer")
    project = workdir / "project"
    project.mkdir()
    (project / "package.json").write_text('{"name": "project", "version": "1.0.0"}')
    consumer.run("install", "--no-audit", name, cwd=project)
    seeded = assay("trust", "npm-cache", "--cache", consumer.env["npm_config_cache"],
                   "--data", str(instance.data), "--proxy-port", str(proxy.port),
                   env=job_env({}, workdir / "trust"))  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    assert exports(seeded.stdout) == proxy.env
    result = audit(consumer, project, proxy.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(
        r"audited 1 package in \ds\n\n"
        r"1 package has a verified registry signature\n\n"
        r"1 package has a verified attestation\n"
        r"\(use --json --include-attestations to view attestation details\)\n\n?",
        result.stdout,
    ), result.stdout


def host_of(request: str) -> str | None:
    """The host a proxy log line is about: ``CONNECT host:443 …`` or ``GET https://host/… …``."""
    target = request.split(" ")[1]
    return urlsplit(target).hostname if "://" in target else target.rpartition(":")[0]


def signing_requests(proxy: Proxy, since: int) -> list[str]:
    return [r for r in proxy.requests()[since:] if host_of(r) != HOSTS[0]]


# --- the tests -----------------------------------------------------------------------------------


def test_github_job_publishes_with_provenance_through_the_proxy(
    instance: Instance, proxy: Proxy, tmp_path: Path
) -> None:
    name, repository = "stock-provenance-github", "acme/stock-provenance"
    job = ci_job(instance, "github", f"repository={repository}", "ref=refs/tags/v1.0.0")
    before = len(proxy.requests())
    done = published(instance, proxy, job, name, f"git+https://github.com/{repository}.git",
                     workdir=tmp_path)  # fmt: skip
    # npm's notices name GitHub Actions, and (hard-coded in libnpmpublish) the public-good
    # search UI for the log index: on a self-hosted instance that link is not ours.
    assert "Signed provenance statement with source and build information from GitHub Actions" in (
        done.stderr
    )
    assert "Provenance statement published to transparency log: " in done.stderr

    # sigstore-js asked Fulcio for a certificate and Rekor for an entry, through the proxy,
    # and the proxy forwarded both to the instance; nothing else was asked or let through.
    assert signing_requests(proxy, before) == [
        "CONNECT fulcio.sigstore.dev:443 200",
        "POST https://fulcio.sigstore.dev/api/v2/signingCert 200",
        "CONNECT rekor.sigstore.dev:443 200",
        "POST https://rekor.sigstore.dev/api/v1/log/entries 201",
    ]
    bundle = attestation(instance, name, "https://slsa.dev/provenance/v1")
    check_signed_by_the_instance(instance, proxy, bundle)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["subject"][0]["name"] == f"pkg:npm/{name}@1.0.0"
    workflow = statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
    assert workflow["repository"] == f"https://github.com/{repository}"
    assert workflow["ref"] == "refs/tags/v1.0.0"

    audit_reports_verified(instance, proxy, name, tmp_path / "audit")
    assert {host_of(r) for r in proxy.requests()} <= set(HOSTS), proxy.requests()


def test_gitlab_job_publishes_with_provenance_through_the_proxy(
    instance: Instance, proxy: Proxy, tmp_path: Path
) -> None:
    """On GitLab, npm takes the Sigstore token from ``SIGSTORE_ID_TOKEN`` (an ``id_tokens``
    entry with ``aud: sigstore``) and signs an SLSA v0.2 statement."""
    name, project = "stock-provenance-gitlab", "team/stock-provenance"
    job = ci_job(instance, "gitlab", f"project_path={project}")
    before = len(proxy.requests())
    done = published(instance, proxy, job, name, f"https://gitlab.com/{project}", workdir=tmp_path)
    assert "from GitLab CI" in done.stderr
    assert signing_requests(proxy, before)[1::2] == [
        "POST https://fulcio.sigstore.dev/api/v2/signingCert 200",
        "POST https://rekor.sigstore.dev/api/v1/log/entries 201",
    ]
    bundle = attestation(instance, name, "https://slsa.dev/provenance/v0.2")
    check_signed_by_the_instance(instance, proxy, bundle)
    audit_reports_verified(instance, proxy, name, tmp_path / "audit")


def test_without_the_proxys_ca_npm_refuses_the_tunnel_and_nothing_is_published(
    instance: Instance, proxy: Proxy, tmp_path: Path
) -> None:
    """The proxy's answers count only for a client told to trust its CA: without
    ``NODE_EXTRA_CA_CERTS`` sigstore-js refuses the certificate presented for Fulcio."""
    name, repository = "stock-provenance-untrusted", "acme/stock-provenance"
    job = ci_job(instance, "github", f"repository={repository}", "ref=refs/tags/v1.0.0")
    home = tmp_path / "home"
    home.mkdir()
    maintainer_token(instance, home, name)
    folder = make_package(tmp_path, name, "1.0.0", f"git+https://github.com/{repository}.git")
    untrusting = Proxy({**proxy.env, "NODE_EXTRA_CA_CERTS": ""}, proxy.port, proxy.log)
    done = npm_publish(job, untrusting, folder, home)
    assert done.returncode != 0
    assert "CA_CREATE_SIGNING_CERTIFICATE_ERROR" in done.stderr, done.stderr
    assert "unable to verify the first certificate" in done.stderr, done.stderr
    assert httpx.get(f"{instance.url}/{name}").status_code == 404


FIRST_PUBLISH = {
    # provider: (npm trust flags, (job claims, job ID tokens), repository URL, statement type)
    "github": (
        ("github", "--file", "release.yml", "--repository", "{repo}"),
        (("repository={repo}", "ref=refs/tags/v1.0.0"), ()),
        "git+https://github.com/{repo}.git",
        "https://slsa.dev/provenance/v1",
    ),
    "gitlab": (
        ("gitlab", "--file", ".gitlab-ci.yml", "--project", "{repo}"),
        # GitLab hands the job its tokens up front (`id_tokens:`): one for the exchange, one
        # for Sigstore.
        (("project_path={repo}",), ("NPM_ID_TOKEN=npm:127.0.0.1", "SIGSTORE_ID_TOKEN=sigstore")),
        "https://gitlab.com/{repo}",
        "https://slsa.dev/provenance/v0.2",
    ),
}  # fmt: skip


@pytest.mark.parametrize("provider", sorted(FIRST_PUBLISH))
def test_a_first_publish_with_trusted_publishing_and_provenance_needs_no_token(
    instance: Instance, proxy: Proxy, tmp_path: Path, provider: str
) -> None:
    """The whole flow with nothing but the stock npm 11 client: a user registers a (pending)
    trusted publisher for a new name with `npm trust`; the emulated CI job, with no token
    anywhere, runs `npm publish --provenance`: npm exchanges the job's OIDC token for a token
    that may publish that one package, signs provenance against the instance's CA and log
    through the proxy, and the registry verifies it, binds it to the exchanged identity and
    records the trusted publisher. A consumer's stock `npm audit signatures` verifies both."""
    trust, job_args, repository_url, predicate_type = FIRST_PUBLISH[provider]
    suffix = secrets.token_hex(3)
    name, repository = f"tp-provenance-{provider}-{suffix}", f"acme-{suffix}/tp-provenance"
    owner = npm_user(instance, tmp_path, f"owner-{suffix}")
    owner.run("trust", *(arg.format(repo=repository) for arg in trust), name,
              "--allow-publish", "--yes")  # fmt: skip

    claims, id_tokens = job_args
    job = ci_job(instance, provider, *(c.format(repo=repository) for c in claims),
                 id_tokens=id_tokens)  # fmt: skip
    home = tmp_path / "job-home"
    home.mkdir()
    (home / ".npmrc").write_text(f"registry={instance.url}/\n")  # no token
    folder = make_package(tmp_path, name, "1.0.0", repository_url.format(repo=repository))
    done = npm_publish(job, proxy, folder, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"+ {name}@1.0.0" in done.stdout
    assert "_authToken" not in (home / ".npmrc").read_text()

    packument = httpx.get(f"{instance.url}/{name}").json()
    assert packument["versions"]["1.0.0"]["_npmUser"]["trustedPublisher"]["id"] == provider
    # The pending publisher's registrant is the new package's maintainer.
    assert [m["name"] for m in packument["maintainers"]] == [f"owner-{suffix}"]
    # The version's page says how it came, from the identity verified at the exchange.
    page = httpx.get(f"{instance.url}/-/web/package/{name}").text
    assert "Published by trusted publishing from" in page
    assert repository in page
    bundle = attestation(instance, name, predicate_type)
    check_signed_by_the_instance(instance, proxy, bundle)
    audit_reports_verified(instance, proxy, name, tmp_path / "audit")
