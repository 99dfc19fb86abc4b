"""`assay package`: a package's publish rules, its audit trail, and reserving a name.

* ``assay package policy NAME [--require-trusted-publishing/--no-…] [--require-provenance/--no-…]
  [--allow-provenance-downgrade/--no-…] [--registry URL]`` reads (no flag) or changes the rules
  over ``GET|POST /-/package/<name>/policy`` and prints them.
* ``assay package audit-log NAME [--limit N] [--json] [--registry URL]`` prints the package's
  audit trail (``GET /-/package/<name>/audit``, maintainers only).
* ``assay package reserve NAME --user USER --github OWNER/REPO --file release.yml …``: the
  administrator's way (over the data directory, like ``assay scope``) to register a pending
  trusted publisher for a user, whatever the scope rules say.

The first two talk to the registry as npm does: the registry and the credentials come from
``.npmrc`` (:mod:`assay.npmrc`), ``--registry`` overriding the registry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from assay import __version__
from assay.errors import AssayError, ConfigError
from assay.npm.names import PackageName, escaped_name
from assay.npmrc import NpmConfig

TIMEOUT = 30.0
FC = TypeVar("FC", bound=Callable[..., Any])


class RegistryRefusal(AssayError):
    """The registry answered with an error (its ``{"error": …}`` message is shown)."""


def _request(name: str, method: str, suffix: str, registry: str | None, body: object = None) -> Any:
    PackageName.parse(name)
    config = NpmConfig.load(dict(os.environ), Path.cwd())
    if registry:
        config = config.with_overrides({"registry": registry})
    target = config.registry_for(name)
    credentials = config.credentials_for(target)
    headers = {"accept": "application/json", "user-agent": f"assay/{__version__}"}
    if credentials.authorization:
        headers["authorization"] = credentials.authorization
    url = f"{target}-/package/{escaped_name(name)}/{suffix}"
    try:
        response = httpx.request(
            method, url, headers=headers, json=body if body is not None else None, timeout=TIMEOUT
        )
    except httpx.HTTPError as exc:
        raise RegistryRefusal(f"request to {url} failed: {exc}", url=url) from exc
    if response.is_error:
        try:
            detail = response.json().get("error", "")
        except (ValueError, AttributeError):
            detail = response.text[:300]
        raise RegistryRefusal(
            f"{response.status_code} {response.reason_phrase} - {method} {url}"
            + (f" - {detail}" if detail else ""),
            status=response.status_code,
        )
    return response.json()


@click.group("package")
def package_command() -> None:
    """A package's publish policy, audit trail and name reservations."""


def _flag(name: str, help_text: str) -> Callable[[FC], FC]:
    return click.option(f"--{name}/--no-{name}", default=None, help=help_text)


@package_command.command("policy")
@click.argument("name")
@_flag(
    "require-trusted-publishing",
    "refuse publishes with a token: only trusted publishing (OIDC) publishes",
)
@_flag("require-provenance", "refuse a publish without a provenance bundle (422)")
@_flag(
    "allow-provenance-downgrade",
    "accept a version without provenance after one with it (off by default)",
)
@click.option("--registry", metavar="URL", help="The registry (default: from .npmrc).")
@click.option("--json", "as_json", is_flag=True, help="Print the policy as JSON.")
def policy_command(
    *,
    name: str,
    require_trusted_publishing: bool | None,
    require_provenance: bool | None,
    allow_provenance_downgrade: bool | None,
    registry: str | None,
    as_json: bool,
) -> None:
    """Show the publish policy of NAME, or change the rules given (maintainers only)."""
    change = {
        key: value
        for key, value in (
            ("requireTrustedPublishing", require_trusted_publishing),
            ("requireProvenance", require_provenance),
            ("allowProvenanceDowngrade", allow_provenance_downgrade),
        )
        if value is not None
    }
    if change:
        policy = _request(name, "POST", "policy", registry, change)
    else:
        policy = _request(name, "GET", "policy", registry)
    if as_json:
        click.echo(json.dumps(policy, indent=2))
        return
    click.echo(f"{policy['package']}")
    click.echo(f"  require-trusted-publishing: {_yes(policy['requireTrustedPublishing'])}")
    click.echo(f"  require-provenance:         {_yes(policy['requireProvenance'])}")
    click.echo(f"  allow-provenance-downgrade: {_yes(policy['allowProvenanceDowngrade'])}")
    if policy.get("updated"):
        click.echo(f"  updated {policy['updated']} by {policy.get('updatedBy') or '?'}")


def _yes(value: object) -> str:
    return "yes" if value else "no"


@package_command.command("audit-log")
@click.argument("name")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--registry", metavar="URL", help="The registry (default: from .npmrc).")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
def audit_log_command(name: str, limit: int, registry: str | None, as_json: bool) -> None:
    """Print the audit trail of NAME, newest first (maintainers only)."""
    trail = _request(name, "GET", f"audit?limit={limit}", registry)
    if as_json:
        click.echo(json.dumps(trail["events"], indent=2))
        return
    for event in trail["events"]:
        detail = json.dumps(event["detail"], separators=(",", ":"), sort_keys=True)
        click.echo(f"{event['time']}\t{event['actor']}\t{event['action']}\t{detail}")


@package_command.command("reserve")
@click.argument("name")
@click.option("--user", "user_name", required=True, help="whom the name is reserved for")
@click.option("--github", "github", metavar="OWNER/REPO", help="a GitHub Actions publisher")
@click.option("--gitlab", "gitlab", metavar="GROUP/PROJECT", help="a GitLab CI publisher")
@click.option("--gitlab-server", metavar="URL", help="a self-managed GitLab server's URL")
@click.option("--file", "file", required=True, help="the workflow / pipeline file name")
@click.option("--environment", default=None, help="the CI environment the job must run in")
@click.option("--allow-stage-publish", is_flag=True, help="also allow npm stage publish")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the instance's data directory (default: ASSAY_DATA_DIR or ./data)",
)
def reserve_command(
    *,
    name: str,
    user_name: str,
    github: str | None,
    gitlab: str | None,
    gitlab_server: str | None,
    file: str,
    environment: str | None,
    allow_stage_publish: bool,
    data_dir: Path | None,
) -> None:
    """Administrator: register a pending trusted publisher of NAME (not yet published) for
    USER; the name is reserved to them for trusted_publisher_pending_days."""
    # The server stack, imported only here: `policy` and `audit-log` are plain HTTP clients.
    from assay.registry.service import RegistryService  # noqa: PLC0415
    from assay.registry.trust_settings import TrustSettings, parse_config  # noqa: PLC0415
    from assay.settings import load_settings  # noqa: PLC0415

    if (github is None) == (gitlab is None):
        raise ConfigError("name exactly one of --github OWNER/REPO and --gitlab GROUP/PROJECT")
    claims: dict[str, Any]
    if github is not None:
        claims = {"repository": github, "workflow_ref": {"file": file}}
    else:
        claims = {"project_path": gitlab, "ci_config_ref_uri": {"file": file}}
        if gitlab_server:
            claims["issuer"] = gitlab_server
    if environment:
        claims["environment"] = environment
    permissions = ["createPackage"] + (["createStagedPackage"] if allow_stage_publish else [])
    config = parse_config(
        {"type": "github" if github else "gitlab", "claims": claims, "permissions": permissions}
    )
    overrides: dict[str, object] = {} if data_dir is None else {"data_dir": data_dir}
    service = RegistryService.open(load_settings(**overrides))
    try:
        user = service.store.user_by_name(user_name)
        if user is None:
            raise ConfigError(f"no such user: {user_name}")
        settings = TrustSettings(service.store, service.trust_store, service.settings)
        created = settings.reserve(PackageName.parse(name), [config], user)
    finally:
        service.close()
    for publisher in created:
        click.echo(
            f"reserved {name} for {user_name} until {publisher['pendingUntil']}: "
            f"{publisher['type']} publisher {publisher['id']}"
        )
