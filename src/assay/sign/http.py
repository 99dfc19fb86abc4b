"""HTTP as the signing client speaks it to the CA, the log and an OIDC token endpoint.

One attempt per request with a generous timeout (:data:`DEFAULT_TIMEOUT`); a failure to reach a
service becomes a :class:`~assay.sign.errors.SigningError` naming it, and :func:`reason` pulls the
service's own message out of an error body (Fulcio, Rekor and npm each spell it differently).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import httpx

from assay import __version__
from assay.sign.errors import SigningError

__all__ = ["DEFAULT_TIMEOUT", "http_session", "json_object", "reason", "request"]

# @sigstore/sign's default per-request timeout is 5 s with retries; we make one attempt with a
# longer budget, so a slow log answers instead of being asked twice.
DEFAULT_TIMEOUT: Final = 30.0
_USER_AGENT: Final = f"assay/{__version__}"


class http_session:
    """Use the caller's client, or a fresh one closed on exit."""

    def __init__(self, client: httpx.Client | None) -> None:
        self._given = client
        self._own: httpx.Client | None = None

    def __enter__(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        self._own = httpx.Client(timeout=DEFAULT_TIMEOUT, headers={"User-Agent": _USER_AGENT})
        return self._own

    def __exit__(self, *_: object) -> None:
        if self._own is not None:
            self._own.close()


def reason(response: httpx.Response) -> str:
    """The message of a Fulcio/Rekor/npm error body, or the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return json.dumps(body)[:300]


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    json_body: object = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    try:
        if content is not None:
            return client.request(method, url, content=content, headers=headers)
        return client.request(method, url, json=json_body, headers=headers)
    except httpx.TimeoutException as exc:
        raise SigningError(f"{what} at {url} did not answer in time", url=url) from exc
    except httpx.HTTPError as exc:
        raise SigningError(f"cannot reach {what} at {url}: {exc}", url=url) from exc


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SigningError(f"{what} answered with something that is not JSON") from exc
    if not isinstance(body, dict):
        raise SigningError(f"{what} answered with JSON that is not an object")
    return body
