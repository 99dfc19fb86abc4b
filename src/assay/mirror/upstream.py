"""Requests to an uplink: packuments (conditional), tarballs, attestations, keys, trusted root.

Every answer is read completely, and bounded, before anyone looks at it: a response cut short
is an :class:`UpstreamError`, never a partial document or tarball. Connection failures, timeouts
and 5xx answers are :class:`UpstreamError` too — the mirror then serves what it has cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from assay.errors import AssayError
from assay.mirror.config import Uplink
from assay.npm.names import escaped_name

__all__ = ["Fetched", "UpstreamClient", "UpstreamError"]

MAX_PACKUMENT_BYTES = 128 * 1024 * 1024
"""registry.npmjs.org's largest packuments are a few tens of MiB."""
MAX_ATTESTATIONS_BYTES = 4 * 1024 * 1024


class UpstreamError(AssayError):
    """The uplink could not be reached or answered with an error (not a 404)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """One complete answer: ``status`` 200, 304 or 404, and the body of a 200."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


class UpstreamClient:
    """One keep-alive HTTP client per uplink; safe to share between threads (httpx.Client)."""

    def __init__(self, uplink: Uplink, *, max_tarball_bytes: int) -> None:
        self.uplink = uplink
        self.max_tarball_bytes = max_tarball_bytes
        timeout = httpx.Timeout(uplink.timeout, connect=uplink.connect_timeout)
        self._client = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            headers={"User-Agent": "assay-mirror"},
            follow_redirects=True,
        )
        self._origin = _origin(uplink.url)

    def close(self) -> None:
        self._client.close()

    def packument_url(self, name: str) -> str:
        return self.uplink.url + escaped_name(name)

    def packument(self, name: str, etag: str | None, last_modified: str | None) -> Fetched:
        """``GET <uplink><escaped name>``, the full document (pacote asks for it too when it
        verifies signatures: the abbreviated one has no ``time``), conditional on what is
        cached (RFC 9110 §13.1.1–2)."""
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self._get(self.packument_url(name), headers, MAX_PACKUMENT_BYTES)

    def tarball(self, url: str) -> Fetched:
        return self._get(url, {"Accept": "application/octet-stream"}, self.max_tarball_bytes)

    def document(self, url: str, limit: int = MAX_ATTESTATIONS_BYTES) -> Fetched:
        """An attestations response, keys or a trusted root."""
        return self._get(url, {"Accept": "application/json"}, limit)

    def ping(self) -> int:
        """``GET <uplink>-/ping`` (npm's ``npm ping``): the HTTP status of any answer, for
        `assay mirror status`; UpstreamError when nothing answered."""
        url = self.uplink.url + "-/ping"
        headers = {"Accept": "application/json"}
        if self.uplink.token:
            headers["Authorization"] = f"Bearer {self.uplink.token}"
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                return response.status_code  # the body is never read
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"{self.uplink.name}: GET {url} failed: {exc}", uplink=self.uplink.name, url=url
            ) from exc

    def _get(self, url: str, headers: dict[str, str], limit: int) -> Fetched:
        # The token goes only to the uplink's own origin, never to a host a packument names.
        if self.uplink.token and _origin(url) == self._origin:
            headers["Authorization"] = f"Bearer {self.uplink.token}"
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in {304, 404}:
                    return Fetched(status)
                if status != 200:
                    raise UpstreamError(
                        f"{self.uplink.name}: GET {url} answered HTTP {status}",
                        uplink=self.uplink.name, url=url, status=status,
                    )  # fmt: skip
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise UpstreamError(
                        f"{self.uplink.name}: {url} is larger than {limit} bytes", url=url
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise UpstreamError(
                            f"{self.uplink.name}: {url} is larger than {limit} bytes", url=url
                        )
                    chunks.append(chunk)
                return Fetched(
                    200,
                    b"".join(chunks),
                    response.headers.get("etag"),
                    response.headers.get("last-modified"),
                )
        except httpx.HTTPError as exc:
            # Includes a body cut short (RemoteProtocolError): nothing partial leaves here.
            raise UpstreamError(
                f"{self.uplink.name}: GET {url} failed: {exc}", uplink=self.uplink.name, url=url
            ) from exc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
