"""Fetching what an audit needs: packuments, attestations, registry keys, trusted roots.

The requests are npm's (npm-registry.md §4.2), made concurrently over keep-alive connections:

* packument: ``GET <registry><escaped name>`` with ``Accept: application/json`` (the full
  packument: pacote asks for it whenever ``verifySignatures`` is on, since the corgi lacks
  ``time``); ``@scope/name`` is escaped ``@scope%2fname`` (npm-package-arg ``escapedName``);
* attestations, keys and trusted root: the URLs :mod:`assay.verify.package` names (the
  attestations at the *path* of ``dist.attestations.url`` on the configured registry; the keys
  and root by the one default-trust rule shared with ``assay verify``).

Each registry gets the ``Authorization`` header ``.npmrc`` configures for it
(:meth:`assay.npmrc.NpmConfig.credentials_for`). Connection errors and 5xx answers are retried
with exponential backoff (npm's ``fetch-retries`` default is 2). Every answer can be saved to a
:class:`ResponseCache` directory (``--save-cache``) and an audit can run from one with no
network at all (``--offline --cache``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import json
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assay.errors import AssayError, ConfigError
from assay.npm.names import escaped_name
from assay.npmrc import NpmConfig

__all__ = [
    "FetchError",
    "Fetcher",
    "Response",
    "ResponseCache",
    "packument_url",
]

DEFAULT_CONCURRENCY = 8

# httpcore 1.x asks sniffio which event loop it runs on each time it makes a lock
# (httpcore/_synchronization.py current_async_library: `import sniffio` inside the function).
# Without sniffio installed, every request paid for a failed import — a full sys.path search,
# about a third of an audit's CPU. Recording the absence once makes that import fail at once;
# httpcore then assumes asyncio, which is what we run.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


class FetchError(AssayError):
    """A request that failed for good (after retries), or a response missing offline."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes

    def json(self, what: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise FetchError(f"{what} is not JSON") from None


def packument_url(registry: str, name: str) -> str:
    return registry.rstrip("/") + "/" + escaped_name(name)


class ResponseCache:
    """A directory of saved responses, one JSON file per URL (``<sha256(url)>.json`` holding
    ``{"url", "status", "body"}``, the body as text or ``"body_base64"``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode()).hexdigest() + ".json")

    def get(self, url: str) -> Response | None:
        path = self._path(url)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"unreadable cache entry {path}: {exc}") from None
        if not isinstance(saved, dict) or saved.get("url") != url:
            raise ConfigError(f"cache entry {path} is not the response for {url}")
        if "body_base64" in saved:
            body = base64.b64decode(saved["body_base64"])
        else:
            body = str(saved.get("body", "")).encode()
        return Response(int(saved["status"]), body)

    def put(self, url: str, response: Response) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {"url": url, "status": response.status}
        try:
            entry["body"] = response.body.decode("utf-8")
        except UnicodeDecodeError:
            entry["body_base64"] = base64.b64encode(response.body).decode()
        path = self._path(url)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entry), encoding="utf-8")
        temporary.replace(path)


class Fetcher:
    """Concurrent, memoised GETs against the registries an npm configuration names.

    Use as ``async with Fetcher(...) as fetcher``. At most ``concurrency`` requests are in flight
    (and as many pooled keep-alive connections). Each distinct URL is fetched once per audit.
    """

    def __init__(
        self,
        config: NpmConfig,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        offline: bool = False,
        cache: ResponseCache | None = None,
        save: ResponseCache | None = None,
        retries: int = 2,
        timeout: float = 30.0,
        backoff: float = 0.1,
    ) -> None:
        if concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if offline and cache is None:
            raise ConfigError("--offline needs --cache DIR (responses saved with --save-cache)")
        self.config = config
        self.offline = offline
        self.cache = cache
        self.save = save
        self.retries = retries
        self.backoff = backoff
        self.requests = 0
        self._clients: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self._all_clients: list[httpx.AsyncClient] = []
        self._concurrency = concurrency
        self._timeout = timeout
        self._memo: dict[str, asyncio.Task[Response]] = {}

    async def __aenter__(self) -> Fetcher:
        if not self.offline:
            # One small client per request in flight, lent out through a queue (which also
            # bounds concurrency). httpcore scans every pooled connection on each request
            # (has_expired → a socket readability check): one shared pool of N connections
            # costs O(N) per request, which is why a single AsyncClient got slower past ~16
            # connections. A client serving one request at a time keeps that scan short.
            limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
            tls = httpx.create_ssl_context()  # once: loading the CA bundle takes ~17 ms
            for _ in range(self._concurrency):
                client = httpx.AsyncClient(
                    limits=limits, timeout=self._timeout, follow_redirects=True, verify=tls
                )
                self._all_clients.append(client)
                self._clients.put_nowait(client)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        clients, self._all_clients = self._all_clients, []
        for client in clients:
            await client.aclose()

    def get(self, url: str, registry: str) -> Awaitable[Response]:
        """The response for ``url`` (with ``registry``'s credentials), fetched at most once."""
        task = self._memo.get(url)
        if task is None:
            task = asyncio.ensure_future(self._get(url, registry))
            self._memo[url] = task
        return task

    async def _get(self, url: str, registry: str) -> Response:
        if self.offline and self.cache is not None:
            saved = self.cache.get(url)
            if saved is None:
                raise FetchError(f"{url} is not in the response cache (--offline)", url=url)
            return saved
        response = await self._network(url, registry)
        if self.save is not None:
            self.save.put(url, response)
        return response

    async def _network(self, url: str, registry: str) -> Response:
        if not self._all_clients:
            raise RuntimeError("Fetcher used outside `async with`")
        headers = {"accept": "application/json", "npm-command": "audit"}
        authorization = self.config.credentials_for(registry).authorization
        if authorization is not None:
            headers["authorization"] = authorization
        attempt = 0
        while True:
            client = await self._clients.get()
            self.requests += 1
            try:
                answer = await client.get(url, headers=headers)
                response = Response(answer.status_code, answer.content)
                failure: str | None = None
                if answer.status_code >= 500:
                    failure = f"HTTP {answer.status_code}"
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            finally:
                self._clients.put_nowait(client)
            if failure is None:
                return response
            if attempt >= self.retries:
                # npm-registry-fetch gives up after fetch-retries and reports the last error.
                if failure.startswith("HTTP "):
                    return response
                raise FetchError(f"GET {url} failed: {failure}", url=url)
            await asyncio.sleep(self.backoff * 2**attempt)
            attempt += 1


def status_error(url: str, response: Response) -> FetchError:
    return FetchError(f"GET {url} answered HTTP {response.status}", url=url, status=response.status)


def as_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise FetchError(f"{what} is not a JSON object")
    return value
