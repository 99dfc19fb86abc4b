"""`assay mirror`: operate the running instance's upstream mirror (docs/mirror.md).

    assay mirror prefetch [--registry URL] [--concurrency N] [--all-versions] LOCKFILE | NAME[@V]…
    assay mirror status   [--registry URL] [--token-file FILE] [--json]
    assay mirror report   [--registry URL] [--token-file FILE] [--json]
    assay mirror evict    [--registry URL] [--token-file FILE] NAME[@VERSION]

Every command talks to the running instance over HTTP (``--registry``, default the instance's
origin from the settings), not to its data directory: the instance holds what the tables do
not — packuments in memory, which an eviction must drop, and the uplinks' health.

``prefetch`` is an npm client: it reads each packument, tarball and attestations response
through the mirror's public routes, which is what makes the mirror fetch, verify and store
them — the mirror checks each tarball's package.json against its manifest as it stores it —
and checks what it got (each tarball against ``dist.integrity`` and the lockfile's
``integrity``). It warms the cache of a mirror that will lose its uplink (an air-gapped site).
``status``, ``report`` and ``evict`` use the operator routes (``/-/mirror/…``,
:mod:`assay.mirror.app`) with the administrator's token, read from ``<data>/admin.token``
(``--token-file``) — never taken as an argument, where shell history would keep it.

Exit status: 0; 1 when a prefetched version failed or is held back, or nothing was cached to
evict; 2 for usage errors and an instance that cannot be reached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import quote

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assay.errors import ConfigError
from assay.npm.names import escaped_name
from assay.npm.versions import is_version, looks_like_range
from assay.settings import load_settings

EXIT_FAILED = 1
MIRROR_HEADER = "x-assay-mirror"

Outcome = Literal["cached", "held", "failed", "local"]


@dataclass(frozen=True, slots=True)
class Wanted:
    """One version to prefetch: ``version`` exact, or ``tag`` (a dist-tag) to resolve."""

    name: str
    version: str | None = None
    tag: str | None = None
    integrity: str | None = None
    """The lockfile's ``integrity``, which the tarball served must match as well."""


@dataclass(frozen=True, slots=True)
class Done:
    name: str
    version: str
    outcome: Outcome
    detail: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


# --- inputs ------------------------------------------------------------------------------------


def lockfile_wanted(lock: Mapping[str, Any]) -> list[Wanted]:
    """The registry versions of a ``package-lock.json`` (v2/v3 ``packages``, v1
    ``dependencies``): links, bundled dependencies and git/file/remote sources are skipped."""
    found: dict[tuple[str, str], Wanted] = {}

    def add(name: object, version: object, resolved: object, integrity: object) -> None:
        if not isinstance(name, str) or not isinstance(version, str) or not is_version(version):
            return
        if isinstance(resolved, str) and not resolved.startswith(("http://", "https://")):
            return  # git+ssh:, file:, a local directory
        found.setdefault(
            (name, version),
            Wanted(name, version, integrity=integrity if isinstance(integrity, str) else None),
        )

    packages = lock.get("packages")
    if isinstance(packages, Mapping):
        for path, entry in packages.items():
            if not path or not isinstance(entry, Mapping) or "node_modules/" not in path:
                continue
            if entry.get("link") or entry.get("inBundle"):
                continue
            name = entry.get("name") or path.rsplit("node_modules/", 1)[1]
            add(name, entry.get("version"), entry.get("resolved"), entry.get("integrity"))
        return list(found.values())

    def walk(dependencies: object) -> None:
        for name, entry in dependencies.items() if isinstance(dependencies, Mapping) else ():
            if isinstance(entry, Mapping) and not entry.get("bundled"):
                add(name, entry.get("version"), entry.get("resolved"), entry.get("integrity"))
                walk(entry.get("dependencies"))

    walk(lock.get("dependencies"))
    return list(found.values())


def spec_wanted(spec: str) -> Wanted:
    """``name``, ``name@1.2.3`` or ``name@<dist-tag>``; a range is refused (use a lockfile)."""
    at = spec.rfind("@")
    name, rest = (spec[:at], spec[at + 1 :]) if at > 0 else (spec, "latest")
    parts = name.removeprefix("@").split("/")
    if not rest or len(parts) != (2 if name.startswith("@") else 1) or not all(parts):
        raise click.BadParameter(f"{spec!r} is not NAME or NAME@VERSION", param_hint="NAMES")
    if is_version(rest):
        return Wanted(name, version=rest)
    if looks_like_range(rest):
        raise click.BadParameter(
            f"{spec!r}: give an exact version or a dist-tag (a lockfile pins ranges)",
            param_hint="NAMES",
        )
    return Wanted(name, tag=rest)


# --- prefetch ----------------------------------------------------------------------------------


def _integrity_ok(integrity: str, data: bytes) -> bool:
    """Whether the sha512 of an SRI string names ``data`` (sha1-only SRIs do not count)."""
    digest = hashlib.sha512(data).digest()
    for item in integrity.split():
        algorithm, _, value = item.partition("-")
        if algorithm == "sha512":
            try:
                return hmac.compare_digest(base64.b64decode(value, validate=True), digest)
            except ValueError:
                return False
    return False


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("error") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {message or response.text[:200]}"


class Prefetcher:
    """Reads versions through the mirror as npm would, one packument per name."""

    def __init__(self, client: httpx.Client, registry: str, *, all_versions: bool) -> None:
        self.client = client
        self.registry = registry.rstrip("/") + "/"
        self.all_versions = all_versions

    def package(self, name: str, wanted: list[Wanted]) -> list[Done]:
        try:
            response = self.client.get(
                self.registry + escaped_name(name), headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            return [Done(name, w.version or "", "failed", f"packument: {exc}") for w in wanted]
        if response.status_code != 200:
            detail = f"packument: {_error(response)}"
            return [Done(name, w.version or "", "failed", detail) for w in wanted]
        if MIRROR_HEADER not in response.headers:
            return [Done(name, w.version or "", "local", "published here") for w in wanted]
        packument = response.json()
        versions: dict[str, Any] = packument.get("versions") or {}
        tags: dict[str, str] = packument.get("dist-tags") or {}
        if self.all_versions:
            wanted = [Wanted(name, v) for v in versions] + [w for w in wanted if w.integrity]
        done: list[Done] = []
        seen: set[str] = set()
        for item in wanted:
            version = item.version or tags.get(item.tag or "latest")
            if version is None:
                done.append(Done(name, item.tag or "", "failed", f"no dist-tag {item.tag}"))
                continue
            if version in seen and item.integrity is None:
                continue
            seen.add(version)
            done.append(self.version(name, version, versions.get(version), item.integrity))
        return done

    def version(
        self, name: str, version: str, manifest: Mapping[str, Any] | None, integrity: str | None
    ) -> Done:
        if manifest is None:
            # Not listed: the mirror's tarball route says why (403 with the reason), or, for a
            # version whose tarball was not checked yet (verify-manifests = "before-serve"),
            # fetches and checks it now (200: listed from now on).
            bare = name.rsplit("/", 1)[-1]
            url = f"{self.registry}{name}/-/{bare}-{quote(version, safe='')}.tgz"
            try:
                response = self.client.get(url)
            except httpx.HTTPError as exc:
                return Done(name, version, "failed", str(exc))
            if response.status_code == 403:
                return Done(name, version, "held", _error(response).split(": ", 1)[-1])
            if response.status_code == 200 and (
                integrity is None or _integrity_ok(integrity, response.content)
            ):
                return Done(name, version, "cached", "tarball (checked now)")
            if response.status_code == 200:
                detail = "tarball does not match the lockfile's integrity"
                return Done(name, version, "failed", detail)
            return Done(name, version, "failed", f"not served by the mirror ({_error(response)})")
        dist = manifest.get("dist") or {}
        try:
            tarball = self.client.get(dist["tarball"])
        except (httpx.HTTPError, KeyError, TypeError) as exc:
            return Done(name, version, "failed", f"tarball: {exc}")
        if tarball.status_code == 403:
            return Done(name, version, "held", _error(tarball).split(": ", 1)[-1])
        if tarball.status_code != 200:
            return Done(name, version, "failed", f"tarball: {_error(tarball)}")
        if not _integrity_ok(str(dist.get("integrity", "")), tarball.content):
            return Done(name, version, "failed", "tarball does not match dist.integrity")
        if integrity is not None and not _integrity_ok(integrity, tarball.content):
            return Done(name, version, "failed", "tarball does not match the lockfile's integrity")
        attestations = dist.get("attestations")
        if isinstance(attestations, Mapping) and isinstance(attestations.get("url"), str):
            try:
                answer = self.client.get(attestations["url"])
            except httpx.HTTPError as exc:
                return Done(name, version, "failed", f"attestations: {exc}")
            if answer.status_code != 200:
                return Done(name, version, "failed", f"attestations: {_error(answer)}")
            return Done(name, version, "cached", "tarball and attestations")
        return Done(name, version, "cached", "tarball")


def _grouped(wanted: Iterable[Wanted]) -> dict[str, list[Wanted]]:
    groups: dict[str, list[Wanted]] = {}
    for item in wanted:
        groups.setdefault(item.name, []).append(item)
    return groups


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("prefetching packages"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
    )  # fmt: skip
    with progress:
        yield progress


# --- the commands ------------------------------------------------------------------------------


_REGISTRY = click.option(
    "--registry",
    default=None,
    help="the instance's URL (default: the origin the settings give, ASSAY_ORIGIN)",
)
_TOKEN_FILE = click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="a file holding the administrator's token (default: <data>/admin.token)",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


def _registry(value: str | None) -> str:
    return (value or load_settings().origin).rstrip("/")


def _token(path: Path | None) -> str:
    path = path if path is not None else load_settings().data_dir / "admin.token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the administrator's token from {path}: {exc}") from None
    if not token:
        raise ConfigError(f"{path} is empty")
    return token


def _admin(registry: str | None, token_file: Path | None, method: str, path: str) -> Any:
    url = _registry(registry) + "/-/mirror/" + path
    headers = {"Authorization": f"Bearer {_token(token_file)}", "Accept": "application/json"}
    try:
        response = httpx.request(method, url, headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach {url}: {exc}") from None
    if response.status_code == 404 and "nothing cached" not in response.text:
        # The registry's own 404: the routes exist only where uplinks are configured.
        raise ConfigError(f"{url}: not found; is a mirror configured on this instance?")
    if response.status_code != 200:
        return response
    return response.json()


@click.group("mirror")
def mirror_command() -> None:
    """Operate the upstream mirror of the running instance (docs/mirror.md)."""


@mirror_command.command("prefetch")
@click.argument("sources", nargs=-1, required=True, metavar="LOCKFILE | NAME[@VERSION]...")
@_REGISTRY
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--all-versions", is_flag=True, help="every version the mirror serves, per name")
@_TOKEN_FILE
@click.pass_context
def prefetch_command(
    ctx: click.Context,
    *,
    sources: tuple[str, ...],
    registry: str | None,
    concurrency: int,
    all_versions: bool,
    token_file: Path | None,
) -> None:
    """Warm the mirror's cache: fetch, verify and store packuments, tarballs and attestations
    of a package-lock.json's packages, or of the NAMES given (latest, a version or a tag)."""
    wanted: list[Wanted] = []
    for source in sources:
        path = Path(source)
        if source.endswith(".json") and path.is_file():
            try:
                wanted += lockfile_wanted(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read the lockfile {path}: {exc}") from None
        else:
            wanted.append(spec_wanted(source))
    base = _registry(registry)
    headers = {"User-Agent": "assay-mirror-prefetch"}
    if token_file is not None:  # a registry that requires a login for reads
        headers["Authorization"] = f"Bearer {_token(token_file)}"
    groups = _grouped(wanted)
    total = len(groups)
    tty = sys.stderr.isatty()
    started = time.monotonic()
    results: list[Done] = []
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(headers=headers, timeout=300, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
        _progress(total, tty) as progress,
    ):
        task = progress.add_task("", total=total) if progress is not None else None
        fetcher = Prefetcher(client, base, all_versions=all_versions)
        futures = [pool.submit(fetcher.package, name, items) for name, items in groups.items()]
        for future in as_completed(futures):
            done = future.result()
            with lock:
                results += done
            for item in done:
                line = f"{item.outcome:7} {item.label}  {item.detail}"
                if progress is not None and task is not None:
                    if item.outcome in ("held", "failed"):
                        progress.console.print(line, markup=False, highlight=False)
                    progress.update(task, description=item.label)
                else:
                    click.echo(line)
            if progress is not None and task is not None:
                progress.advance(task, 1)
    counts = {k: sum(1 for r in results if r.outcome == k) for k in ("cached", "held", "failed")}
    local = sum(1 for r in results if r.outcome == "local")
    names = len({r.name for r in results})
    click.echo(
        f"prefetched {len(results)} versions of {names} packages from {base} in "
        f"{time.monotonic() - started:.1f}s: {counts['cached']} verified and cached, "
        f"{counts['held']} held back, {counts['failed']} failed"
        + (f", {local} published here (not mirrored)" if local else "")
    )
    if counts["held"] or counts["failed"]:
        click.echo("held back or failed: npm install of these will fail (assay mirror report)")
        ctx.exit(EXIT_FAILED)


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _fail(response: httpx.Response) -> NoReturn:
    raise ConfigError(f"the instance answered {_error(response)}")


@mirror_command.command("status")
@_REGISTRY
@_TOKEN_FILE
@_JSON
def status_command(registry: str | None, token_file: Path | None, as_json: bool) -> None:
    """The uplinks (reachable now? how fresh is the cache?), cache counts, held-back count."""
    status = _admin(registry, token_file, "GET", "status")
    if isinstance(status, httpx.Response):
        _fail(status)
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    for uplink in status["uplinks"]:
        state = "reachable" if uplink["reachable"] else "UNREACHABLE"
        click.echo(f"uplink {uplink['name']}  {uplink['url']}  {state} ({uplink['ping']})")
        click.echo(
            f"  {uplink['packages']} packages cached, {uplink['fresh']} within ttl "
            f"{uplink['ttl']:g}s; fetched between {_when(uplink['oldest_fetch_ms'])} and "
            f"{_when(uplink['newest_fetch_ms'])}"
        )
        health = uplink["health"]
        click.echo(f"  last answer {_when(health['last_ok_ms'])}", nl=False)
        if health["last_failure_ms"] is not None:
            click.echo(f"; last failure {_when(health['last_failure_ms'])}: {health['last_error']}")
        else:
            click.echo("; no failure since start")
    cache = status["cache"]
    verdicts = ", ".join(
        f"{cache[k]} {k}" for k in sorted(cache) if k not in _CACHE_KEYS and cache[k]
    )
    click.echo(
        f"cache: {cache['packages']} packages ({_size(cache['packument_chars'])} of packuments), "
        f"versions {verdicts or 'none'}; {cache['tarballs']} tarballs "
        f"({_size(cache['tarball_bytes'])}); {status['in_memory']} packages in memory"
        f" ({_size(status.get('in_memory_bytes', 0))})"
    )
    click.echo(f"held back: {status['held']} versions (assay mirror report)")


_CACHE_KEYS = frozenset({"packages", "tarballs", "tarball_bytes", "packument_chars"})


@mirror_command.command("report")
@_REGISTRY
@_TOKEN_FILE
@_JSON
def report_command(registry: str | None, token_file: Path | None, as_json: bool) -> None:
    """What the mirror holds back, and why, per package and version."""
    report = _admin(registry, token_file, "GET", "held")
    if isinstance(report, httpx.Response):
        _fail(report)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    held = report["held"]
    if not held:
        click.echo("nothing is held back")
        return
    width = max(len(f"{h['name']}@{h['version']}") for h in held)
    for item in held:
        label = f"{item['name']}@{item['version']}"
        click.echo(f"{label:{width}}  {item['kind']:12}  {item['reason']}")
    packages = len({h["name"] for h in held})
    click.echo(f"{len(held)} versions of {packages} packages held back")


@mirror_command.command("evict")
@click.argument("spec", metavar="NAME[@VERSION]")
@_REGISTRY
@_TOKEN_FILE
@click.pass_context
def evict_command(
    ctx: click.Context, spec: str, registry: str | None, token_file: Path | None
) -> None:
    """Drop a cached package (or one version): its packument, verdicts and tarball are
    fetched and verified again at the next request."""
    answer = _admin(registry, token_file, "DELETE", "packages/" + quote(spec, safe="@"))
    if isinstance(answer, httpx.Response):
        if answer.status_code == 404:
            click.echo(_error(answer).split(": ", 1)[-1], err=True)
            ctx.exit(EXIT_FAILED)
        _fail(answer)
    click.echo(
        f"evicted {answer['evicted']} ({answer['rows']} rows): fetched and verified again "
        "at the next request"
    )
