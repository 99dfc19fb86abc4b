"""`assay ci-job`: pretend to be a CI job, with the environment and credentials a real one has.

Registers a GitHub Actions or GitLab CI job with the instance's OIDC issuer (``POST
/ci/jobs``, authorized by the registration secret in ``DIR/oidc/registration.secret``) and
prints the job's environment as ``export NAME='value'`` lines, so that

    eval "$(assay ci-job --provider github --claim repository=acme/widget)"
    npm publish --provenance          # or: assay publish --provenance, sigstore sign …

runs exactly as it would in CI (the instance must run with CI emulation on: ``assay up
--ci-emulation`` or ``ASSAY_CI_EMULATION=1``; provenance signed this way is labelled "emulated
CI of this instance", never GitHub Actions or GitLab): GitHub jobs get
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (the ambient credential
clients trade for a token, sigstore.md §1.2); GitLab jobs get their ``id_tokens`` already
minted, ``SIGSTORE_ID_TOKEN`` (aud ``sigstore``) by default, as npm requires on GitLab
(npm-registry.md §1.5).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, cast

import click
import httpx

from assay.errors import ConfigError
from assay.oidc.claims import CIJob, parse_assignment
from assay.oidc.jobs import read_registration_secret
from assay.settings import load_settings
from assay.sign.errors import TokenError
from assay.sign.identity import github_actions_token

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GITLAB_ID_TOKENS = ("SIGSTORE_ID_TOKEN=sigstore",)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return cast(str, body["error"])
    return str(body)[:200]


def _reason(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else None


def _register(client: httpx.Client, url: str, secret: str, body: dict[str, Any]) -> Any:
    try:
        response = client.post(
            f"{url}/ci/jobs", json=body, headers={"Authorization": f"Bearer {secret}"}
        )
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the OIDC issuer at {url}: {exc}", url=url) from exc
    if response.status_code == 404 and _reason(response) == "ci-emulation-off":
        raise ConfigError(
            f"CI emulation is off on the instance at {url}: it registers no CI jobs. Start it "
            "with `assay up --ci-emulation` (or ASSAY_CI_EMULATION=1) to emulate CI jobs",
            url=url,
        )
    if response.status_code != 201:
        raise ConfigError(
            f"the OIDC issuer refused to register the job ({response.status_code}): "
            f"{_error_message(response)}",
            url=url,
        )
    return response.json()


def _mint(client: httpx.Client, request_url: str, request_token: str, audience: str) -> str:
    # The job's ambient credential traded as every client trades it (assay.sign.identity).
    try:
        return github_actions_token(request_url, request_token, audience=audience, client=client)
    except TokenError as exc:
        raise ConfigError(
            f"the OIDC issuer refused a token for audience {audience!r}: {exc.message}"
        ) from exc


@click.command("ci-job")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory holding oidc/registration.secret (default: $ASSAY_DATA_DIR or ./data).",
)
@click.option("--url", default=None, help="OIDC issuer URL (default: <instance origin>/-/oidc).")
@click.option(
    "--provider", type=click.Choice(["github", "gitlab"]), required=True, help="The CI system."
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a token claim (repository=acme/widget, ref=refs/tags/v1.0.0, environment=prod…);"
    " the claims derived from it follow.",
)
@click.option(
    "--env",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Add or override an environment variable of the job (CI_JOB_NAME=release…).",
)
@click.option(
    "--server-url",
    default=None,
    help="The forge the job runs on (default https://github.com or https://gitlab.com;"
    " a GitHub Enterprise Server or self-managed GitLab URL).",
)
@click.option(
    "--id-token",
    "id_tokens",
    multiple=True,
    metavar="NAME=AUDIENCE",
    help="Mint a token into variable NAME, as GitLab's id_tokens keyword does"
    " (GitLab default: SIGSTORE_ID_TOKEN=sigstore).",
)
def ci_job_command(
    *,
    data: Path | None,
    url: str | None,
    provider: str,
    claims: tuple[str, ...],
    variables: tuple[str, ...],
    server_url: str | None,
    id_tokens: tuple[str, ...],
) -> None:
    """Register a CI job with the OIDC issuer and print its environment as `export` lines."""
    settings = load_settings(**({"data_dir": data} if data else {}))
    secret = read_registration_secret(settings.data_dir / "oidc")
    issuer_url = (url or f"{settings.origin}/-/oidc").rstrip("/")
    wanted = dict(parse_assignment(item, "--id-token") for item in id_tokens)
    if not id_tokens and provider == "gitlab":
        wanted = dict(parse_assignment(item) for item in _GITLAB_ID_TOKENS)
    for name in wanted:
        if not _VARIABLE.fullmatch(name):
            raise ConfigError(f"--id-token: {name!r} is not a variable name")
    body = {
        "provider": provider,
        "server_url": server_url,
        "claims": dict(parse_assignment(item, "--claim") for item in claims),
        "variables": dict(parse_assignment(item, "--env") for item in variables),
    }

    with httpx.Client(timeout=30.0) as client:
        reply = _register(client, issuer_url, secret, body)
        try:
            job = CIJob.from_json(reply["job"])
            request_token, request_url = str(reply["request_token"]), str(reply["request_url"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"the OIDC issuer at {issuer_url} answered oddly: {exc}") from exc
        minted = {
            name: _mint(client, request_url, request_token, audience)
            for name, audience in wanted.items()
        }

    environment = job.environment(
        request_url=request_url, request_token=request_token, id_tokens=minted
    )
    for name, value in environment.items():
        click.echo(f"export {name}={shlex.quote(value)}")
    click.echo(
        f"# {job.provider} job registered with {issuer_url}, "
        f"subject {job.claims['sub']}; valid until {reply.get('expires_at')}",
        err=True,
    )
