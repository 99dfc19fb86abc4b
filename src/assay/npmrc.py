"""npm configuration as the npm CLI reads it: ``.npmrc`` files and ``npm_config_*`` variables.

What ``assay publish`` needs of it: the registry for a package and the credentials for that
registry. Layers, lowest to highest precedence (@npmcli/config ``lib/index.js`` ``load``):

1. defaults (``registry=https://registry.npmjs.org/``);
2. the user config: ``$npm_config_userconfig`` / ``$NPM_CONFIG_USERCONFIG`` (the environment
   layer is read before the files, so it can move the user config), else ``~/.npmrc``;
3. the project config: ``<localPrefix>/.npmrc``, where the local prefix is the nearest folder
   from the working directory up that has a ``package.json`` or ``node_modules``;
4. ``npm_config_*`` environment variables (any case; ``_`` becomes ``-`` except in
   ``//host/:key`` names);
5. what the caller passes (command-line flags).

Files are ini (the ``ini`` package): ``key = value``, ``;``/``#`` comments, quoted values parsed
as JSON strings, ``key[] = v`` lists; ``${NAME}`` in keys and values is replaced from the
environment (``\\${NAME}`` stays literal, an unset ``${NAME}`` stays as written, ``${NAME?}``
becomes empty; @npmcli/config ``lib/env-replace.js``).

Credentials are keyed by "nerf dart" (@npmcli/config ``lib/nerf-dart.js``): the registry URL
without scheme, credentials, query or fragment, ending in ``/``: ``//host[:port]/path/``. Like
npm-registry-fetch ``lib/auth.js`` ``regKeyFromURI``, the lookup walks up the path, so
``//host/`` credentials also serve ``//host/npm/``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from assay.errors import ConfigError

__all__ = ["DEFAULT_REGISTRY", "Credentials", "NpmConfig", "nerf_dart", "parse_npmrc"]

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
_ENV_REF = re.compile(r"(?<!\\)(\\*)\$\{([^${}?]+)(\?)?\}")


def _env_replace(text: str, env: Mapping[str, str]) -> str:
    """@npmcli/config ``env-replace.js``: ``${NAME}``, ``${NAME?}``, escapes with ``\\``."""

    def replace(match: re.Match[str]) -> str:
        escapes, name, optional = match.group(1), match.group(2), match.group(3)
        if len(escapes) % 2:
            # An odd number of backslashes escapes the reference: half of them are consumed.
            return match.group(0)[(len(escapes) + 1) // 2 :]
        value = env.get(name)
        if value is None:
            value = "" if optional else "${" + name + "}"
        return escapes[len(escapes) // 2 :] + value

    return _ENV_REF.sub(replace, text)


def _unquote(value: str) -> str:
    """ini's ``unsafe``: a quoted value is a JSON string; otherwise strip inline comments."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        if value[0] == "'":
            return value[1:-1]
        try:
            parsed = json.loads(value)
        except ValueError:
            return value[1:-1]
        return parsed if isinstance(parsed, str) else value
    out: list[str] = []
    escaping = False
    for char in value:
        if escaping:
            out.append(char if char in "\\;#" else "\\" + char)
            escaping = False
        elif char == "\\":
            escaping = True
        elif char in ";#":
            break
        else:
            out.append(char)
    if escaping:
        out.append("\\")
    return "".join(out).strip()


def parse_npmrc(text: str, env: Mapping[str, str]) -> dict[str, str | list[str]]:
    """One ``.npmrc`` file's settings (top-level keys only, as npm uses them)."""
    settings: dict[str, str | list[str]] = {}
    section = ""
    for raw in re.split(r"\r?\n", text.removeprefix("\ufeff")):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        key = _env_replace(_unquote(key), env)
        if section:
            # ini nests sections; npm reads only top-level keys.
            continue
        parsed: str = _env_replace(_unquote(value), env) if sep else "true"
        if key.endswith("[]"):
            existing = settings.get(key[:-2])
            items = existing if isinstance(existing, list) else []
            settings[key[:-2]] = [*items, parsed]
        else:
            settings[key] = parsed
    return settings


def nerf_dart(url: str) -> str:
    """``https://user:pw@host:8080/path/?q#f`` → ``//host:8080/path/`` (npm's nerf dart)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    path = parts.path or "/"
    # @npmcli/config nerf-dart.js: new URL('.', url) drops the last path segment.
    path = path[: path.rfind("/") + 1]
    return f"//{host}{port}{path}"


def _normalize_registry(url: str) -> str:
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What npm-registry-fetch sends for one registry."""

    authorization: str | None
    """The ``Authorization`` header value, or ``None`` for an anonymous request."""
    key: str | None = None
    """The config key the credentials came from (``//host/:_authToken``), for messages."""


@dataclass(frozen=True, slots=True)
class NpmConfig:
    """Merged npm configuration: later layers override earlier ones, key by key."""

    settings: Mapping[str, str | list[str]] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    @classmethod
    def load(
        cls,
        env: Mapping[str, str],
        cwd: Path,
        *,
        home: Path | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> NpmConfig:
        """The configuration npm would see in ``cwd`` with environment ``env``."""
        env_layer = _env_settings(env)
        merged: dict[str, str | list[str]] = {"registry": DEFAULT_REGISTRY}
        files: list[Path] = []
        user_home = home if home is not None else Path(env.get("HOME") or Path.home())
        userconfig = env_layer.get("userconfig")
        user_path = Path(str(userconfig)).expanduser() if userconfig else user_home / ".npmrc"
        for path in (user_path, _local_prefix(cwd) / ".npmrc"):
            if path in files:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read npm config {path}: {exc}", path=str(path)) from exc
            files.append(path)
            merged.update(parse_npmrc(text, env))
        merged.update(env_layer)
        merged.update(overrides or {})
        return cls(settings=merged, files=tuple(files))

    def get(self, key: str) -> str | None:
        value = self.settings.get(key)
        return value if isinstance(value, str) else None

    def with_overrides(self, overrides: Mapping[str, str]) -> NpmConfig:
        return NpmConfig({**self.settings, **overrides}, self.files)

    def registry_for(self, name: str) -> str:
        """npm-registry-fetch ``pickRegistry``: ``@scope:registry`` for scoped names, else
        ``registry``."""
        if name.startswith("@"):
            scope = name.split("/", 1)[0]
            scoped = self.get(f"{scope}:registry")
            if scoped:
                return _normalize_registry(scoped)
        return _normalize_registry(self.get("registry") or DEFAULT_REGISTRY)

    def credentials_for(self, registry: str) -> Credentials:
        """The credentials configured for ``registry``, as npm-registry-fetch ``getAuth``."""
        key = nerf_dart(registry)
        while len(key) > len("//"):
            token = self.get(f"{key}:_authToken")
            if token:
                return Credentials(f"Bearer {token}", f"{key}:_authToken")
            auth = self.get(f"{key}:_auth")
            if auth:
                return Credentials(f"Basic {auth}", f"{key}:_auth")
            username, password = self.get(f"{key}:username"), self.get(f"{key}:_password")
            if username and password:
                try:
                    decoded = base64.b64decode(password, validate=True).decode("utf-8")
                except ValueError as exc:
                    raise ConfigError(f"{key}:_password is not base64", key=key) from exc
                basic = base64.b64encode(f"{username}:{decoded}".encode()).decode("ascii")
                return Credentials(f"Basic {basic}", f"{key}:username")
            # Walk up one path segment: //host/a/b/ → //host/a/ → //host/.
            key = re.sub(r"([^/]+|/)$", "", key)
        return Credentials(None)


def _env_settings(env: Mapping[str, str]) -> dict[str, str]:
    """``npm_config_*`` variables (@npmcli/config ``loadEnv``); empty values are ignored."""
    settings: dict[str, str] = {}
    for name, value in env.items():
        if not name.lower().startswith("npm_config_") or value == "":
            continue
        key = name[len("npm_config_") :]
        if not key.startswith("//"):
            key = re.sub(r"(?!^)_", "-", key).lower()
        settings[key] = value
    return settings


def _local_prefix(cwd: Path) -> Path:
    """@npmcli/config ``loadLocalPrefix``: nearest folder with package.json or node_modules."""
    resolved = cwd.resolve()
    for folder in (resolved, *resolved.parents):
        if (folder / "package.json").exists() or (folder / "node_modules").exists():
            return folder
    return resolved
