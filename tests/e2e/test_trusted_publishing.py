"""Trusted publishing with the stock npm 11 client: `npm publish` with no token anywhere, in an
emulated GitHub Actions job and an emulated GitLab CI job of the session's `assay up`.

npm's ``lib/utils/oidc.js`` runs before every publish when ci-info says GitHub Actions, GitLab or
CircleCI: it fetches the job's OIDC token (GitHub: ``ACTIONS_ID_TOKEN_REQUEST_URL`` with
``audience=npm:<registry host>``; GitLab: ``NPM_ID_TOKEN``), POSTs it to
``/-/npm/v1/oidc/token/exchange/package/<name>`` and publishes with the token it gets back.
The jobs here are private repositories: npm would otherwise turn provenance on by itself, and
stock-npm provenance against the instance's Sigstore is the CONNECT proxy's business.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.assay_up import Instance
from tests.interop.test_sign import job_env
from tests.interop.test_sigstore_clients import ci_job
from tests.trusted import AUDIENCE, Trusted, github_publisher, gitlab_publisher

pytestmark = [pytest.mark.npm]


@pytest.fixture
def trusted(assay_up: Instance) -> Iterator[Trusted]:
    t = Trusted(assay_up)
    try:
        yield t
    finally:
        t.close()


def npm_publish(instance: Instance, job: dict[str, str], package: Path, home: Path) -> str:
    env = job_env(job, home)
    env.update(
        {
            "npm_config_registry": f"{instance.url}/",
            "npm_config_cache": str(home / "cache"),
            "npm_config_fetch_retries": "0",
            "npm_config_update_notifier": "false",
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "NO_COLOR": "1",
        }
    )
    # No token anywhere: an empty userconfig, and none in the environment.
    assert not any(k.startswith("NODE_AUTH") or "authtoken" in k.lower() for k in env)
    (home / ".npmrc").write_text("")
    result = subprocess.run(
        ["npm", "publish", "--loglevel=verbose"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "oidc Successfully retrieved and set token" in result.stderr, result.stderr
    assert "_authToken" not in (home / ".npmrc").read_text()
    return result.stderr


def package_dir(root: Path, name: str, version: str, repository: str) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    manifest = {"name": name, "version": version, "repository": repository}
    (directory / "package.json").write_text(json.dumps(manifest))
    (directory / "index.js").write_text("module.exports = 1\n")
    return directory


def test_a_github_job_publishes_with_no_token(trusted: Trusted, tmp_path: Path) -> None:
    repository = f"acme-{secrets.token_hex(3)}/widget"
    name = f"tp-gh-{secrets.token_hex(4)}"
    _, maintainer = trusted.user(f"m{secrets.token_hex(4)}")
    assert trusted.publish(name, "1.0.0", maintainer).status_code == 201
    publisher = trusted.add_publisher(name, "github", github_publisher(repository))

    job = ci_job(
        trusted.instance,
        "github",
        f"repository={repository}",
        "ref=refs/tags/v1.1.0",
        "repository_visibility=private",
    )
    assert "NPM_ID_TOKEN" not in job  # GitHub: npm fetches it from the request URL
    package = package_dir(tmp_path, name, "1.1.0", f"https://github.com/{repository}")
    npm_publish(trusted.instance, job, package, tmp_path / "home")

    packument = trusted.packument(name)
    assert packument is not None
    assert packument["versions"]["1.1.0"]["_npmUser"] == {
        "name": "GitHub Actions",
        "email": "npm-oidc-no-reply@github.com",
        "trustedPublisher": {"id": "github", "oidcConfigId": f"oidc:{publisher.id}"},
    }
    assert packument["dist-tags"]["latest"] == "1.1.0"
    assert len(packument["maintainers"]) == 1


def test_a_gitlab_job_publishes_with_no_token(trusted: Trusted, tmp_path: Path) -> None:
    project = f"group-{secrets.token_hex(3)}/widget"
    name = f"tp-gl-{secrets.token_hex(4)}"
    _, maintainer = trusted.user(f"m{secrets.token_hex(4)}")
    assert trusted.publish(name, "1.0.0", maintainer).status_code == 201
    publisher = trusted.add_publisher(name, "gitlab", gitlab_publisher(project))

    # GitLab hands the job its ID token up front (`id_tokens: NPM_ID_TOKEN: aud: npm:<host>`).
    job = ci_job(
        trusted.instance,
        "gitlab",
        f"project_path={project}",
        "project_visibility=private",
        id_tokens=[f"NPM_ID_TOKEN={AUDIENCE}"],
    )
    assert job["GITLAB_CI"] == "true"
    package = package_dir(tmp_path, name, "1.1.0", f"https://gitlab.com/{project}")
    npm_publish(trusted.instance, job, package, tmp_path / "home")

    packument = trusted.packument(name)
    assert packument is not None
    assert packument["versions"]["1.1.0"]["_npmUser"]["trustedPublisher"] == {
        "id": "gitlab",
        "oidcConfigId": f"oidc:{publisher.id}",
    }
