"""The OIDC issuer over HTTP: discovery, JWKS, the CI token endpoint, job registration.

In-process (starlette's TestClient) for the protocol, and under uvicorn on loopback for what
real clients do: sigstore-python's ambient credential detection (the ``id`` package, over
urllib3), ``assay ci-job`` end to end, and a validator fetching JWKS over HTTP.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sigstore.oidc import IdentityToken, detect_credential
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from assay.cli.main import main
from assay.keys import generate_ec
from assay.oidc.app import create_app
from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer
from assay.oidc.jobs import FileJobStore, ensure_registration_secret
from assay.oidc.validation import KeysUnavailableError, TokenError, TokenValidator, TrustedIssuer
from tests.servers import loopback_socket, serve_app, socket_url
from tests.unit.oidc.tokens import MovableClock, claims_at, sign

AMBIENT = (
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITLAB_CI",
    "SIGSTORE_ID_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "BUILDKITE",
    "CIRCLECI",
)


# -- in process --------------------------------------------------------------------------------


class Instance:
    """An issuer at ``/-/oidc`` of an origin, as the all-in-one mounts it, with a data dir."""

    ORIGIN = "http://testserver"

    def __init__(self, data: Path) -> None:
        self.clock = MovableClock()
        self.issuer = OIDCIssuer(
            f"{self.ORIGIN}/-/oidc",
            generate_ec(),
            self.clock,
            jobs=FileJobStore(data / "oidc" / "jobs"),
        )
        self.secret = ensure_registration_secret(data / "oidc")
        app = create_app(self.issuer, registration_secret=self.secret)
        self.client = _client(Starlette(routes=[Mount("/-/oidc", app=app)]))
        self.validator = TokenValidator([self.issuer.trusted_issuer()], self.clock)

    async def register(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            "/-/oidc/ci/jobs", json=body, headers={"Authorization": f"Bearer {self.secret}"}
        )
        assert response.status_code == 201, response.text
        reply: dict[str, Any] = response.json()
        return reply


def _client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=Instance.ORIGIN)


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    return Instance(tmp_path)


@pytest.mark.anyio
async def test_discovery_and_jwks(instance: Instance) -> None:
    discovery = (await instance.client.get("/-/oidc/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == "http://testserver/-/oidc"
    jwks_uri = discovery["jwks_uri"]
    assert jwks_uri == "http://testserver/-/oidc/.well-known/jwks"
    jwks = (await instance.client.get(jwks_uri)).json()
    assert jwks == instance.issuer.jwks()
    assert jwks["keys"][0]["kid"] == instance.issuer.kid


@pytest.mark.anyio
async def test_register_and_fetch_a_token(instance: Instance) -> None:
    reply = await instance.register(
        {"provider": "github", "claims": {"repository": "acme/widget", "environment": "prod"}}
    )
    assert reply["request_url"] == "http://testserver/-/oidc/ci/token?api-version=2.0"
    assert CIJob.from_json(reply["job"]).claims["sub"] == "repo:acme/widget:environment:prod"
    for scheme in ("bearer", "Bearer", "BEARER"):
        response = await instance.client.get(
            reply["request_url"] + "&audience=sigstore",
            headers={"Authorization": f"{scheme} {reply['request_token']}"},
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["count"] == 1
        claims = instance.validator.validate(body["value"], "sigstore")
        assert claims["sub"] == "repo:acme/widget:environment:prod"
        assert claims["iss"] == "http://testserver/-/oidc"


@pytest.mark.anyio
async def test_token_without_audience_gets_the_owner_url(instance: Instance) -> None:
    reply = await instance.register({"provider": "github", "claims": {"repository": "acme/widget"}})
    headers = {"Authorization": f"Bearer {reply['request_token']}"}
    for url in (reply["request_url"], reply["request_url"] + "&audience="):
        token = (await instance.client.get(url, headers=headers)).json()["value"]
        assert instance.validator.validate(token, "https://github.com/acme")["sub"]


@pytest.mark.anyio
async def test_request_token_failures_are_401_json(instance: Instance) -> None:
    reply = await instance.register({"provider": "gitlab"})
    url = reply["request_url"] + "&audience=sigstore"
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {reply['request_token']}"},
        {"Authorization": "Bearer not-a-registered-token"},
    ):
        response = await instance.client.get(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "error" in response.json()
    instance.clock.advance(hours=7)
    response = await instance.client.get(
        url, headers={"Authorization": f"bearer {reply['request_token']}"}
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "CI request token expired",
        "reason": "expired-request-token",
    }


@pytest.mark.anyio
async def test_registration_needs_the_secret(instance: Instance) -> None:
    for authorization in ("", "Bearer wrong", f"Basic {instance.secret}"):
        response = await instance.client.post(
            "/-/oidc/ci/jobs", json={"provider": "github"}, headers={"Authorization": authorization}
        )
        assert response.status_code == 401
    disabled = _client(create_app(instance.issuer))
    response = await disabled.post(
        "/ci/jobs",
        json={"provider": "github"},
        headers={"Authorization": f"Bearer {instance.secret}"},
    )
    assert response.status_code == 403


@pytest.mark.anyio
async def test_registration_refuses_impossible_jobs(instance: Instance) -> None:
    headers = {"Authorization": f"Bearer {instance.secret}"}
    response = await instance.client.post(
        "/-/oidc/ci/jobs", json={"provider": "github", "claims": {"iss": "x"}}, headers=headers
    )
    assert response.status_code == 400
    assert "set by the issuer" in response.json()["error"]
    response = await instance.client.post(
        "/-/oidc/ci/jobs", json={"provider": "x"}, headers=headers
    )
    assert response.status_code == 422


# -- real servers ------------------------------------------------------------------------------


class Served:
    def __init__(
        self, data: Path, url: str, issuer: OIDCIssuer, secret: str, clock: MovableClock
    ) -> None:
        self.data, self.url, self.issuer, self.secret = data, url, issuer, secret
        self.clock = clock
        self.validator = TokenValidator([issuer.trusted_issuer()], clock)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The issuer under uvicorn, at the root of its origin (as `assay serve oidc` would be)."""
    sock = loopback_socket()
    # Starts at the real time: sigstore-python checks tokens against the system clock.
    clock = MovableClock(datetime.now(UTC))
    issuer = OIDCIssuer(
        socket_url(sock), generate_ec(), clock, jobs=FileJobStore(tmp_path / "oidc" / "jobs")
    )
    secret = ensure_registration_secret(tmp_path / "oidc")
    with serve_app(create_app(issuer, registration_secret=secret), sock) as url:
        yield Served(tmp_path, url, issuer, secret, clock)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_sigstore_python_detects_the_github_credential(
    served: Served, clean_env: pytest.MonkeyPatch
) -> None:
    job = CIJob.github("acme/widget", workflow=".github/workflows/publish.yml")
    request_token = served.issuer.register_job(job)
    env = job.environment(request_url=served.issuer.request_url, request_token=request_token)
    for name, value in env.items():
        clean_env.setenv(name, value)

    token = detect_credential()  # id.detect_github: GET <url>&audience=sigstore, bearer
    assert token is not None
    identity = IdentityToken(token)
    assert identity.identity == "repo:acme/widget:ref:refs/heads/main"
    assert identity.issuer == served.url
    claims = served.validator.validate(token, "sigstore")
    assert claims["workflow_ref"] == env["GITHUB_WORKFLOW_REF"]


def test_assay_ci_job_github_end_to_end(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "ci-job",
            "--data",
            str(served.data),
            "--url",
            served.url,
            "--provider",
            "github",
            "--claim",
            "repository=acme/widget",
            "--claim",
            "environment=release",
            "--env",
            "GITHUB_JOB=ship it",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    env = _exports(out)
    assert env["GITHUB_ACTIONS"] == "true"
    assert env["GITHUB_REPOSITORY"] == "acme/widget"
    assert env["GITHUB_JOB"] == "ship it"
    assert "GITHUB_JOB='ship it'" in out  # quoted for the shell
    assert env["ACTIONS_ID_TOKEN_REQUEST_URL"] == f"{served.url}/ci/token?api-version=2.0"
    assert "subject repo:acme/widget:environment:release" in err

    # What npm does with them (npm-registry.md §5): string-append the audience.
    response = httpx.get(
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=npm:registry.example",
        headers={"Authorization": f"Bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"},
    )
    assert response.status_code == 200
    claims = served.validator.validate(response.json()["value"], "npm:registry.example")
    assert claims["sub"] == "repo:acme/widget:environment:release"
    assert claims["workflow_ref"] == env["GITHUB_WORKFLOW_REF"]
    assert claims["repository_id"] == env["GITHUB_REPOSITORY_ID"]


def test_assay_ci_job_gitlab_end_to_end(
    served: Served, capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    code = main(
        [
            "ci-job",
            "--data",
            str(served.data),
            "--url",
            served.url,
            "--provider",
            "gitlab",
            "--server-url",
            "https://gitlab.example.com",
            "--claim",
            "project_path=team/widget",
            "--id-token",
            "SIGSTORE_ID_TOKEN=sigstore",
            "--id-token",
            "NPM_ID_TOKEN=npm:registry.example",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    env = _exports(out)
    assert env["GITLAB_CI"] == "true"
    assert env["CI_PROJECT_URL"] == "https://gitlab.example.com/team/widget"
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in env
    sigstore_claims = served.validator.validate(env["SIGSTORE_ID_TOKEN"], "sigstore")
    assert sigstore_claims["sub"] == "project_path:team/widget:ref_type:branch:ref:main"
    assert sigstore_claims["ci_config_ref_uri"] == (
        "gitlab.example.com/team/widget//.gitlab-ci.yml@refs/heads/main"
    )
    assert str(sigstore_claims["runner_id"]) == env["CI_RUNNER_ID"]
    npm_claims = served.validator.validate(env["NPM_ID_TOKEN"], "npm:registry.example")
    assert npm_claims["project_path"] == "team/widget"

    # sigstore-python's GitLab detection reads <AUD>_ID_TOKEN.
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert detect_credential() == env["SIGSTORE_ID_TOKEN"]


def test_assay_ci_job_failures(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["ci-job", "--url", served.url, "--provider", "github"]
    assert main([*base, "--data", str(served.data / "elsewhere")]) == 1
    assert "assay up" in capsys.readouterr().err

    (served.data / "oidc" / "registration.secret").write_text("wrong\n")
    assert main([*base, "--data", str(served.data)]) == 1
    assert "refused to register the job (401)" in capsys.readouterr().err

    (served.data / "oidc" / "registration.secret").write_text(served.secret)
    assert main([*base, "--data", str(served.data), "--claim", "ref=main"]) == 1
    assert "not a full ref" in capsys.readouterr().err
    assert main([*base, "--data", str(served.data), "--claim", "oops"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err

    with loopback_socket() as closed:  # bound, never listening
        url = socket_url(closed)
        assert main(["ci-job", "--data", str(served.data), "--url", url, *base[3:]]) == 1
    assert "cannot reach the OIDC issuer" in capsys.readouterr().err


def test_validator_fetches_and_caches_jwks(served: Served) -> None:
    fetched: list[str] = []

    def count(request: httpx.Request) -> None:
        fetched.append(request.url.path)

    clock = served.clock
    jwks_path = "/.well-known/jwks"
    with httpx.Client(event_hooks={"request": [count]}) as http:
        validator = TokenValidator(
            [TrustedIssuer(served.url, jwks_uri=served.issuer.jwks_uri)], clock, http=http
        )
        token = served.issuer.mint({"sub": "s"}, "sigstore")
        validator.validate(token, "sigstore")
        validator.validate(token, "sigstore")
        assert fetched == [jwks_path]  # cached

        # A kid we have not seen refetches (keys rotate), but at most every 30 seconds.
        stranger = OIDCIssuer(served.url, generate_ec(), clock).mint({"sub": "s"}, "sigstore")
        with pytest.raises(TokenError, match="has no ES256 key with kid"):
            validator.validate(stranger, "sigstore")
        assert fetched == [jwks_path]
        clock.advance(seconds=31)
        for _ in range(2):
            with pytest.raises(TokenError, match="has no ES256 key with kid"):
                validator.validate(stranger, "sigstore")
        assert fetched == [jwks_path] * 2

        # After the TTL the keys are fetched again.
        clock.advance(minutes=11)
        validator.validate(served.issuer.mint({"sub": "s"}, "sigstore"), "sigstore")
        assert fetched == [jwks_path] * 3

        # Without a jwks_uri the keys are found through discovery.
        fetched.clear()
        discovered = TokenValidator([TrustedIssuer(served.url)], clock, http=http)
        discovered.validate(served.issuer.mint({"sub": "s"}, "sigstore"), "sigstore")
        assert fetched == ["/.well-known/openid-configuration", jwks_path]


def test_validator_when_keys_are_unavailable(served: Served) -> None:
    token = served.issuer.mint({"sub": "s"}, "sigstore")
    with loopback_socket() as closed:  # bound, never listening
        for trusted in (
            TrustedIssuer(served.url, jwks_uri=f"{socket_url(closed)}/jwks"),
            TrustedIssuer(served.url, jwks_uri=f"{served.url}/nothing-here"),  # 404
        ):
            with pytest.raises(KeysUnavailableError, match="cannot fetch the keys"):
                TokenValidator([trusted], served.clock).validate(token, "sigstore")
    # Discovery must name exactly the issuer asked about (OIDC Discovery §4.3): the document
    # at <url>//.well-known/… names <url>, not <url>/.
    other = f"{served.url}/"
    token = sign(generate_ec(), {"alg": "ES256", "kid": "k"}, claims_at(other, served.clock()))
    with pytest.raises(KeysUnavailableError, match="does not name it"):
        TokenValidator([TrustedIssuer(other)], served.clock).validate(token, "sigstore")


def _exports(out: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in out.splitlines():
        words = shlex.split(line)
        assert len(words) == 2, line
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        env[name] = value
    return env
