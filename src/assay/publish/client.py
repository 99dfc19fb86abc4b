"""The registry requests ``npm publish`` makes, with npm's refusals and error wording.

npm 11 ``lib/commands/publish.js`` and libnpmpublish ``lib/publish.js`` (npm-registry.md §1.1):
the credential check (``ENEEDAUTH``), the packument check unless ``--force`` (no publishing over
an existing version, no implicit ``latest`` below the highest release), the visibility check
before provenance (``GET /-/package/<name>/visibility``), then the ``PUT``. HTTP failures read
like npm-registry-fetch's: ``<status> <reason> - PUT <url> - <error>``, code ``E<status>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from assay import __version__
from assay.npm.names import escaped_name
from assay.publish.body import PublishError

__all__ = ["RegistryClient"]

DEFAULT_TIMEOUT = 60.0


def _version_key(version: str) -> tuple[int, int, int, int, str] | None:
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?", version)
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    # A release sorts above its prereleases.
    return int(major), int(minor), int(patch), 0 if pre else 1, pre or ""


class RegistryClient:
    """One registry with one set of credentials."""

    def __init__(
        self,
        registry: str,
        authorization: str | None,
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.registry = registry if registry.endswith("/") else registry + "/"
        self._authorization = authorization
        self._client = client or httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._own = client is None

    def close(self) -> None:
        if self._own:
            self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "user-agent": f"assay/{__version__}",
            "npm-command": "publish",
            "accept": "application/json",
        }
        if self._authorization:
            headers["authorization"] = self._authorization
        headers.update(extra or {})
        return headers

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.registry + path
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise PublishError(
                f"request to {url} failed, reason: timed out", code="ETIMEDOUT", url=url
            ) from exc
        except httpx.HTTPError as exc:
            raise PublishError(
                f"request to {url} failed, reason: {exc}", code="ECONNREFUSED", url=url
            ) from exc

    @staticmethod
    def _failure(response: httpx.Response, method: str) -> PublishError:
        detail = ""
        try:
            body = response.json()
        except ValueError:
            detail = response.text.strip()[:500]
        else:
            if isinstance(body, dict):
                detail = str(body.get("error") or body.get("message") or "")
        message = f"{response.status_code} {response.reason_phrase} - {method} {response.url}"
        if detail:
            message += f" - {detail}"
        return PublishError(message, code=f"E{response.status_code}", status=response.status_code)

    def require_auth(self) -> None:
        """npm's credential check before anything is sent."""
        if not self._authorization:
            raise PublishError(
                f"This command requires you to be logged in to {self.registry}",
                code="ENEEDAUTH",
            )

    def check_version(self, name: str, version: str, *, default_tag: bool) -> None:
        """npm publish's packument check (skipped with ``--force``).

        As npm 11 ``#registryVersions``: only releases that are not deprecated count, and a
        packument that cannot be fetched or read counts as none (npm swallows every error and
        leaves the rest to the registry).
        """
        try:
            response = self._send(
                "GET",
                escaped_name(name),
                headers=self._headers({"accept": "application/json"}),
            )
            packument = response.json() if response.status_code == 200 else {}
        except (PublishError, ValueError):
            return
        versions = packument.get("versions") if isinstance(packument, dict) else None
        if not isinstance(versions, dict):
            return
        releases = [
            (key, number)
            for number, manifest in versions.items()
            if (key := _version_key(number)) is not None
            and key[3] == 1
            and not (isinstance(manifest, dict) and manifest.get("deprecated"))
        ]
        if any(number == version for _, number in releases):
            raise PublishError(
                f"You cannot publish over the previously published versions: {version}.",
                code="EPUBLISHCONFLICT",
            )
        new_key = _version_key(version)
        if default_tag and releases and new_key is not None:
            highest_key, highest = max(releases)
            if highest_key >= new_key:
                raise PublishError(
                    'Cannot implicitly apply the "latest" tag because previously published '
                    f"version {highest} is higher than the new version {version}. "
                    "You must specify a tag using --tag.",
                    code="EUSAGE",
                )

    def is_public(self, name: str) -> bool:
        """``GET /-/package/<name>/visibility``; a 404 means private (libnpmpublish)."""
        response = self._send(
            "GET", f"-/package/{escaped_name(name)}/visibility", headers=self._headers()
        )
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._failure(response, "GET")
        try:
            return response.json().get("public") is True
        except (ValueError, AttributeError):
            return False

    def publish(self, name: str, body: Mapping[str, Any]) -> httpx.Response:
        """``PUT <registry>/<escaped name>`` with the document; any 2xx is success."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = self._send(
            "PUT",
            escaped_name(name),
            content=content,
            headers=self._headers({"content-type": "application/json"}),
        )
        if not 200 <= response.status_code < 300:
            raise self._failure(response, "PUT")
        return response
