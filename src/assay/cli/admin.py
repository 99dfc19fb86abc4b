"""Administrator commands over the data directory's database: ``assay user``, ``assay token``,
``assay scope``.

They open the registry's storage exactly as the server does (``ASSAY_DATA_DIR``,
``ASSAY_DATABASE_URL``), so they work while the server runs. Secrets are never taken as
arguments (they would land in shell history): the password comes from stdin, and a new token
is printed once and stored only as its hash.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from assay.errors import ConfigError
from assay.registry.accounts import parse_cidrs
from assay.registry.scopes import ScopeAdmin
from assay.registry.service import RegistryService
from assay.settings import load_settings


def _service(data_dir: Path | None) -> RegistryService:
    overrides: dict[str, object] = {} if data_dir is None else {"data_dir": data_dir}
    return RegistryService.open(load_settings(**overrides))


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the instance's data directory (default: ASSAY_DATA_DIR or ./data)",
)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@click.group("user")
def user_command() -> None:
    """Manage registry accounts."""


@user_command.command("add")
@click.argument("name")
@click.option("--email", required=True, help="the account's e-mail address (public)")
@click.option(
    "--password-stdin", is_flag=True, help="read the password from the first line of stdin"
)
@_DATA_DIR
def user_add(name: str, email: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Create the account NAME."""
    if not password_stdin:
        raise ConfigError("pass --password-stdin and the password on stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    service = _service(data_dir)
    try:
        user = service.accounts.add_user(name, email, password)
    finally:
        service.close()
    click.echo(f"created user {user.name} <{user.email}>")


@user_command.command("list")
@_DATA_DIR
def user_list(data_dir: Path | None) -> None:
    """List accounts."""
    service = _service(data_dir)
    try:
        for user in service.store.list_users():
            click.echo(f"{user.name}\t{user.email}\t{_when(user.created_ms)}")
    finally:
        service.close()


@click.group("token")
def token_command() -> None:
    """Manage registry access tokens."""


@token_command.command("create")
@click.option("--user", "user_name", required=True, help="whose token")
@click.option("--read-only", is_flag=True, help="the token can read but never publish or change")
@click.option("--name", default=None, help="a label shown by `npm token list`")
@click.option("--cidr", multiple=True, help="allow use only from this IPv4 CIDR (repeatable)")
@_DATA_DIR
def token_create(
    user_name: str, read_only: bool, name: str | None, cidr: tuple[str, ...], data_dir: Path | None
) -> None:
    """Create a token and print it (once: only its hash is stored)."""
    service = _service(data_dir)
    try:
        user = service.store.user_by_name(user_name)
        if user is None:
            raise ConfigError(f"no such user: {user_name}")
        secret, _ = service.accounts.issue_token(
            user, readonly=read_only, name=name, cidr_whitelist=parse_cidrs(list(cidr) or None)
        )
    finally:
        service.close()
    click.echo(secret)


@token_command.command("list")
@click.option("--user", "user_name", required=True, help="whose tokens")
@_DATA_DIR
def token_list(user_name: str, data_dir: Path | None) -> None:
    """List a user's tokens: key, start of the token, name, read-only, created."""
    service = _service(data_dir)
    try:
        user = service.store.user_by_name(user_name)
        if user is None:
            raise ConfigError(f"no such user: {user_name}")
        for token in service.store.tokens_of(user.id):
            mode = "read-only" if token.readonly else "read-write"
            click.echo(
                f"{token.key}\t{token.preview}…\t{token.name or '-'}\t{mode}\t"
                f"{_when(token.created_ms)}"
            )
    finally:
        service.close()


@token_command.command("revoke")
@click.argument("key")
@_DATA_DIR
def token_revoke(key: str, data_dir: Path | None) -> None:
    """Revoke the token with KEY (as `assay token list` shows it)."""
    service = _service(data_dir)
    try:
        deleted = service.store.delete_token(key=key)
    finally:
        service.close()
    if not deleted:
        raise ConfigError(f"no token with key {key}")
    click.echo(f"revoked {key}")


@click.group("scope")
def scope_command() -> None:
    """Assign organisation scopes: who may create packages under @scope/…

    With the default scope policy ("user"), @NAME/… belongs to the user NAME; any other scope
    belongs to the users an administrator assigns it to, and to nobody before that.
    """


@scope_command.command("grant")
@click.argument("scope")
@click.argument("user_name", metavar="USER")
@_DATA_DIR
def scope_grant(scope: str, user_name: str, data_dir: Path | None) -> None:
    """Let USER create packages in SCOPE (@acme): `assay scope grant @acme alice`."""
    service = _service(data_dir)
    try:
        added = ScopeAdmin(service.store).grant(scope, user_name)
    finally:
        service.close()
    bare = scope.removeprefix("@")
    click.echo(f"granted @{bare} to {user_name}" if added else f"{user_name} already has @{bare}")


@scope_command.command("revoke")
@click.argument("scope")
@click.argument("user_name", metavar="USER")
@_DATA_DIR
def scope_revoke(scope: str, user_name: str, data_dir: Path | None) -> None:
    """Take SCOPE from USER (packages they created stay theirs: see `npm owner`)."""
    service = _service(data_dir)
    try:
        removed = ScopeAdmin(service.store).revoke(scope, user_name)
    finally:
        service.close()
    bare = scope.removeprefix("@")
    if not removed:
        raise ConfigError(f"@{bare} was not granted to {user_name}")
    click.echo(f"revoked @{bare} from {user_name}")


@scope_command.command("list")
@_DATA_DIR
def scope_list(data_dir: Path | None) -> None:
    """List assigned (and, under the "open" policy, claimed) scopes: scope, user, how."""
    service = _service(data_dir)
    try:
        for scope, user_name, how in ScopeAdmin(service.store).owners():
            click.echo(f"@{scope}\t{user_name}\t{how}")
    finally:
        service.close()
